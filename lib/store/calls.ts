/**
 * Call records: the authoritative state of each call, changed only by atomic
 * checks so that the first accept wins and every call ends exactly once.
 * Ending a call writes its call-log record (and the callee's history index)
 * in the same atomic.
 */
import { keys } from "./keys.ts";
import { addCallStats } from "./stats.ts";

export type CallDecision =
  | "answered"
  | "declined"
  | "missed"
  | "cancelled"
  | "unavailable"
  | "busy";

export interface CallRecord {
  callId: string;
  state: "ringing" | "answered" | "ended";
  calleeHandle: string;
  callerHash: string;
  calleeHash: string;
  createdAt: number;
  answeredAt?: number;
  endedAt?: number;
  answeredBy?: string;
  decision?: CallDecision;
  relayed?: boolean;
  /** SHA-256 of each side's resume token. */
  callerResume: string;
  calleeResume?: string;
  /** The socket currently speaking for each side (changes on resume). */
  callerConn: string;
  calleeConn?: string;
}

export interface CallLogRecord {
  callId: string;
  callerHash: string;
  calleeHash: string;
  startedAt: number;
  durationMs: number;
  decision: CallDecision;
  relayed: boolean;
}

/** A call record outlives its call briefly, for resumes and late messages. */
const CALL_RECORD_TTL_MS = 6 * 3600_000;

export async function createCall(
  kv: Deno.Kv,
  rec: CallRecord,
): Promise<boolean> {
  const res = await kv.atomic()
    .check({ key: keys.call(rec.callId), versionstamp: null })
    .set(keys.call(rec.callId), rec, { expireIn: CALL_RECORD_TTL_MS })
    .commit();
  return res.ok;
}

export async function getCall(
  kv: Deno.Kv,
  callId: string,
): Promise<CallRecord | null> {
  return (await kv.get<CallRecord>(keys.call(callId))).value;
}

/** Is this handle in an answered call right now? */
export async function inCall(kv: Deno.Kv, handle: string): Promise<boolean> {
  const entry = await kv.get<string>(keys.inCall(handle));
  if (!entry.value) return false;
  const call = await getCall(kv, entry.value);
  return call?.state === "answered";
}

/** First accept wins: ringing -> answered, atomically. */
export async function acceptCall(
  kv: Deno.Kv,
  callId: string,
  deviceId: string,
  calleeResume: string,
  calleeConn: string,
  now = Date.now(),
): Promise<CallRecord | null> {
  const entry = await kv.get<CallRecord>(keys.call(callId));
  if (entry.value?.state !== "ringing") return null;
  const next: CallRecord = {
    ...entry.value,
    state: "answered",
    answeredAt: now,
    answeredBy: deviceId,
    calleeResume,
    calleeConn,
  };
  const res = await kv.atomic().check(entry)
    .set(entry.key, next, { expireIn: CALL_RECORD_TTL_MS })
    .set(keys.inCall(next.calleeHandle), callId, {
      expireIn: CALL_RECORD_TTL_MS,
    })
    .commit();
  return res.ok ? next : null;
}

/** Applies a change to a live (not ended) call; retries on a parallel write. */
export async function updateCall(
  kv: Deno.Kv,
  callId: string,
  change: (rec: CallRecord) => Partial<CallRecord>,
): Promise<CallRecord | null> {
  for (let i = 0; i < 5; i++) {
    const entry = await kv.get<CallRecord>(keys.call(callId));
    if (!entry.value || entry.value.state === "ended") return null;
    const next = { ...entry.value, ...change(entry.value) };
    const res = await kv.atomic().check(entry)
      .set(entry.key, next, { expireIn: CALL_RECORD_TTL_MS })
      .commit();
    if (res.ok) return next;
  }
  return null;
}

/**
 * Ends a call once: from `from` states only. Returns the ended record, or
 * null when the call was already past those states (someone else ended it).
 */
export async function endCall(
  kv: Deno.Kv,
  callId: string,
  decision: CallDecision,
  from: CallRecord["state"][],
  retentionMs: number,
  now = Date.now(),
): Promise<CallRecord | null> {
  for (let i = 0; i < 5; i++) {
    const entry = await kv.get<CallRecord>(keys.call(callId));
    const rec = entry.value;
    if (!rec || !from.includes(rec.state)) return null;
    const ended: CallRecord = {
      ...rec,
      state: "ended",
      endedAt: now,
      decision: rec.state === "answered" ? "answered" : decision,
    };
    const log: CallLogRecord = {
      callId,
      callerHash: rec.callerHash,
      calleeHash: rec.calleeHash,
      startedAt: rec.createdAt,
      durationMs: rec.answeredAt ? now - rec.answeredAt : 0,
      decision: ended.decision!,
      relayed: rec.relayed ?? false,
    };
    const op = kv.atomic().check(entry)
      .set(entry.key, ended, { expireIn: CALL_RECORD_TTL_MS })
      .set(keys.callLog(callId), log, { expireIn: retentionMs })
      .set(
        keys.callLogByCallee(rec.calleeHash, rec.createdAt, callId),
        callId,
        {
          expireIn: retentionMs,
        },
      );
    // The dashboard's counters change with the log, never by scanning it.
    addCallStats(op, log);
    if (rec.state === "answered") {
      // Clear the busy marker only if it is still this call's.
      const busy = await kv.get<string>(keys.inCall(rec.calleeHandle));
      if (busy.value === callId) op.check(busy).delete(busy.key);
    }
    if ((await op.commit()).ok) return ended;
  }
  return null;
}

export async function getCallLog(
  kv: Deno.Kv,
  callId: string,
): Promise<CallLogRecord | null> {
  return (await kv.get<CallLogRecord>(keys.callLog(callId))).value;
}
