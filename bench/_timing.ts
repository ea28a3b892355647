/** Timing for the crypto benchmarks: warm-up runs, then timed runs, in ms. */

/** `f` run `warmup` times untimed, then `runs` times timed (ms each). */
export async function time(
  f: () => Promise<unknown>,
  runs: number,
  warmup: number,
): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await f();
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await f();
    out.push(performance.now() - t0);
  }
  return out;
}

/** The median and the 95th percentile of `xs`. */
export function stats(xs: number[]): { median: number; p95: number } {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return {
    median: s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2,
    p95: s[Math.min(s.length - 1, Math.ceil(0.95 * s.length) - 1)],
  };
}
