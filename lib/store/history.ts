/**
 * The owner's call history: their call-log records, newest first, read
 * through the `["call_log_by_callee", calleeHash, startedAt, callId]` index
 * that endCall writes with each record. Callers are shown only as a short
 * per-owner label (callerPseudonym): anonymous by design.
 */
import { hmacHex } from "../crypto/hash.ts";
import type { CallLogRecord } from "./call_types.ts";
import { keys } from "./keys.ts";

export interface HistoryPage {
  entries: CallLogRecord[];
  /** Pass back as `cursor` for older calls; null when there are none. */
  cursor: string | null;
}

/** The callee hash the call log uses for a handle (as signaling/calls.ts). */
export function calleeHashOf(hmacKey: Uint8Array, handle: string) {
  return hmacHex(hmacKey, "callee", handle);
}

/**
 * One page of a callee's history, newest first. Throws a TypeError for a
 * malformed cursor (callers treat that as the first page).
 */
export async function readHistory(
  kv: Deno.Kv,
  calleeHash: string,
  opts: { limit?: number; cursor?: string | null } = {},
): Promise<HistoryPage> {
  const limit = Math.max(1, Math.min(200, opts.limit ?? 20));
  const iter = kv.list<string>(
    { prefix: keys.callLogByCalleePrefix(calleeHash) },
    {
      reverse: true,
      cursor: opts.cursor || undefined,
      batchSize: limit + 1,
    },
  );
  const ids: string[] = [];
  let cursor: string | null = null;
  let more = false;
  for await (const e of iter) {
    if (ids.length === limit) {
      more = true; // one older entry exists; keep the cursor before it
      break;
    }
    ids.push(e.key[3] as string);
    if (ids.length === limit) cursor = iter.cursor;
  }
  if (!more) cursor = null;
  const entries: CallLogRecord[] = [];
  for (let i = 0; i < ids.length; i += 10) {
    const got = await kv.getMany<CallLogRecord[]>(
      ids.slice(i, i + 10).map((id) => keys.callLog(id)),
    );
    for (const g of got) if (g.value) entries.push(g.value);
  }
  return { entries, cursor };
}

/** Crockford base32: no I, L, O, U to misread. */
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/**
 * A short, stable label for a caller hash, e.g. "Caller 3F9A-K2": 30 bits of
 * the hash in Crockford base32. The same caller always gets the same label;
 * it says nothing about who they are.
 */
export function callerLabel(callerHash: string): string {
  const hex = /^[0-9a-f]{8}/i.exec(callerHash)?.[0] ?? "00000000";
  let v = parseInt(hex, 16) >>> 2; // 30 bits
  let s = "";
  for (let i = 0; i < 6; i++) {
    s = ALPHABET[v & 31] + s;
    v >>>= 5;
  }
  return `Caller ${s.slice(0, 4)}-${s.slice(4)}`;
}

/**
 * The label one owner sees for a caller: `callerLabel` of a keyed hash of
 * the callee and the caller hash. The same caller keeps one label in one
 * owner's list, but two owners comparing their lists cannot tell that the
 * same caller rang both (their labels are unrelated).
 */
export async function callerPseudonym(
  hmacKey: Uint8Array,
  calleeHandle: string,
  callerHash: string,
): Promise<string> {
  return callerLabel(
    await hmacHex(hmacKey, "caller-label", `${calleeHandle}\0${callerHash}`),
  );
}

/** A history row as /me shows it: the record and its per-owner caller label. */
export type HistoryEntry = CallLogRecord & { caller: string };

/** What /me's "Recent calls" section renders (components/CallHistory.tsx). */
export interface RecentCalls {
  entries: HistoryEntry[];
  olderHref: string | null;
  isFirstPage: boolean;
  now: number;
}

/** Loads a page of a handle's history for /me; `before` is the page cursor. */
export async function recentCallsFor(
  kv: Deno.Kv,
  hmacKey: Uint8Array,
  handle: string,
  before: string | null,
  limit = 20,
): Promise<RecentCalls> {
  const hash = await calleeHashOf(hmacKey, handle);
  let page: HistoryPage;
  let cursor = before || null;
  try {
    page = await readHistory(kv, hash, { limit, cursor });
  } catch (e) {
    if (!(e instanceof TypeError)) throw e;
    cursor = null; // a malformed cursor shows the newest calls
    page = await readHistory(kv, hash, { limit });
  }
  const entries = await Promise.all(
    page.entries.map(async (e) => ({
      ...e,
      caller: await callerPseudonym(hmacKey, handle, e.callerHash),
    })),
  );
  return {
    entries,
    olderHref: page.cursor
      ? `/me?before=${encodeURIComponent(page.cursor)}#recent-calls`
      : null,
    isFirstPage: cursor === null,
    now: Date.now(),
  };
}
