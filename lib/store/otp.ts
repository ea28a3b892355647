/**
 * Pending phone verification codes (lib/phone/otp.ts has the rules): one
 * OtpRecord per (handle, HMAC of the number), expiring with its code. Every
 * write checks the version that was read, so two concurrent starts or
 * guesses cannot both act on the same record; a `false` from a write means
 * "someone else changed it: read again".
 */
import { keys } from "./keys.ts";

/** What KV holds per (handle, number). */
export interface OtpRecord {
  /** HMAC-SHA-256(hmacKey, salt, handle, number hash, code), hex. Empty once burned. */
  codeHash: string;
  /** 16 random bytes, hex, fresh for every code. */
  salt: string;
  /** When the code was issued (ms since the epoch). */
  sentAt: number;
  /** When the code stops being accepted (ms since the epoch). */
  expiresAt: number;
  /** Wrong codes so far. */
  attempts: number;
}

/** A record as read, with the version a later write must still find. */
export interface OtpEntry {
  handle: string;
  phoneHash: string;
  record: OtpRecord | null;
  versionstamp: string | null;
}

export async function readOtp(
  kv: Deno.Kv,
  handle: string,
  phoneHash: string,
): Promise<OtpEntry> {
  const e = await kv.get<OtpRecord>(keys.phoneOtp(handle, phoneHash));
  return { handle, phoneHash, record: e.value, versionstamp: e.versionstamp };
}

/**
 * Replaces the record read as `read` with `next`, kept for `expireInMs`;
 * false when it changed in between.
 */
export async function writeOtp(
  kv: Deno.Kv,
  read: OtpEntry,
  next: OtpRecord,
  expireInMs: number,
): Promise<boolean> {
  const key = keys.phoneOtp(read.handle, read.phoneHash);
  const res = await kv.atomic()
    .check({ key, versionstamp: read.versionstamp })
    .set(key, next, { expireIn: Math.max(1, expireInMs) })
    .commit();
  return res.ok;
}

/** Deletes the record read as `read` (a code used once); false when it changed in between. */
export async function consumeOtp(
  kv: Deno.Kv,
  read: OtpEntry,
): Promise<boolean> {
  const key = keys.phoneOtp(read.handle, read.phoneHash);
  const res = await kv.atomic()
    .check({ key, versionstamp: read.versionstamp })
    .delete(key)
    .commit();
  return res.ok;
}
