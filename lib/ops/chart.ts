/**
 * Geometry for the calls-per-day stacked bar chart, drawn as SVG on the
 * server (routes/ops/index.tsx renders it; no client script). Pure numbers,
 * so it can be tested without rendering.
 */
import {
  type DayStats,
  DECISIONS,
  type StatsDecision,
} from "../store/stats.ts";

export interface ChartSegment {
  decision: StatsDecision;
  count: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface ChartBar {
  day: string;
  /** Short label under the bar, e.g. "07". */
  label: string;
  total: number;
  x: number;
  width: number;
  segments: ChartSegment[];
}

export interface Chart {
  width: number;
  height: number;
  /** The plot area: bars stand on y = plotBottom. */
  plotTop: number;
  plotBottom: number;
  plotLeft: number;
  plotRight: number;
  max: number;
  ticks: { value: number; y: number }[];
  bars: ChartBar[];
}

/** A "nice" axis maximum (1, 2, 5 × 10^k) at or above `n`. */
export function niceMax(n: number): number {
  if (n <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(n));
  for (const m of [1, 2, 5, 10]) if (m * p >= n) return m * p;
  return 10 * p;
}

export function stackedBars(
  days: DayStats[],
  opts: { width?: number; height?: number } = {},
): Chart {
  const width = opts.width ?? 640;
  const height = opts.height ?? 220;
  const plotLeft = 40, plotRight = width - 8, plotTop = 10;
  const plotBottom = height - 24;
  const max = niceMax(Math.max(0, ...days.map((d) => d.total)));
  const plotH = plotBottom - plotTop;
  const slot = (plotRight - plotLeft) / Math.max(1, days.length);
  const barW = Math.max(2, Math.round(slot * 0.7 * 10) / 10);
  const round = (v: number) => Math.round(v * 10) / 10;
  const bars = days.map((d, i) => {
    const x = round(plotLeft + i * slot + (slot - barW) / 2);
    let y = plotBottom;
    const segments: ChartSegment[] = [];
    for (const decision of DECISIONS) {
      const count = d.decisions[decision];
      if (!count) continue;
      const h = (count / max) * plotH;
      y -= h;
      segments.push({
        decision,
        count,
        x,
        y: round(y),
        width: barW,
        height: round(h),
      });
    }
    return {
      day: d.day,
      label: d.day.slice(8),
      total: d.total,
      x,
      width: barW,
      segments,
    };
  });
  const ticks = [0, 0.5, 1].filter((f) => Number.isInteger(max * f)).map((
    f,
  ) => ({ value: max * f, y: round(plotBottom - f * plotH) }));
  return {
    width,
    height,
    plotTop,
    plotBottom,
    plotLeft,
    plotRight,
    max,
    ticks,
    bars,
  };
}
