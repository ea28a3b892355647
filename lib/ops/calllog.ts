/**
 * The call log as the operator sees it: records in key order (by call id),
 * paged with a KV cursor and optionally filtered by decision. Hashes are cut
 * to 10 characters; the log holds no SDP, addresses, numbers or handles, and
 * nothing is joined in.
 */
import { keys } from "../store/keys.ts";
import { callRef } from "../call_ref.ts";
import type { CallLogRecord } from "../store/calls.ts";
import { DECISIONS, type StatsDecision } from "../store/stats.ts";

export interface OpsLogRow {
  /** The call's keyed reference (lib/call_ref.ts), as in the logs; never its id. */
  ref: string;
  startedAt: number;
  durationMs: number;
  decision: string;
  relayed: boolean;
  caller: string;
  callee: string;
}

export interface OpsLogPage {
  rows: OpsLogRow[];
  /** Where the next page starts; null at the end of the log. */
  cursor: string | null;
  /** How many records were read to fill this page. */
  scanned: number;
}

export const SHORT_HASH = 10;

export function shortHash(h: string): string {
  return h.slice(0, SHORT_HASH);
}

export function parseDecision(s: string | null): StatsDecision | null {
  return s && (DECISIONS as readonly string[]).includes(s)
    ? s as StatsDecision
    : null;
}

export function opsRow(log: CallLogRecord): OpsLogRow {
  return {
    ref: callRef(log.callId),
    startedAt: log.startedAt,
    durationMs: log.durationMs,
    decision: log.decision,
    relayed: log.relayed,
    caller: shortHash(log.callerHash),
    callee: shortHash(log.calleeHash),
  };
}

/**
 * Reads records in key order from `cursor` and yields those matching
 * `decision` (all when null). The iterator's cursor is exposed so a caller
 * can stop anywhere and resume later.
 */
export function callLogIterator(
  kv: Deno.Kv,
  opts: { cursor?: string | null; batchSize?: number } = {},
): Deno.KvListIterator<CallLogRecord> {
  return kv.list<CallLogRecord>({ prefix: keys.callLogPrefix() }, {
    cursor: opts.cursor || undefined,
    batchSize: opts.batchSize ?? 500,
  });
}

/**
 * One page of the log. With a filter, at most `maxScan` records are read per
 * page: a page may then hold fewer rows and still have a cursor to go on.
 * Throws a TypeError for a malformed cursor.
 */
export async function listCallLog(
  kv: Deno.Kv,
  opts: {
    decision?: StatsDecision | null;
    cursor?: string | null;
    limit?: number;
    maxScan?: number;
  } = {},
): Promise<OpsLogPage> {
  const limit = Math.max(1, Math.min(500, opts.limit ?? 50));
  const maxScan = opts.maxScan ?? 5000;
  const decision = opts.decision ?? null;
  const iter = callLogIterator(kv, {
    cursor: opts.cursor,
    batchSize: decision ? 500 : limit + 1,
  });
  const rows: OpsLogRow[] = [];
  let scanned = 0;
  let cursor: string | null = null;
  let more = false;
  for await (const e of iter) {
    if (rows.length === limit) {
      // Look ahead (within the budget) for one more match before offering
      // a next page.
      if (!decision || e.value.decision === decision) {
        more = true;
        break;
      }
      if (scanned >= maxScan) {
        more = true;
        break;
      }
      scanned++;
      continue;
    }
    scanned++;
    if (!decision || e.value.decision === decision) rows.push(opsRow(e.value));
    if (rows.length === limit) cursor = iter.cursor;
    else if (scanned >= maxScan) {
      cursor = iter.cursor;
      more = true;
      break;
    }
  }
  return { rows, cursor: more ? cursor : null, scanned };
}
