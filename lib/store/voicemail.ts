/**
 * Voicemail storage: the exact bytes of a sealed envelope (ciphertext the
 * server cannot open), in chunks of at most 60 KiB, and one metadata record
 * per complete upload.
 *
 * Write path (`storeVoicemail`):
 * 1. A short-lived upload claim `["vm_upload", handle, callId]` names the
 *    SHA-256 of the bytes being written, so two different envelopes for one
 *    call never interleave their chunks (the same bytes may share a claim).
 * 2. Chunks `["vm_chunk", handle, callId, i]`, CHUNKS_PER_ATOMIC per atomic,
 *    each with `expireIn: retentionMs`.
 * 3. Last, one atomic: the meta `["vm", handle, callId]` (checked absent, so
 *    a concurrent duplicate loses cleanly), the claim (checked unchanged,
 *    then deleted), the call log record rewritten with decision "voicemail",
 *    and the stats. The meta expires no later than any of its chunks.
 * A meta exists only for a complete upload; chunks of an incomplete one are
 * never read and expire.
 */
import type { CallLogRecord } from "./call_types.ts";
import { keys } from "./keys.ts";
import {
  addVoicemailStats,
  changeDecision,
  removeVoicemailStats,
} from "./stats.ts";

/** KV values are at most 64 KiB; stay well below with headroom. */
export const CHUNK_BYTES = 60 * 1024;
/** 10 × 60 KiB keeps each atomic far below KV's ~800 KiB limit. */
export const CHUNKS_PER_ATOMIC = 10;
/** How long an upload claim blocks a different envelope for the same call. */
export const UPLOAD_CLAIM_MS = 10 * 60_000;

export interface VoicemailMeta {
  callId: string;
  createdAt: number;
  size: number;
  chunks: number;
  /** SHA-256 hex of the envelope bytes. */
  sha256: string;
  read: boolean;
}

export interface StoreVoicemailInput {
  handle: string;
  callId: string;
  /** The envelope JSON exactly as received. */
  bytes: Uint8Array;
  sha256: string;
  retentionMs: number;
  /** When the call ended and how long its log is kept: the log's expiry. */
  callEndedAt: number;
  callLogRetentionMs: number;
}

export type StoreVoicemailResult =
  | { ok: true; created: boolean; meta: VoicemailMeta }
  | { ok: false; code: "voicemail_exists" | "upload_in_progress" };

interface UploadClaim {
  /** The bytes being uploaded, or "deleted" after the owner deleted it. */
  sha256: string;
}

/**
 * After a delete, the claim stays as a tombstone so a caller's retry cannot
 * bring the voicemail back; longer than any call record lives.
 */
export const DELETED_TOMBSTONE_MS = 24 * 3600_000;

/** A call-log record whose decision may also be "voicemail". */
type LogRecord = Omit<CallLogRecord, "decision"> & {
  decision: CallLogRecord["decision"] | "voicemail";
};

function existing(
  meta: VoicemailMeta,
  sha256: string,
): StoreVoicemailResult {
  return meta.sha256 === sha256
    ? { ok: true, created: false, meta }
    : { ok: false, code: "voicemail_exists" };
}

export async function storeVoicemail(
  kv: Deno.Kv,
  input: StoreVoicemailInput,
  clock: () => number = Date.now,
): Promise<StoreVoicemailResult> {
  const { handle, callId, bytes, sha256, retentionMs } = input;
  const metaKey = keys.voicemail(handle, callId);
  const claimKey = keys.voicemailUpload(handle, callId);
  for (let attempt = 0; attempt < 5; attempt++) {
    const meta = await kv.get<VoicemailMeta>(metaKey);
    if (meta.value) return existing(meta.value, sha256);

    // 1. Claim the upload (or join a claim for the same bytes).
    let claim = await kv.get<UploadClaim>(claimKey);
    let mine = false;
    if (claim.value?.sha256 === "deleted") {
      return { ok: false, code: "voicemail_exists" };
    }
    if (claim.value && claim.value.sha256 !== sha256) {
      return { ok: false, code: "upload_in_progress" };
    }
    if (!claim.value) {
      const res = await kv.atomic()
        .check(claim)
        .set(claimKey, { sha256 } satisfies UploadClaim, {
          expireIn: UPLOAD_CLAIM_MS,
        })
        .commit();
      if (!res.ok) continue;
      claim = await kv.get<UploadClaim>(claimKey);
      if (claim.versionstamp !== res.versionstamp) continue;
      mine = true;
    }
    let done = false;
    try {
      // 2. The chunks, in batches.
      const createdAt = clock();
      const chunks = Math.max(1, Math.ceil(bytes.length / CHUNK_BYTES));
      for (let first = 0; first < chunks; first += CHUNKS_PER_ATOMIC) {
        const op = kv.atomic();
        const last = Math.min(chunks, first + CHUNKS_PER_ATOMIC);
        for (let i = first; i < last; i++) {
          op.set(
            keys.voicemailChunk(handle, callId, i),
            bytes.slice(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES),
            { expireIn: retentionMs },
          );
        }
        if (!(await op.commit()).ok) throw new Error("chunk write failed");
      }

      // 3. The meta, last, with the call log and stats.
      const record: VoicemailMeta = {
        callId,
        createdAt,
        size: bytes.length,
        chunks,
        sha256,
        read: false,
      };
      const now = clock();
      const logEntry = await kv.get<LogRecord>(keys.callLog(callId));
      const op = kv.atomic()
        .check({ key: metaKey, versionstamp: null })
        .check(claim)
        .set(metaKey, record, {
          // Never outlive the first chunk, written at or after createdAt.
          expireIn: Math.max(1, createdAt + retentionMs - now),
        })
        .delete(claimKey);
      const log = logEntry.value;
      if (log && log.decision !== "voicemail") {
        op.check(logEntry).set(
          keys.callLog(callId),
          { ...log, decision: "voicemail" } satisfies LogRecord,
          {
            // Expire with the log's by-callee index, written when it ended.
            expireIn: Math.max(
              1,
              input.callEndedAt + input.callLogRetentionMs - now,
            ),
          },
        );
        changeDecision(op, log as CallLogRecord, "voicemail");
      }
      addVoicemailStats(op, bytes.length);
      if ((await op.commit()).ok) {
        done = true;
        return { ok: true, created: true, meta: record };
      }
      const after = await kv.get<VoicemailMeta>(metaKey);
      if (after.value) {
        done = true;
        return existing(after.value, sha256);
      }
    } finally {
      // Release a claim this upload made, unless it completed (the commit
      // deleted it then) or someone else's replaced it.
      if (!done && mine) {
        await kv.atomic().check(claim).delete(claimKey).commit();
      }
    }
  }
  throw new Error("voicemail upload kept conflicting");
}

export async function getVoicemailMeta(
  kv: Deno.Kv,
  handle: string,
  callId: string,
): Promise<VoicemailMeta | null> {
  return (await kv.get<VoicemailMeta>(keys.voicemail(handle, callId))).value;
}

export async function listVoicemails(
  kv: Deno.Kv,
  handle: string,
): Promise<VoicemailMeta[]> {
  const out: VoicemailMeta[] = [];
  for await (
    const e of kv.list<VoicemailMeta>({ prefix: keys.voicemailPrefix(handle) })
  ) {
    out.push(e.value);
  }
  return out;
}

/**
 * The envelope's exact bytes, reassembled; null when there is no complete
 * voicemail (or a chunk has already expired, or the bytes do not match).
 */
export async function readVoicemail(
  kv: Deno.Kv,
  handle: string,
  callId: string,
): Promise<Uint8Array | null> {
  const meta = await getVoicemailMeta(kv, handle, callId);
  if (!meta) return null;
  const out = new Uint8Array(meta.size);
  let at = 0;
  for (let first = 0; first < meta.chunks; first += 10) {
    const ks = [];
    for (let i = first; i < Math.min(meta.chunks, first + 10); i++) {
      ks.push(keys.voicemailChunk(handle, callId, i));
    }
    for (const e of await kv.getMany<Uint8Array[]>(ks)) {
      const v = e.value;
      if (!(v instanceof Uint8Array) || at + v.length > out.length) return null;
      out.set(v, at);
      at += v.length;
    }
  }
  if (at !== meta.size) return null;
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", out as BufferSource),
  ).toHex();
  return digest === meta.sha256 ? out : null;
}

/** Marks a voicemail read; false when there is none. */
export async function markVoicemailRead(
  kv: Deno.Kv,
  handle: string,
  callId: string,
  retentionMs: number,
  now = Date.now(),
): Promise<boolean> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const entry = await kv.get<VoicemailMeta>(keys.voicemail(handle, callId));
    if (!entry.value) return false;
    if (entry.value.read) return true;
    const left = entry.value.createdAt + retentionMs - now;
    if (left <= 0) return false;
    const res = await kv.atomic().check(entry)
      .set(entry.key, { ...entry.value, read: true }, { expireIn: left })
      .commit();
    if (res.ok) return true;
  }
  return false;
}

/** Deletes the meta (with the stats), then every chunk; false when none. */
export async function deleteVoicemail(
  kv: Deno.Kv,
  handle: string,
  callId: string,
): Promise<boolean> {
  let deleted = false;
  for (let attempt = 0; attempt < 5 && !deleted; attempt++) {
    const entry = await kv.get<VoicemailMeta>(keys.voicemail(handle, callId));
    if (!entry.value) return false;
    const op = kv.atomic().check(entry).delete(entry.key)
      .set(
        keys.voicemailUpload(handle, callId),
        { sha256: "deleted" } satisfies UploadClaim,
        { expireIn: DELETED_TOMBSTONE_MS },
      );
    removeVoicemailStats(op, entry.value.size);
    deleted = (await op.commit()).ok;
  }
  if (!deleted) return false;
  let op = kv.atomic();
  let n = 0;
  for await (
    const e of kv.list({ prefix: keys.voicemailChunkPrefix(handle, callId) })
  ) {
    op.delete(e.key);
    if (++n % 100 === 0) {
      await op.commit();
      op = kv.atomic();
    }
  }
  if (n % 100) await op.commit();
  return true;
}
