/**
 * Rows read per request (issue 23): a wrapper around the request's D1 session that adds up `meta.rows_read` of every
 * statement it runs (D1 reports it per statement, workerd's local D1 too), so a request's reads can be shown — and
 * tested — to be bounded by the request, not by the store's catalogue. It sits at our own access layer
 * (edge/db/guarded.ts opens every request session through it) and changes no result: `first()` and `raw()` run as
 * `all()` so their meta is seen, `raw()` mapping each row to its values in column order (what drizzle's own batch
 * path does with D1 rows); `raw({ columnNames: true })` is passed through uncounted.
 */

export interface RowCounter {
  /** rows read so far */
  rowsRead: number;
}

type Meta = { meta?: { rows_read?: number } };

class CountingStatement {
  constructor(
    readonly inner: D1PreparedStatement,
    private readonly counter: RowCounter,
  ) {}

  private note<T extends Meta>(r: T): T {
    this.counter.rowsRead += r.meta?.rows_read ?? 0;
    return r;
  }

  bind(...values: unknown[]): CountingStatement {
    return new CountingStatement(this.inner.bind(...values), this.counter);
  }

  async all<T = Record<string, unknown>>(): Promise<D1Result<T>> {
    return this.note(await this.inner.all<T>());
  }

  async run<T = Record<string, unknown>>(): Promise<D1Result<T>> {
    return this.note(await this.inner.run<T>());
  }

  async first<T = Record<string, unknown>>(column?: string): Promise<T | null> {
    const { results } = await this.all<Record<string, unknown>>();
    const row = results[0];
    if (row === undefined) return null;
    return (column === undefined ? row : row[column]) as T;
  }

  async raw<T = unknown[]>(options?: { columnNames?: boolean }): Promise<T[]> {
    if (options?.columnNames) return (await this.inner.raw<T>({ columnNames: true })) as T[];
    const { results } = await this.all<Record<string, unknown>>();
    return results.map((row) => Object.values(row) as T);
  }
}

const unwrap = (s: D1PreparedStatement | CountingStatement): D1PreparedStatement =>
  s instanceof CountingStatement ? s.inner : s;

/** `session` with every statement's rows read added to `counter` (statements, batches). */
export function countingSession<S extends D1DatabaseSession | D1Database>(session: S, counter: RowCounter): S {
  const wrapped = {
    prepare: (query: string) => new CountingStatement(session.prepare(query), counter),
    batch: async <T = unknown>(statements: (D1PreparedStatement | CountingStatement)[]): Promise<D1Result<T>[]> => {
      const results = await session.batch<T>(statements.map(unwrap));
      for (const r of results) counter.rowsRead += r.meta?.rows_read ?? 0;
      return results;
    },
  };
  // the session's other members (getBookmark, exec, withSession, …) are its own
  return new Proxy(session, {
    get: (target, prop, receiver) =>
      prop in wrapped ? wrapped[prop as keyof typeof wrapped] : Reflect.get(target, prop, receiver),
  });
}
