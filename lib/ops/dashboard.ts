/**
 * Everything /ops shows, gathered in one call: counters (lib/store/stats.ts),
 * devices online now, live calls across every isolate (the deadline index),
 * this isolate's connections, and one page of the log.
 */
import { keys } from "../store/keys.ts";
import { getHub } from "@/signaling/instance.ts";
import type { PresenceRecord } from "../store/presence.ts";
import { liveCallCounts } from "../store/calls.ts";
import { readStats, type Stats, type StatsDecision } from "../store/stats.ts";
import { listCallLog, type OpsLogPage } from "./calllog.ts";

export const DASHBOARD_DAYS = 14;

export interface Dashboard {
  now: number;
  stats: Stats;
  devicesOnline: number;
  /** Calls ringing and answered now, on every isolate. */
  live: { ringing: number; answered: number; capped: boolean };
  connections: { connections: number; devices: number; callers: number };
  log: OpsLogPage;
  decision: StatsDecision | null;
  /** The cursor this page started from (null on the first page). */
  from: string | null;
}

/** Presence keys whose own expiry is still ahead (KV expires keys lazily). */
export async function countDevicesOnline(
  kv: Deno.Kv,
  now = Date.now(),
): Promise<number> {
  let n = 0;
  for await (
    const e of kv.list<PresenceRecord>({ prefix: keys.presenceAll() }, {
      batchSize: 1000,
    })
  ) {
    if (e.value?.expiresAt > now) n++;
  }
  return n;
}

export async function loadDashboard(
  kv: Deno.Kv,
  opts: {
    decision: StatsDecision | null;
    cursor: string | null;
    now?: number;
    pageSize?: number;
  },
): Promise<Dashboard> {
  const now = opts.now ?? Date.now();
  let from = opts.cursor;
  const page = (cursor: string | null) =>
    listCallLog(kv, {
      decision: opts.decision,
      cursor,
      limit: opts.pageSize ?? 50,
    });
  let log: OpsLogPage;
  try {
    log = await page(from);
  } catch (e) {
    if (!(e instanceof TypeError)) throw e;
    // A malformed cursor starts from the beginning.
    from = null;
    log = await page(null);
  }
  const [stats, devicesOnline, live, hub] = await Promise.all([
    readStats(kv, { days: DASHBOARD_DAYS, now }),
    countDevicesOnline(kv, now),
    liveCallCounts(kv),
    getHub(),
  ]);
  return {
    now,
    stats,
    devicesOnline,
    live,
    connections: hub.stats(),
    log,
    decision: opts.decision,
    from,
  };
}
