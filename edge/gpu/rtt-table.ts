/**
 * Configured round-trip estimates from an edge location to an AWS region, before the edge has measured any (the
 * learned EWMA of edge/gpu/rtt.ts takes over as samples arrive).
 *
 * Source: the average inter-region ping times of "Latency Between AWS Global Regions" as tabulated in
 * https://acomputerscientistlearnsaws.blogspot.com/2017/04/aws-regions.html (EC2 ↔ EC2, ms, symmetrised by taking
 * the A→B figure), e.g. us-east-1 ↔ eu-central-1 88.7, us-east-1 ↔ ap-southeast-2 230, eu-central-1 ↔ ap-southeast-2
 * 323.5. An edge location (a Cloudflare colo, by its IATA code, or a request's latitude/longitude) is placed at its
 * nearest tabulated region ("home"); its estimate to region R is the fibre estimate to home plus table(home, R).
 * Regions or places the table does not know use the fibre estimate alone: great-circle distance at 200 km/ms
 * (light in glass), ×1.4 for route inflation, plus 2 ms — the factor that reproduces the table's long links
 * (Frankfurt ↔ N. Virginia 6,560 km → 94 ms vs 88.7 measured; Sydney ↔ N. Virginia 15,700 km → 222 vs 230).
 */

export interface LatLon {
  lat: number;
  lon: number;
}

/** AWS region locations (approximate city coordinates of the region). */
export const REGION_COORDS: Readonly<Record<string, LatLon>> = {
  "us-east-1": { lat: 38.9, lon: -77.4 },
  "us-east-2": { lat: 40.0, lon: -83.0 },
  "us-west-1": { lat: 37.4, lon: -121.9 },
  "us-west-2": { lat: 45.8, lon: -119.7 },
  "ca-central-1": { lat: 45.5, lon: -73.6 },
  "sa-east-1": { lat: -23.5, lon: -46.6 },
  "eu-west-1": { lat: 53.3, lon: -6.3 },
  "eu-west-2": { lat: 51.5, lon: -0.1 },
  "eu-west-3": { lat: 48.9, lon: 2.4 },
  "eu-central-1": { lat: 50.1, lon: 8.7 },
  "eu-north-1": { lat: 59.3, lon: 18.1 },
  "ap-northeast-1": { lat: 35.7, lon: 139.7 },
  "ap-northeast-2": { lat: 37.6, lon: 127.0 },
  "ap-southeast-1": { lat: 1.3, lon: 103.8 },
  "ap-southeast-2": { lat: -33.9, lon: 151.2 },
  "ap-south-1": { lat: 19.1, lon: 72.9 },
  "af-south-1": { lat: -33.9, lon: 18.4 },
  "me-south-1": { lat: 26.1, lon: 50.6 },
};

/** Cloudflare colos (IATA codes) of the larger metros; a colo not listed is placed by the request's lat/long. */
export const COLO_COORDS: Readonly<Record<string, LatLon>> = {
  IAD: { lat: 38.9, lon: -77.5 },
  EWR: { lat: 40.7, lon: -74.2 },
  ATL: { lat: 33.6, lon: -84.4 },
  MIA: { lat: 25.8, lon: -80.3 },
  ORD: { lat: 42.0, lon: -87.9 },
  DFW: { lat: 32.9, lon: -97.0 },
  DEN: { lat: 39.9, lon: -104.7 },
  LAX: { lat: 33.9, lon: -118.4 },
  SJC: { lat: 37.4, lon: -121.9 },
  SEA: { lat: 47.4, lon: -122.3 },
  YYZ: { lat: 43.7, lon: -79.6 },
  MEX: { lat: 19.4, lon: -99.1 },
  GRU: { lat: -23.4, lon: -46.5 },
  EZE: { lat: -34.8, lon: -58.5 },
  SCL: { lat: -33.4, lon: -70.8 },
  BOG: { lat: 4.7, lon: -74.1 },
  LHR: { lat: 51.5, lon: -0.5 },
  CDG: { lat: 49.0, lon: 2.5 },
  AMS: { lat: 52.3, lon: 4.8 },
  FRA: { lat: 50.0, lon: 8.6 },
  MAD: { lat: 40.5, lon: -3.6 },
  MXP: { lat: 45.6, lon: 8.7 },
  ARN: { lat: 59.7, lon: 17.9 },
  WAW: { lat: 52.2, lon: 21.0 },
  DUB: { lat: 53.4, lon: -6.3 },
  IST: { lat: 41.3, lon: 28.8 },
  DXB: { lat: 25.3, lon: 55.4 },
  BOM: { lat: 19.1, lon: 72.9 },
  DEL: { lat: 28.6, lon: 77.1 },
  SIN: { lat: 1.4, lon: 104.0 },
  HKG: { lat: 22.3, lon: 113.9 },
  NRT: { lat: 35.8, lon: 140.4 },
  KIX: { lat: 34.4, lon: 135.2 },
  ICN: { lat: 37.5, lon: 126.4 },
  SYD: { lat: -33.9, lon: 151.2 },
  MEL: { lat: -37.7, lon: 144.8 },
  AKL: { lat: -37.0, lon: 174.8 },
  JNB: { lat: -26.1, lon: 28.2 },
  CPT: { lat: -34.0, lon: 18.6 },
  LOS: { lat: 6.6, lon: 3.3 },
};

const TABLE_REGIONS = [
  "us-east-1",
  "us-west-1",
  "us-west-2",
  "eu-west-1",
  "eu-central-1",
  "ap-northeast-1",
  "ap-northeast-2",
  "ap-southeast-1",
  "ap-southeast-2",
  "sa-east-1",
] as const;

/** Upper triangle of the published table, row by row in TABLE_REGIONS order (ms). */
const TABLE_ROWS: readonly (readonly number[])[] = [
  [72.7, 87.0, 80.6, 88.7, 145.3, 178.4, 216.7, 230.0, 119.5],
  [19.5, 153.2, 166.6, 102.5, 131.5, 174.0, 157.5, 192.7],
  [137.0, 159.5, 89.1, 118.3, 161.4, 162.2, 182.7],
  [19.6, 212.4, 242.4, 239.0, 309.6, 191.3],
  [236.5, 266.2, 325.9, 323.5, 194.9],
  [31.4, 73.8, 103.9, 256.8],
  [71.9, 134.0, 286.3],
  [175.3, 328.1],
  [322.5],
];

const PUBLISHED = new Map<string, number>();
TABLE_ROWS.forEach((row, i) =>
  row.forEach((ms, k) => {
    const a = TABLE_REGIONS[i]!;
    const b = TABLE_REGIONS[i + 1 + k]!;
    PUBLISHED.set(`${a}|${b}`, ms).set(`${b}|${a}`, ms);
  }),
);
for (const r of TABLE_REGIONS) PUBLISHED.set(`${r}|${r}`, 0);

/** The published inter-region round trip (ms), undefined for a pair the table lacks. */
export function publishedRtt(a: string, b: string): number | undefined {
  return PUBLISHED.get(`${a}|${b}`);
}

export function distanceKm(a: LatLon, b: LatLon): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371 * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** Round trip over fibre: 200 km/ms each way, ×1.4 route inflation, +2 ms. */
export function fibreRtt(a: LatLon, b: LatLon): number {
  return ((2 * distanceKm(a, b)) / 200) * 1.4 + 2;
}

/** The tabulated region nearest to a place. */
function homeRegion(at: LatLon): string {
  let best: string = TABLE_REGIONS[0];
  let bestKm = Infinity;
  for (const r of TABLE_REGIONS) {
    const km = distanceKm(at, REGION_COORDS[r]!);
    if (km < bestKm) [best, bestKm] = [r, km];
  }
  return best;
}

/** The configured round-trip estimate (ms) from a place to a region; undefined when the region's place is unknown. */
export function configuredRtt(at: LatLon, region: string): number | undefined {
  const target = REGION_COORDS[region];
  if (!target) return undefined;
  const home = homeRegion(at);
  const table = publishedRtt(home, region);
  if (table === undefined) return fibreRtt(at, target);
  return fibreRtt(at, REGION_COORDS[home]!) + table;
}
