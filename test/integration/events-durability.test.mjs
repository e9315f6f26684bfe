// Accepted means durable (issue 24), with the real processes: `wrangler dev` on a local D1 whose SQLite file is held
// under an exclusive lock (D1 fails as in an outage) while purchases are posted — each answered 202 only once the
// durable events buffer (a Durable Object with SQLite storage) holds it — then the wrangler dev process is killed
// (SIGKILL, the whole process group) while the events are buffered and D1 is still locked, restarted on the same
// persist dir (events posted to the fresh process while D1 is locked are refused with 503: it cannot resolve their
// store, and refuses rather than pretends), and the lock released: every event answered 202 must be in D1 exactly
// once — by the buffer's alarm, which survived the kill — and resending the events with eventIds must change
// nothing. Prints the counts and the release-to-visible delay.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { openD1File } from "./d1-file.mjs";
import { makeTempDir, prepareDb, startEdge, stopAll } from "./harness.mjs";

const STORE = "online-retail";
const ITEMS = ["85123A", "22423", "85099B", "47566", "20725"];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function post(edge, events) {
  try {
    const res = await fetch(`${edge.url}/v1/events`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ events }),
      signal: AbortSignal.timeout(30_000),
    });
    return { status: res.status, body: await res.json().catch(() => null) };
  } catch (err) {
    return { status: 0, body: String(err) };
  }
}

describe("events durability: D1 locked, wrangler dev killed and restarted", { timeout: 900_000 }, () => {
  let file;
  after(() => {
    file?.close();
    stopAll();
  });

  it("every event answered 202 is in D1 exactly once", async () => {
    const noCatalog = path.join(makeTempDir("vitrine-sql-"), "none.sql");
    writeFileSync(noCatalog, "SELECT 1;\n"); // the events need the stores (migrations), not the catalogue
    const persistTo = await prepareDb({ catalog: noCatalog, seed: null });
    let edge = await startEdge({ persistTo });
    file = openD1File(persistTo);
    const tag = String(Date.now());
    const user = `it-durable-${tag}`;
    const purchase = (i, withId) => ({
      type: "purchase",
      store: STORE,
      user,
      productId: ITEMS[i % ITEMS.length],
      ...(withId ? { eventId: `${tag}-${i}` } : {}),
    });

    // warm: this isolate knows the stores; a normal write goes straight to D1
    const warm = await post(edge, [purchase(0, true)]);
    assert.equal(warm.status, 202);
    assert.equal(warm.body.buffered, 0);
    const sent = [{ event: purchase(0, true), ...warm }];

    await file.lock();
    for (let i = 1; i <= 12; i++) {
      const event = purchase(i, i % 2 === 0); // half with an eventId, half without
      sent.push({ event, ...(await post(edge, [event])) });
    }
    const whileLocked = sent.slice(1);
    assert.deepEqual(
      whileLocked.filter((s) => s.status !== 202 && s.status !== 503),
      [],
      "only 202 or 503 while D1 is locked",
    );
    const buffered = whileLocked.filter((s) => s.status === 202 && s.body.buffered === 1).length;
    assert.ok(buffered > 0, "the purchases posted while D1 was locked were held by the durable buffer");

    edge.kill("SIGKILL");
    await new Promise((r) =>
      edge.proc.exitCode !== null || edge.proc.signalCode !== null ? r() : edge.proc.once("exit", r),
    );
    edge = await startEdge({ persistTo });
    // the fresh process while D1 is still locked: accepted (buffered) or refused, never pretended
    for (let i = 13; i <= 15; i++) {
      const event = purchase(i, true);
      sent.push({ event, ...(await post(edge, [event])) });
    }
    assert.deepEqual(
      sent.slice(13).filter((s) => s.status !== 202 && s.status !== 503),
      [],
      "only 202 or 503 after the restart",
    );

    const releasedAt = Date.now();
    await file.unlock();
    const accepted = sent.filter((s) => s.status === 202);
    const inD1 = async () =>
      (
        await file.query("SELECT coalesce(sum(n), 0) FROM recs_history WHERE store = ? AND user_id = ?", [STORE, user])
      )[0][0];
    let visibleAfterMs = null;
    for (const deadline = Date.now() + 120_000; Date.now() < deadline; await sleep(100)) {
      if ((await inD1()) >= accepted.length) {
        visibleAfterMs = Date.now() - releasedAt;
        break;
      }
    }
    await sleep(2_000); // nothing more may arrive (a double count would show here)
    const count = await inD1();
    const ids = await file.query("SELECT count(*) FROM event_ids WHERE store = ? AND event_id LIKE ?", [
      STORE,
      `${tag}-%`,
    ]);
    const acceptedWithId = accepted.filter((s) => s.event.eventId).length;
    console.log(
      `events durability: posted ${sent.length}, answered 202 ${accepted.length} (buffered while D1 locked ${buffered}, ` +
        `503 ${sent.filter((s) => s.status === 503).length}), wrangler dev killed with the events buffered and ` +
        `restarted; in D1 after the lock was released: ${count} purchases, ${ids[0][0]} event ids ` +
        `(release → all visible ${visibleAfterMs} ms)`,
    );
    assert.equal(count, accepted.length, "every event answered 202 is in D1, exactly once");
    assert.equal(ids[0][0], acceptedWithId);

    // clients resending the events that carry an eventId (e.g. after a 503 or a timeout) never count twice
    const again = await post(
      edge,
      sent.filter((s) => s.event.eventId && s.status === 202).map((s) => s.event),
    );
    assert.equal(again.status, 202);
    assert.equal(await inD1(), accepted.length);
  });
});
