/**
 * The request path's one way to read D1 (search, rerank, recommend, store resolution, catalogue versions, experiment
 * configs, /healthz): every read runs with its own deadline (D1_DEADLINE_MS) behind a circuit breaker on D1 (the GPU
 * breaker's machinery, edge/gpu/breaker.ts), and any failure — an error of the database, the deadline passing, the
 * breaker refusing — comes out as one typed error, D1Unavailable, which the routes turn into a stale answer, the
 * last-known-good list or a 503 (never a 500). A query error (bad SQL, a constraint) is a bug, not an outage: it is
 * rethrown as it is and does not count against the breaker.
 *
 * Reads go through D1's Sessions API: a request's reads share one session (`withSession("first-unconstrained")`), so
 * with read replication on they are served by the nearest replica and stay sequentially consistent with each other.
 *
 * Whose breaker a read uses is a D1Scope: real traffic shares the isolate's breaker; a failover-drill probe brings
 * its run's own (edge/drills/scope.ts) and its injected fault (`down`: the read fails before reaching D1), so a drill
 * never opens the breaker real traffic uses (the breakers: edge/db/d1-breaker.ts). A test double injects its fault at
 * this layer too (injectD1Fault: an env whose reads all fail, with a breaker of its own), since workerd cannot make
 * the real D1 fail on demand.
 */
import { config } from "../config";
import type { Bindings } from "../env";
import type { BreakerTransition } from "../gpu/breaker";
import { recordEvent } from "../metrics/collector";
import { isolateD1Breaker, onIsolateD1Transition, registeredFault } from "./d1-breaker";
import type { D1FailureKind, D1Scope } from "./d1-scope";
import { countingSession } from "./row-count";

export class D1Unavailable extends Error {
  constructor(
    readonly kind: D1FailureKind,
    detail: string,
  ) {
    super(`D1 unavailable (${kind}): ${detail}`);
    this.name = "D1Unavailable";
  }
}

/** What a read is given: the request's session (drizzle 0.45 types its client as D1Database; a session has what it uses). */
export type D1Reads = D1Database;

export interface ReadOptions {
  /** a bulk load: D1_LOAD_DEADLINE_MS instead of D1_DEADLINE_MS */
  load?: boolean;
}

/** Reads D1 for one request (or one shared load): deadline, breaker, one session. */
export interface D1Reader {
  read<T>(query: (db: D1Reads) => Promise<T>, opts?: ReadOptions): Promise<T>;
  /** rows D1 read for this reader's queries so far (meta.rows_read; edge/db/row-count.ts) */
  rowsRead(): number;
}

// ---- scopes -----------------------------------------------------------------------------------------------------

// the isolate breaker's transitions count as `breaker` events in the metrics rollups, like the GPU ones
onIsolateD1Transition((t: BreakerTransition) => {
  recordEvent("breaker", `${t.breaker} ${t.from}→${t.to}`);
  console.log(JSON.stringify({ event: "d1_breaker_transition", ...t }));
});

/** The scope of real traffic: the isolate's D1 breaker (an injectD1Fault env: its own breaker and fault). */
export function realD1Scope(env: Bindings): D1Scope {
  return registeredFault(env) ?? { breaker: isolateD1Breaker(env) };
}

// ---- reading -----------------------------------------------------------------------------------------------------

/** SQL and constraint errors are the query's fault, not the database's: they never open the breaker. */
const QUERY_ERROR =
  /SQLITE_(ERROR|CONSTRAINT|MISMATCH|RANGE|TOOBIG)|syntax error|no such (table|column|function)|constraint failed/i;

export function isQueryError(err: unknown): boolean {
  return QUERY_ERROR.test(String(err));
}

function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new D1Unavailable("timeout", `no answer within ${ms} ms`)), ms);
  });
  work.catch(() => undefined); // a read that loses the race must not surface as an unhandled rejection
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/**
 * A reader over `db` in `scope`. Each read asks the breaker first (an open breaker fails it at once, without
 * touching D1), then runs within the deadline; the outcome feeds the breaker.
 */
export function d1Reader(env: Bindings, scope: D1Scope = realD1Scope(env)): D1Reader {
  const { deadlineMs, loadDeadlineMs } = config(env).d1;
  let session: D1Reads | undefined;
  const counter = { rowsRead: 0 };
  const open = (): D1Reads =>
    (session ??= countingSession(env.DB.withSession("first-unconstrained"), counter) as unknown as D1Reads);
  const observed = scope.observe;
  const breaker = scope.breaker;
  return {
    rowsRead: () => counter.rowsRead,
    async read<T>(query: (db: D1Reads) => Promise<T>, opts: ReadOptions = {}): Promise<T> {
      if (!breaker.tryAcquire()) {
        observed?.({ type: "read", at: Date.now(), ok: false, ms: 0, kind: "circuit_open" });
        throw new D1Unavailable("circuit_open", `the D1 breaker is open (retry in ${breaker.retryInMs()} ms)`);
      }
      const t0 = Date.now();
      const note = (ok: boolean, kind?: D1FailureKind): void =>
        observed?.({ type: "read", at: Date.now(), ok, ms: Date.now() - t0, ...(kind ? { kind } : {}) });
      try {
        if (scope.fault === "down") throw new D1Unavailable("injected", "injected fault: D1 reads are down");
        const out = await withDeadline(query(open()), opts.load ? loadDeadlineMs : deadlineMs);
        breaker.onSuccess();
        note(true);
        return out;
      } catch (err) {
        if (!(err instanceof D1Unavailable) && isQueryError(err)) {
          breaker.onSuccess(); // D1 answered: the query itself is wrong
          note(true);
          throw err;
        }
        const failure = err instanceof D1Unavailable ? err : new D1Unavailable("error", String(err));
        breaker.onFailure(failure.message);
        note(false, failure.kind);
        throw failure;
      }
    },
  };
}

/** One read of real traffic outside a request's session (the isolate's shared loads: stores, versions, configs). */
export function readD1<T>(env: Bindings, query: (db: D1Reads) => Promise<T>): Promise<T> {
  return d1Reader(env).read(query);
}

/** The cheap probe of /healthz: `select 1` through the guarded path (deadline and breaker). */
export async function probeD1(env: Bindings): Promise<{ ok: boolean; ms: number; error?: string }> {
  const t0 = Date.now();
  try {
    await readD1(env, (db) => db.prepare("SELECT 1 AS one").first());
    return { ok: true, ms: Date.now() - t0 };
  } catch (err) {
    return { ok: false, ms: Date.now() - t0, error: err instanceof Error ? err.message : String(err) };
  }
}
