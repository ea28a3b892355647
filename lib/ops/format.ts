/** Small formatters for the operator dashboard. */

export function percent(r: number | null): string {
  return r === null ? "—" : `${(r * 100).toFixed(1)}%`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

function seconds(s: number): string {
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${s / 60} min`;
  return `${s / 3600} h`;
}

/** A duration bucket as a range, e.g. "30 s – 1 min" or "over 1 h". */
export function bucketRange(
  b: { fromSeconds: number; toSeconds: number | null } | null,
): string {
  if (!b) return "—";
  if (b.toSeconds === null) return `over ${seconds(b.fromSeconds)}`;
  return `${seconds(b.fromSeconds)} – ${seconds(b.toSeconds)}`;
}

export { clock } from "../clock.ts";
