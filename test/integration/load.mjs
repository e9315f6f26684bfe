// Load helpers shared by the integration tests and the soak (scripts/soak.mjs): probe queries from the catalog and
// percentiles.
import { execFileSync } from "node:child_process";
import path from "node:path";
import { PYTHON, REPO } from "./harness.mjs";

/** Narrow queries (one rare word of a catalog title): few candidates, so the CPU heavy model answers quickly. */
export function catalogQueries(n, { titles = 300 } = {}) {
  const script = `
import sqlite3, re, sys
db = sqlite3.connect(sys.argv[1])
out = []
for (t,) in db.execute("SELECT title FROM products ORDER BY rowid LIMIT ?", (int(sys.argv[2]),)):
    w = sorted(set(re.findall(r"[a-z]{6,}", t.lower())), key=len, reverse=True)[:1]
    out += w
print("\\n".join(dict.fromkeys(out)))`;
  const text = execFileSync(
    PYTHON,
    ["-c", script, path.join(REPO, ".vitrine/catalog/catalog.sqlite"), String(Math.max(titles, n))],
    { encoding: "utf8" },
  );
  return text.split("\n").filter(Boolean).slice(0, n);
}

/** The p-th percentile (nearest rank) of `values`; NaN when empty. */
export function pct(values, p) {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}
