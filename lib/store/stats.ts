/**
 * Counters for the operator dashboard (/ops), kept up to date in the same
 * atomic that writes each call-log record, so the dashboard never scans the
 * log to draw its figures.
 *
 * KV layout (every value a Deno.KvU64, changed only with `sum`):
 *
 *   ["stats", "calls", day, decision]    calls started that UTC day, by outcome
 *   ["stats", "calls", day, "total"]     calls started that UTC day
 *   ["stats", "relayed", day]            answered calls that day relayed by TURN
 *   ["stats", "duration", fromSeconds]   answered calls by duration bucket
 *   ["stats", "all", decision]           all-time calls by outcome
 *   ["stats", "all", "total"]            all-time calls
 *   ["stats", "all", "relayed"]          all-time answered calls relayed by TURN
 *   ["stats", "voicemails", "count"]     voicemails stored now
 *   ["stats", "voicemails", "bytes"]     their total size in bytes
 *
 * `day` is the UTC date (`YYYY-MM-DD`) of the call's start. Duration buckets
 * are log-spaced and fixed: [0,5), [5,15), [15,30), [30,60), [60,120),
 * [120,300), [300,600), [600,1800), [1800,3600), [3600,∞) seconds, keyed by
 * their lower bound; the median read from them is a bucket, not a number.
 *
 * Subtracting: KvU64 cannot hold a negative number, but `sum` wraps modulo
 * 2^64, so subtracting n is adding 2^64 − n. That is only correct when the
 * counter already holds at least n (it is decremented only for something it
 * counted before); otherwise it would wrap to a huge number.
 *
 * Sums never conflict with one another, so many calls ending at once do not
 * make each other's atomics fail; counters do not expire with the call log.
 */
import { keys } from "./keys.ts";
import type { CallDecision, CallLogRecord } from "./call_types.ts";

/** Every outcome a call can be counted under. */
export const DECISIONS = [
  "answered",
  "declined",
  "missed",
  "cancelled",
  "unavailable",
  "busy",
  "voicemail",
] as const;

export type StatsDecision = CallDecision | "voicemail";

/** Lower bounds of the duration buckets, in seconds; the last is open. */
export const DURATION_BUCKETS = [
  0,
  5,
  15,
  30,
  60,
  120,
  300,
  600,
  1800,
  3600,
] as const;

const U64 = 1n << 64n;

/** The counters' keys: the layout lives in keys.ts with every other key. */
export const statsKeys = keys.stats;

/** The UTC day `YYYY-MM-DD` of a time in ms. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** The lower bound (seconds) of the bucket a duration falls in. */
export function durationBucket(durationMs: number): number {
  const s = Math.max(0, durationMs) / 1000;
  let from: number = DURATION_BUCKETS[0];
  for (const b of DURATION_BUCKETS) if (s >= b) from = b;
  return from;
}

function add(op: Deno.AtomicOperation, key: Deno.KvKey, n: number | bigint) {
  op.sum(key, BigInt(n));
}

/** Adds 2^64 − n: subtracts n from a counter that holds at least n. */
function subtract(
  op: Deno.AtomicOperation,
  key: Deno.KvKey,
  n: number | bigint,
) {
  const v = BigInt(n);
  if (v === 0n) return;
  op.sum(key, U64 - v);
}

/** Counts one ended call; call inside the atomic that writes its log record. */
export function addCallStats(
  op: Deno.AtomicOperation,
  log: CallLogRecord,
): Deno.AtomicOperation {
  const day = utcDay(log.startedAt);
  add(op, statsKeys.calls(day, log.decision), 1);
  add(op, statsKeys.callsTotal(day), 1);
  add(op, statsKeys.all(log.decision), 1);
  add(op, statsKeys.all("total"), 1);
  if (log.decision === "answered") {
    add(op, statsKeys.duration(durationBucket(log.durationMs)), 1);
    // Only a connected call has a media path, so only answered calls count.
    if (log.relayed) {
      add(op, statsKeys.relayed(day), 1);
      add(op, statsKeys.all("relayed"), 1);
    }
  }
  return op;
}

/**
 * Moves one call (already counted by addCallStats as `log.decision`) to
 * "voicemail" for its day and in the all-time totals. Call it in the atomic
 * that changes the record; a no-op when the decision is already `to`.
 */
export function changeDecision(
  op: Deno.AtomicOperation,
  log: CallLogRecord,
  to: "voicemail",
): Deno.AtomicOperation {
  const from: string = log.decision;
  if (from === to) return op;
  const day = utcDay(log.startedAt);
  subtract(op, statsKeys.calls(day, from), 1);
  add(op, statsKeys.calls(day, to), 1);
  subtract(op, statsKeys.all(from), 1);
  add(op, statsKeys.all(to), 1);
  if (from === "answered") {
    subtract(op, statsKeys.duration(durationBucket(log.durationMs)), 1);
    if (log.relayed) {
      subtract(op, statsKeys.relayed(day), 1);
      subtract(op, statsKeys.all("relayed"), 1);
    }
  }
  return op;
}

/** Counts one stored voicemail of `bytes` bytes. */
export function addVoicemailStats(
  op: Deno.AtomicOperation,
  bytes: number,
): Deno.AtomicOperation {
  add(op, statsKeys.voicemailCount(), 1);
  add(op, statsKeys.voicemailBytes(), Math.max(0, Math.round(bytes)));
  return op;
}

/** Uncounts one voicemail that addVoicemailStats counted with the same bytes. */
export function removeVoicemailStats(
  op: Deno.AtomicOperation,
  bytes: number,
): Deno.AtomicOperation {
  subtract(op, statsKeys.voicemailCount(), 1);
  subtract(op, statsKeys.voicemailBytes(), Math.max(0, Math.round(bytes)));
  return op;
}

export type DecisionCounts = Record<StatsDecision, number>;

export interface DayStats {
  day: string;
  total: number;
  /** Answered calls that day relayed through TURN. */
  relayed: number;
  decisions: DecisionCounts;
}

export interface DurationBucket {
  fromSeconds: number;
  /** Exclusive upper bound; null for the open last bucket. */
  toSeconds: number | null;
  count: number;
}

export interface Stats {
  /** The last `days` UTC days, oldest first, today last. */
  days: DayStats[];
  /** Sums over those days. */
  window: {
    total: number;
    decisions: DecisionCounts;
    relayed: number;
    /** answered / total, null without calls. */
    answerRate: number | null;
    /** relayed / answered, null without answered calls. */
    relayedShare: number | null;
  };
  allTime: { total: number; decisions: DecisionCounts; relayed: number };
  /** Answered calls by duration (all time). */
  duration: {
    buckets: DurationBucket[];
    count: number;
    /** The bucket holding the median answered call (lower median). */
    median: { fromSeconds: number; toSeconds: number | null } | null;
  };
  voicemails: { count: number; bytes: number };
}

function zeroDecisions(): DecisionCounts {
  return Object.fromEntries(DECISIONS.map((d) => [d, 0])) as DecisionCounts;
}

function num(v: unknown): number {
  return v instanceof Deno.KvU64 ? Number(v.value) : 0;
}

function isDecision(s: string): s is StatsDecision {
  return (DECISIONS as readonly string[]).includes(s);
}

/** The bucket holding the lower median of a histogram, or null when empty. */
export function medianBucket(
  buckets: DurationBucket[],
): { fromSeconds: number; toSeconds: number | null } | null {
  const n = buckets.reduce((s, b) => s + b.count, 0);
  if (n === 0) return null;
  const target = Math.ceil(n / 2);
  let seen = 0;
  for (const b of buckets) {
    seen += b.count;
    if (seen >= target) {
      return { fromSeconds: b.fromSeconds, toSeconds: b.toSeconds };
    }
  }
  return null;
}

/** Reads the dashboard's figures: a handful of range reads, no log scan. */
export async function readStats(
  kv: Deno.Kv,
  opts: { days: number; now?: number },
): Promise<Stats> {
  const nDays = Math.max(1, Math.min(366, Math.floor(opts.days)));
  const now = opts.now ?? Date.now();
  const dayMs = 86_400_000;
  const today = Date.UTC(
    new Date(now).getUTCFullYear(),
    new Date(now).getUTCMonth(),
    new Date(now).getUTCDate(),
  );
  const dayList: string[] = [];
  for (let i = nDays - 1; i >= 0; i--) dayList.push(utcDay(today - i * dayMs));
  const first = dayList[0];
  const after = utcDay(today + dayMs);
  const byDay = new Map<string, DayStats>(
    dayList.map((
      day,
    ) => [day, { day, total: 0, relayed: 0, decisions: zeroDecisions() }]),
  );

  const [calls, relayed, durations, all, vm] = await Promise.all([
    collect(kv.list({
      start: statsKeys.callsFrom(first),
      end: statsKeys.callsFrom(after),
    })),
    collect(kv.list({
      start: statsKeys.relayed(first),
      end: statsKeys.relayed(after),
    })),
    collect(kv.list({ prefix: statsKeys.durationPrefix() })),
    collect(kv.list({ prefix: statsKeys.allPrefix() })),
    kv.getMany([statsKeys.voicemailCount(), statsKeys.voicemailBytes()]),
  ]);

  for (const e of calls) {
    const d = byDay.get(e.key[2] as string);
    const what = e.key[3] as string;
    if (!d) continue;
    if (what === "total") d.total = num(e.value);
    else if (isDecision(what)) d.decisions[what] = num(e.value);
  }
  for (const e of relayed) {
    const d = byDay.get(e.key[2] as string);
    if (d) d.relayed = num(e.value);
  }
  const days = [...byDay.values()];
  const wDecisions = zeroDecisions();
  let wTotal = 0, wRelayed = 0;
  for (const d of days) {
    wTotal += d.total;
    wRelayed += d.relayed;
    for (const k of DECISIONS) wDecisions[k] += d.decisions[k];
  }

  const allDecisions = zeroDecisions();
  let allTotal = 0, allRelayed = 0;
  for (const e of all) {
    const what = e.key[2] as string;
    if (what === "total") allTotal = num(e.value);
    else if (what === "relayed") allRelayed = num(e.value);
    else if (isDecision(what)) allDecisions[what] = num(e.value);
  }

  const counts = new Map<number, number>();
  for (const e of durations) counts.set(e.key[2] as number, num(e.value));
  const buckets: DurationBucket[] = DURATION_BUCKETS.map((from, i) => ({
    fromSeconds: from,
    toSeconds: DURATION_BUCKETS[i + 1] ?? null,
    count: counts.get(from) ?? 0,
  }));

  return {
    days,
    window: {
      total: wTotal,
      decisions: wDecisions,
      relayed: wRelayed,
      answerRate: wTotal ? wDecisions.answered / wTotal : null,
      relayedShare: wDecisions.answered ? wRelayed / wDecisions.answered : null,
    },
    allTime: { total: allTotal, decisions: allDecisions, relayed: allRelayed },
    duration: {
      buckets,
      count: buckets.reduce((s, b) => s + b.count, 0),
      median: medianBucket(buckets),
    },
    voicemails: { count: num(vm[0].value), bytes: num(vm[1].value) },
  };
}

async function collect<T>(
  iter: Deno.KvListIterator<T>,
): Promise<Deno.KvEntry<T>[]> {
  const out: Deno.KvEntry<T>[] = [];
  for await (const e of iter) out.push(e);
  return out;
}
