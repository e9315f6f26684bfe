/** Store trending: the time-decayed invoice count of the version (same for everyone; the cold-start answer). */
import type { ItemTables } from "../tables";
import type { Scored } from "./scored";

export function trending(t: ItemTables, k: number): Scored {
  const items = t.trending.slice(0, k);
  return { items, scores: Float32Array.from(items, (i) => t.trend[i]!) };
}
