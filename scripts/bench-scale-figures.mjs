// The figures of `npm run bench:scale` (scripts/bench-scale.mjs): quantiles, Server-Timing stages, log-log slopes.

export const quantile = (xs, q) => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
export const p50p95 = (xs) => ({ p50: quantile(xs, 0.5), p95: quantile(xs, 0.95), n: xs.length });

/** `Server-Timing: retrieval;dur=1.2, light;dur=0.3, …, total;dur=9` → {retrieval: 1.2, …}. */
export function serverTiming(header) {
  const out = {};
  for (const part of (header ?? "").split(",")) {
    const [name, ...params] = part.trim().split(";");
    const dur = params.find((p) => p.trim().startsWith("dur="));
    if (name && dur) out[name.trim()] = Number(dur.trim().slice(4));
  }
  return out;
}

/** Per stage p50/p95 over answers; counts non-200, degraded and cache hits (there should be none). */
export function stageFigures(answers, stages) {
  const ok = answers.filter((a) => a.status === 200);
  const out = { requests: answers.length, errors: answers.length - ok.length };
  out.degraded = ok.filter((a) => a.body?.degraded).length;
  out.cacheHits = ok.filter((a) => a.cache === "HIT").length;
  out.degradedReasons = {};
  for (const a of ok) {
    const r = a.body?.degradedReason;
    if (r) out.degradedReasons[r] = (out.degradedReasons[r] ?? 0) + 1;
  }
  for (const s of stages) out[s] = p50p95(ok.map((a) => a.stages[s]).filter((v) => v !== undefined));
  out.client = p50p95(ok.map((a) => a.clientMs));
  return out;
}

/** Growth exponent between two sizes: log(b/a) / log(nb/na); null where a figure is missing or not positive. */
export function slope(a, b, na, nb) {
  return a > 0 && b > 0 ? Math.log(b / a) / Math.log(nb / na) : null;
}
