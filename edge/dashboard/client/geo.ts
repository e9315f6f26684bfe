/** The "Global traffic" table: per (colo, nearest GPU region) of the range, live traffic (README "Global traffic"). */
import type { GeoCell } from "./api";
import { byId, h } from "./dom";
import { fmt } from "../../metrics/rates";

const ms = (v: number | null): string => (v === null ? "–" : String(Math.round(v)));

export function fillGeo(cells: GeoCell[]): void {
  const rows = cells
    .filter((c) => c.requests > 0 || c.rttMs !== null)
    .map((c) =>
      h(
        "tr",
        {},
        h("td", {}, c.colo),
        h("td", {}, c.region),
        h("td", {}, String(c.requests)),
        h("td", {}, fmt(c.degradedShare)),
        h("td", {}, String(c.failovers)),
        h("td", {}, ms(c.gpuMs.p50) + " / " + ms(c.gpuMs.p99)),
        h("td", {}, ms(c.rttMs)),
      ),
    );
  byId("geo").replaceChildren(...rows);
}
