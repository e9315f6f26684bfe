/**
 * Single flight (request collapsing within an isolate, as nginx's proxy_cache_lock): the first caller for a key runs
 * the work (the leader); callers that arrive while it runs (followers) share its promise instead of running it again.
 * The entry is removed when the work settles (fulfilled or rejected), so a failure is not remembered. The map is
 * bounded: with `maxKeys` keys in flight a new key runs on its own, unshared (maxKeys 0 = collapsing off).
 */

export interface Flight<T> {
  promise: Promise<T>;
  /** true: this caller started the work; false: it joined a flight already running */
  leader: boolean;
}

export interface SingleFlightStats {
  /** works started (leaders, shared or not) */
  started: number;
  /** callers that joined a running flight */
  joined: number;
  /** works started unshared because the map was full */
  overflow: number;
  /** keys in flight now */
  inFlight: number;
}

export class SingleFlight<T> {
  readonly #flights = new Map<string, Promise<T>>();
  #started = 0;
  #joined = 0;
  #overflow = 0;

  /** Joins the flight for `key`, or starts `work` as its leader. */
  run(key: string, maxKeys: number, work: () => Promise<T>): Flight<T> {
    const running = this.#flights.get(key);
    if (running) {
      this.#joined += 1;
      return { promise: running, leader: false };
    }
    this.#started += 1;
    if (this.#flights.size >= maxKeys) {
      this.#overflow += 1;
      return { promise: work(), leader: true };
    }
    const promise = work().finally(() => {
      if (this.#flights.get(key) === promise) this.#flights.delete(key);
    });
    this.#flights.set(key, promise);
    return { promise, leader: true };
  }

  /** Whether a flight for `key` is running. */
  has(key: string): boolean {
    return this.#flights.has(key);
  }

  stats(): SingleFlightStats {
    return { started: this.#started, joined: this.#joined, overflow: this.#overflow, inFlight: this.#flights.size };
  }
}
