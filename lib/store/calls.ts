/**
 * Call records: the authoritative state of each call, changed only by atomic
 * checks so that the first accept wins and every call ends exactly once.
 * Ending a call writes its call-log record (and the callee's history index)
 * in the same atomic.
 *
 * A call's deadlines live in its record (lib/store/call_deadline.ts), and
 * every atomic that writes a live record also keeps two indexes true: the
 * call under its deadline (`keys.callDue`, what a sweep reads) and, while it
 * rings, under its handle (`keys.ringing`, what a device is told on hello).
 */
import { keys } from "./keys.ts";
import { addCallStats } from "./stats.ts";
import type { CallDecision, CallLogRecord, CallRecord } from "./call_types.ts";

export type { CallDecision, CallLogRecord, CallRecord };
import { deadlineOf, type Expiry, expiry, type Side } from "./call_deadline.ts";

/** What a caller supplies; the timers and indexes are added by createCall. */
export type NewCall = Omit<
  CallRecord,
  "ringUntil" | "callerSeen" | "silentMs" | "graceMs" | "due"
>;

/** The timers a call is created with (defaults: the documented values). */
export interface CallTimers {
  ringMs: number;
  /** How long a side may go without a refresh before its isolate counts as dead. */
  silentMs: number;
  /** How long a side that lost its socket may take to resume. */
  graceMs: number;
}

export const DEFAULT_CALL_TIMERS: CallTimers = {
  ringMs: 60_000,
  silentMs: 45_000,
  graceMs: 60_000,
};

/** A call ringing for a handle, as the ringing index holds it. */
export interface RingingEntry {
  callId: string;
  ringUntil: number;
}

/** A call record outlives its call briefly, for resumes and late messages. */
const CALL_RECORD_TTL_MS = 6 * 3600_000;
/** A ringing entry outlives its ring deadline by this much at most. */
const RINGING_MARGIN_MS = 60_000;

/**
 * Adds to `op` the writes that store `next` in place of `prev` (null for a
 * new record): the record itself, and its deadline and ringing indexes.
 */
function putRecord(
  op: Deno.AtomicOperation,
  prev: CallRecord | null,
  next: CallRecord,
  now: number,
): Deno.AtomicOperation {
  op.set(keys.call(next.callId), next, { expireIn: CALL_RECORD_TTL_MS });
  const live = next.state !== "ended";
  const moved = !prev || prev.due !== next.due || prev.state !== next.state;
  if (prev && prev.state !== "ended" && (moved || !live)) {
    op.delete(keys.callDue(prev.due, prev.callId));
  }
  if (live && moved) {
    op.set(keys.callDue(next.due, next.callId), next.state, {
      expireIn: CALL_RECORD_TTL_MS,
    });
  }
  if (!prev && next.state === "ringing") {
    op.set(
      keys.ringing(next.calleeHandle, next.callId),
      {
        callId: next.callId,
        ringUntil: next.ringUntil,
      } satisfies RingingEntry,
      { expireIn: Math.max(1, next.ringUntil - now) + RINGING_MARGIN_MS },
    );
  }
  if (prev?.state === "ringing" && next.state !== "ringing") {
    op.delete(keys.ringing(prev.calleeHandle, prev.callId));
  }
  // The busy marker lives as long as the answered call's record: every write
  // (each heartbeat tick's sign of life) renews both.
  if (next.state === "answered") {
    op.set(keys.inCall(next.calleeHandle), next.callId, {
      expireIn: CALL_RECORD_TTL_MS,
    });
  }
  return op;
}

export async function createCall(
  kv: Deno.Kv,
  call: NewCall,
  opts: Partial<CallTimers> = {},
): Promise<boolean> {
  const t = { ...DEFAULT_CALL_TIMERS, ...opts };
  const rec: CallRecord = {
    ...call,
    ringUntil: call.createdAt + t.ringMs,
    callerSeen: call.createdAt,
    silentMs: t.silentMs,
    graceMs: t.graceMs,
    due: 0,
  };
  rec.due = deadlineOf(rec);
  const op = kv.atomic().check({
    key: keys.call(rec.callId),
    versionstamp: null,
  });
  putRecord(op, null, rec, call.createdAt);
  return (await op.commit()).ok;
}

export async function getCall(
  kv: Deno.Kv,
  callId: string,
): Promise<CallRecord | null> {
  return (await kv.get<CallRecord>(keys.call(callId))).value;
}

/**
 * Is this handle in a live answered call right now? A call whose side has
 * gone silent past its deadline does not count, even before a sweep ends it.
 */
export async function inCall(
  kv: Deno.Kv,
  handle: string,
  now = Date.now(),
): Promise<boolean> {
  const entry = await kv.get<string>(keys.inCall(handle));
  if (!entry.value) return false;
  const call = await getCall(kv, entry.value);
  return call?.state === "answered" && deadlineOf(call) > now;
}

/**
 * First accept wins: ringing -> answered, atomically. A parallel write that
 * leaves the call ringing (a heartbeat tick's sign of life) does not make
 * the accept lose: it reads again and retries.
 */
export async function acceptCall(
  kv: Deno.Kv,
  callId: string,
  deviceId: string,
  calleeResume: string,
  calleeConn: string,
  now = Date.now(),
): Promise<CallRecord | null> {
  for (let i = 0; i < 10; i++) {
    const entry = await kv.get<CallRecord>(keys.call(callId));
    const rec = entry.value;
    // Not once a deadline has passed (the ring ran out, or the caller is
    // gone), even if no sweep has ended the call yet.
    if (rec?.state !== "ringing" || expiry(rec, now)) return null;
    const next: CallRecord = {
      ...rec,
      state: "answered",
      answeredAt: now,
      answeredBy: deviceId,
      calleeResume,
      calleeConn,
      calleeSeen: now,
    };
    next.due = deadlineOf(next);
    const op = kv.atomic().check(entry);
    putRecord(op, rec, next, now);
    if ((await op.commit()).ok) return next;
  }
  return null;
}

/**
 * Applies a change to a live (not ended) call; retries on a parallel write.
 * The deadline index moves earlier if the change brings a deadline closer
 * (a lost socket); a later deadline is left for the sweep to find.
 */
export async function updateCall(
  kv: Deno.Kv,
  callId: string,
  change: (rec: CallRecord) => Partial<CallRecord> | null,
  now = Date.now(),
): Promise<CallRecord | null> {
  for (let i = 0; i < 5; i++) {
    const entry = await kv.get<CallRecord>(keys.call(callId));
    const rec = entry.value;
    if (!rec || rec.state === "ended") return null;
    const diff = change(rec);
    if (!diff) return null;
    const next: CallRecord = { ...rec, ...diff };
    next.due = Math.min(rec.due, deadlineOf(next));
    const op = kv.atomic().check(entry);
    if ((await putRecord(op, rec, next, now).commit()).ok) return next;
  }
  return null;
}

/**
 * Changes one side's fields, if `conn` still speaks for that side and no
 * deadline has passed at `now` (a call past its deadline is over, even
 * before a sweep says so: it is not revived).
 */
function changeSide(
  kv: Deno.Kv,
  callId: string,
  side: Side,
  conn: string,
  now: number,
  fields: (prefix: Side) => Partial<CallRecord>,
): Promise<CallRecord | null> {
  return updateCall(
    kv,
    callId,
    (rec) => speaksFor(rec, side, conn, now) ? fields(side) : null,
    now,
  );
}

/**
 * Whether `conn` speaks for `side` of the live call `rec` at `now` (the
 * record names it, and no deadline has passed).
 */
function speaksFor(
  rec: CallRecord,
  side: Side,
  conn: string,
  now: number,
): boolean {
  return rec.state !== "ended" &&
    (side === "caller" ? rec.callerConn : rec.calleeConn) === conn &&
    !expiry(rec, now);
}

/**
 * A side's socket is alive (its isolate's heartbeat tick): records it as
 * that side's last sign of life, if that socket still speaks for the side.
 */
export function touchCall(
  kv: Deno.Kv,
  callId: string,
  side: Side,
  conn: string,
  now = Date.now(),
): Promise<CallRecord | null> {
  return changeSide(
    kv,
    callId,
    side,
    conn,
    now,
    (s) => s === "caller" ? { callerSeen: now } : { calleeSeen: now },
  );
}

/** One side's sign of life, for {@link touchCalls}. */
export interface Touch {
  callId: string;
  side: Side;
  conn: string;
}

/** getMany's limit, and so the calls written per atomic step. */
const TOUCH_BATCH = 10;

/**
 * Every heartbeat tick's signs of life at once: as `touchCall` for each
 * touch, but the two sides of a call held on one isolate are one write, and
 * ten calls are read in one getMany and written in one atomic step (a tick
 * with 1000 calls did 2000 reads and 2000 commits, and the two sides of a
 * call collided). A batch whose records changed meanwhile falls back to
 * `touchCall` per touch. Resolves to the record each touch wrote, keyed
 * `callId:side` (null: that socket no longer speaks for the side, or the
 * call is over).
 */
export async function touchCalls(
  kv: Deno.Kv,
  touches: Touch[],
  now = Date.now(),
): Promise<Map<string, CallRecord | null>> {
  const out = new Map<string, CallRecord | null>();
  const byCall = new Map<string, Touch[]>();
  for (const t of touches) {
    const list = byCall.get(t.callId);
    if (list) list.push(t);
    else byCall.set(t.callId, [t]);
  }
  const ids = [...byCall.keys()];
  const batches: Promise<void>[] = [];
  for (let at = 0; at < ids.length; at += TOUCH_BATCH) {
    const batch = ids.slice(at, at + TOUCH_BATCH);
    batches.push(touchBatch(kv, batch, byCall, now, out));
  }
  await Promise.all(batches);
  return out;
}

async function touchBatch(
  kv: Deno.Kv,
  ids: string[],
  byCall: Map<string, Touch[]>,
  now: number,
  out: Map<string, CallRecord | null>,
): Promise<void> {
  const entries = await kv.getMany<CallRecord[]>(
    ids.map((id) => keys.call(id)),
  );
  const op = kv.atomic();
  const written: [Touch, CallRecord][] = [];
  entries.forEach((entry, i) => {
    const rec = entry.value;
    const mine = byCall.get(ids[i])!;
    const applied = rec
      ? mine.filter((t) => speaksFor(rec, t.side, t.conn, now))
      : [];
    for (const t of mine) {
      if (!applied.includes(t)) out.set(`${t.callId}:${t.side}`, null);
    }
    if (!applied.length) return;
    const next: CallRecord = { ...rec! };
    for (const t of applied) {
      if (t.side === "caller") next.callerSeen = now;
      else next.calleeSeen = now;
    }
    next.due = Math.min(rec!.due, deadlineOf(next));
    putRecord(op.check(entry), rec, next, now);
    for (const t of applied) written.push([t, next]);
  });
  if (!written.length) return;
  if ((await op.commit()).ok) {
    for (const [t, rec] of written) out.set(`${t.callId}:${t.side}`, rec);
    return;
  }
  // Something in the batch changed meanwhile: one call at a time.
  await Promise.all(written.map(async ([t]) => {
    out.set(
      `${t.callId}:${t.side}`,
      await touchCall(kv, t.callId, t.side, t.conn, now),
    );
  }));
}

/**
 * A side's socket closed: it has the call's grace period to resume. Returns
 * the record (with its new deadline), or null if another socket already
 * speaks for that side or the call is over.
 */
export function loseSide(
  kv: Deno.Kv,
  callId: string,
  side: Side,
  conn: string,
  now = Date.now(),
): Promise<CallRecord | null> {
  return changeSide(
    kv,
    callId,
    side,
    conn,
    now,
    (s) =>
      s === "caller"
        ? { callerSeen: now, callerLostAt: now }
        : { calleeSeen: now, calleeLostAt: now },
  );
}

/**
 * A side resumed on a new socket: it speaks for the side and is alive.
 * Null when the call has ended, or a deadline passed (too late to resume,
 * even if no sweep has ended it yet: settle it).
 */
export function resumeSide(
  kv: Deno.Kv,
  callId: string,
  side: Side,
  conn: string,
  now = Date.now(),
): Promise<CallRecord | null> {
  return updateCall(
    kv,
    callId,
    (rec) =>
      expiry(rec, now)
        ? null
        : side === "caller"
        ? { callerConn: conn, callerSeen: now, callerLostAt: undefined }
        : { calleeConn: conn, calleeSeen: now, calleeLostAt: undefined },
    now,
  );
}

/** The atomic that ends `entry`'s call: record, log, counters, indexes. */
async function endOp(
  kv: Deno.Kv,
  entry: Deno.KvEntry<CallRecord>,
  decision: CallDecision,
  retentionMs: number,
  now: number,
  endAt = now,
): Promise<{ op: Deno.AtomicOperation; ended: CallRecord }> {
  const rec = entry.value;
  const ended: CallRecord = {
    ...rec,
    state: "ended",
    endedAt: now,
    decision: rec.state === "answered" ? "answered" : decision,
  };
  const log: CallLogRecord = {
    callId: rec.callId,
    callerHash: rec.callerHash,
    calleeHash: rec.calleeHash,
    startedAt: rec.createdAt,
    durationMs: rec.answeredAt ? Math.max(0, endAt - rec.answeredAt) : 0,
    decision: ended.decision!,
    relayed: rec.relayed ?? false,
  };
  const op = kv.atomic().check(entry);
  putRecord(op, rec, ended, now)
    .set(keys.callLog(rec.callId), log, { expireIn: retentionMs })
    .set(
      keys.callLogByCallee(rec.calleeHash, rec.createdAt, rec.callId),
      rec.callId,
      { expireIn: retentionMs },
    );
  // The dashboard's counters change with the log, never by scanning it.
  addCallStats(op, log);
  if (rec.state === "answered") {
    // Clear the busy marker only if it is still this call's.
    const busy = await kv.get<string>(keys.inCall(rec.calleeHandle));
    if (busy.value === rec.callId) op.check(busy).delete(busy.key);
  }
  return { op, ended };
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
    if (!entry.value || !from.includes(entry.value.state)) return null;
    const { op, ended } = await endOp(kv, entry, decision, retentionMs, now);
    if ((await op.commit()).ok) return ended;
  }
  return null;
}

/** What settling a call did. */
export type Settled =
  | { kind: "ended"; call: CallRecord; expiry: Expiry }
  /** Not due yet: indexed under its real deadline now. */
  | { kind: "live"; due: number }
  /** Already ended (or gone) before this look. */
  | { kind: "gone" };

/**
 * Looks at one call at `now`: if a deadline has passed, ends it with the
 * decision that deadline gives, exactly once whoever else looks at the same
 * moment (the atomic checks the record); if not, re-indexes it under its
 * real deadline. Every isolate's timers and sweeps end calls through here.
 */
export async function settleCall(
  kv: Deno.Kv,
  callId: string,
  retentionMs: number,
  now = Date.now(),
): Promise<Settled> {
  for (let i = 0; i < 10; i++) {
    const entry = await kv.get<CallRecord>(keys.call(callId));
    const rec = entry.value;
    if (!rec || rec.state === "ended") return { kind: "gone" };
    const exp = expiry(rec, now);
    if (!exp) {
      const due = deadlineOf(rec);
      if (due === rec.due) return { kind: "live", due };
      const op = kv.atomic().check(entry);
      putRecord(op, rec, { ...rec, due }, now);
      if ((await op.commit()).ok) return { kind: "live", due };
      continue;
    }
    const { op, ended } = await endOp(
      kv,
      entry,
      exp.decision,
      retentionMs,
      now,
      exp.decision === "answered" ? exp.endAt : now,
    );
    if ((await op.commit()).ok) {
      return { kind: "ended", call: ended, expiry: exp };
    }
  }
  throw new Error("call record kept changing");
}

/** The calls due by `now` (oldest deadline first), at most `limit`. */
export async function dueCalls(
  kv: Deno.Kv,
  now: number,
  limit: number,
): Promise<Deno.KvEntry<string>[]> {
  const out: Deno.KvEntry<string>[] = [];
  const iter = kv.list<string>({
    start: keys.callDuePrefix(),
    end: keys.callDue(now + 1, ""),
  }, { limit, batchSize: Math.min(limit, 500) });
  for await (const e of iter) out.push(e);
  return out;
}

/** Removes an index entry whose call is gone (expired record), if unchanged. */
export async function dropDueEntry(
  kv: Deno.Kv,
  entry: Deno.KvEntry<unknown>,
): Promise<void> {
  await kv.atomic().check(entry).delete(entry.key).commit();
}

/**
 * The calls still ringing for a handle at `now`: listed in its ringing
 * index, and with no deadline passed (a caller gone counts, as for accept).
 */
export async function ringingFor(
  kv: Deno.Kv,
  handle: string,
  now = Date.now(),
): Promise<RingingEntry[]> {
  const listed: RingingEntry[] = [];
  for await (
    const e of kv.list<RingingEntry>({ prefix: keys.ringingPrefix(handle) })
  ) {
    if (e.value.ringUntil > now) listed.push(e.value);
  }
  const out: RingingEntry[] = [];
  // getMany reads at most 10 keys at a time.
  for (let i = 0; i < listed.length; i += 10) {
    const batch = listed.slice(i, i + 10);
    const recs = await kv.getMany<CallRecord[]>(
      batch.map((r) => keys.call(r.callId)),
    );
    batch.forEach((r, j) => {
      const rec = recs[j].value;
      if (rec?.state === "ringing" && !expiry(rec, now)) out.push(r);
    });
  }
  return out;
}

/**
 * Live calls across every isolate, by state, read from the deadline index
 * (at most `cap` entries are read; `capped` says when there were more).
 */
export async function liveCallCounts(
  kv: Deno.Kv,
  cap = 100_000,
): Promise<{ ringing: number; answered: number; capped: boolean }> {
  let ringing = 0, answered = 0, n = 0;
  for await (
    const e of kv.list<string>({ prefix: keys.callDuePrefix() }, {
      limit: cap + 1,
      batchSize: 1000,
    })
  ) {
    if (++n > cap) return { ringing, answered, capped: true };
    if (e.value === "ringing") ringing++;
    else if (e.value === "answered") answered++;
  }
  return { ringing, answered, capped: false };
}

export async function getCallLog(
  kv: Deno.Kv,
  callId: string,
): Promise<CallLogRecord | null> {
  return (await kv.get<CallLogRecord>(keys.callLog(callId))).value;
}
