/**
 * One-time verification codes for phone binding, as a small state machine in
 * Deno KV, one record per (handle, number):
 *
 *   startVerification: none/expired/cooled-down -> pending (new code, 0 attempts)
 *   checkVerification: pending + right code      -> deleted (single use)
 *                      pending + wrong code      -> attempts + 1; the 5th
 *                                                   wrong code burns it
 *
 * Neither the number nor the code is stored in clear: the record's key holds
 * an HMAC of the number, the record holds a salted HMAC of the code, and the
 * rate-limit counters are keyed by the same number HMAC and by an HMAC of the
 * client key. Every write is an atomic check on the version read, so two
 * concurrent guesses cannot both spend the same attempt.
 */
import { hmacHex } from "../crypto/hash.ts";
import { keys } from "../store/keys.ts";
import { hitRate } from "../store/rate.ts";

/** Digits in a code. */
export const CODE_DIGITS = 6;
/** How long a code is good for. */
export const CODE_TTL_MS = 10 * 60_000;
/** How long before the same (handle, number) may ask for another code. */
export const RESEND_COOLDOWN_MS = 60_000;
/** Wrong codes allowed before the code is burned. */
export const MAX_ATTEMPTS = 5;
/** Fixed-window limits on codes sent, per hour. */
export const RATE_WINDOW_MS = 3600_000;
export const LIMIT_PER_NUMBER = 5;
export const LIMIT_PER_HANDLE = 10;
export const LIMIT_PER_CLIENT = 20;

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

export interface OtpKeys {
  /** The server's 32-byte HMAC key (config.hmacKey). */
  hmacKey: Uint8Array;
}

export type StartResult =
  | { ok: true; code: string; resendAfterMs: number; expiresAt: number }
  | { ok: false; code: "cooldown" | "rate_limited"; retryAfterMs: number };

export type CheckResult =
  | { ok: true }
  | {
    ok: false;
    code: "no_code" | "expired" | "wrong_code" | "too_many_attempts";
    attemptsLeft?: number;
  };

const CODE_SPACE = 10 ** CODE_DIGITS;
/** The largest multiple of CODE_SPACE a Uint32 can hold: draws at or above it are redrawn. */
const UNBIASED_LIMIT = Math.floor(2 ** 32 / CODE_SPACE) * CODE_SPACE;

/**
 * A uniformly random 6-digit code (leading zeros kept). Draws 32-bit values
 * and rejects those at or above the largest multiple of 10^6, so the modulo
 * that follows has no bias. `fill` is crypto.getRandomValues unless a test
 * substitutes it.
 */
export function generateCode(
  fill: (buf: Uint32Array) => Uint32Array = (b) => crypto.getRandomValues(b),
): string {
  const buf = new Uint32Array(1);
  for (;;) {
    const x = fill(buf)[0];
    if (x < UNBIASED_LIMIT) {
      return String(x % CODE_SPACE).padStart(CODE_DIGITS, "0");
    }
  }
}

/** The HMAC that names a number in keys; never the number itself. */
export function otpPhoneHash(hmacKey: Uint8Array, e164: string) {
  return hmacHex(hmacKey, "otp-phone", e164);
}

function codeHash(
  hmacKey: Uint8Array,
  rec: { salt: string },
  handle: string,
  phoneHash: string,
  code: string,
) {
  return hmacHex(
    hmacKey,
    "otp-code",
    `${rec.salt}\u0000${handle}\u0000${phoneHash}\u0000${code}`,
  );
}

/** Equal-length comparison that looks at every byte whatever it finds. */
function timingSafeEqualHex(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  const n = Math.max(x.length, y.length);
  for (let i = 0; i < n; i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/**
 * Issues a new code for (handle, number), unless one was issued less than a
 * minute ago or a rate limit says no. The caller delivers `code` (and must
 * not log it). `clientKey` is an opaque identifier of the requester (e.g. an
 * HMAC of its address); it is hashed again before it is used in a key.
 */
export async function startVerification(
  kv: Deno.Kv,
  secrets: OtpKeys,
  input: { handle: string; e164: string; clientKey: string; now?: number },
): Promise<StartResult> {
  const now = input.now ?? Date.now();
  const phoneHash = await otpPhoneHash(secrets.hmacKey, input.e164);
  const key = keys.phoneOtp(input.handle, phoneHash);

  const cooling = (rec: OtpRecord | null) =>
    rec && now < rec.sentAt + RESEND_COOLDOWN_MS
      ? rec.sentAt + RESEND_COOLDOWN_MS - now
      : 0;

  let entry = await kv.get<OtpRecord>(key);
  const wait = cooling(entry.value);
  if (wait > 0) return { ok: false, code: "cooldown", retryAfterMs: wait };

  // The broadest subject first: a refused client spends nobody else's budget.
  const clientHash = await hmacHex(
    secrets.hmacKey,
    "otp-client",
    input.clientKey,
  );
  const limits: [string, string, number][] = [
    ["otp_client", clientHash, LIMIT_PER_CLIENT],
    ["otp_handle", input.handle, LIMIT_PER_HANDLE],
    ["otp_number", phoneHash, LIMIT_PER_NUMBER],
  ];
  for (const [scope, subject, limit] of limits) {
    const r = await hitRate(kv, scope, subject, limit, RATE_WINDOW_MS, now);
    if (!r.ok) {
      return { ok: false, code: "rate_limited", retryAfterMs: r.retryAfterMs };
    }
  }

  for (;;) {
    const code = generateCode();
    const salt = crypto.getRandomValues(new Uint8Array(16)).toHex();
    const rec: OtpRecord = {
      codeHash: await codeHash(
        secrets.hmacKey,
        { salt },
        input.handle,
        phoneHash,
        code,
      ),
      salt,
      sentAt: now,
      expiresAt: now + CODE_TTL_MS,
      attempts: 0,
    };
    const res = await kv.atomic().check(entry).set(key, rec, {
      expireIn: CODE_TTL_MS,
    }).commit();
    if (res.ok) {
      return {
        ok: true,
        code,
        resendAfterMs: RESEND_COOLDOWN_MS,
        expiresAt: rec.expiresAt,
      };
    }
    // Someone wrote the record in between: usually a concurrent start.
    entry = await kv.get<OtpRecord>(key);
    const again = cooling(entry.value);
    if (again > 0) return { ok: false, code: "cooldown", retryAfterMs: again };
  }
}

/**
 * Checks a code for (handle, number). A right code succeeds once and deletes
 * the record; each wrong one costs an attempt, and the fifth burns the code.
 */
export async function checkVerification(
  kv: Deno.Kv,
  secrets: OtpKeys,
  input: { handle: string; e164: string; code: string; now?: number },
): Promise<CheckResult> {
  const now = input.now ?? Date.now();
  const phoneHash = await otpPhoneHash(secrets.hmacKey, input.e164);
  const key = keys.phoneOtp(input.handle, phoneHash);
  for (;;) {
    const entry = await kv.get<OtpRecord>(key);
    const rec = entry.value;
    if (!rec) return { ok: false, code: "no_code" };
    if (now >= rec.expiresAt) return { ok: false, code: "expired" };
    if (rec.attempts >= MAX_ATTEMPTS || !rec.codeHash) {
      return { ok: false, code: "too_many_attempts", attemptsLeft: 0 };
    }
    // Hash whatever was typed, well-formed or not, so every check costs the same.
    const given = await codeHash(
      secrets.hmacKey,
      rec,
      input.handle,
      phoneHash,
      input.code,
    );
    const right = timingSafeEqualHex(given, rec.codeHash) &&
      /^[0-9]{6}$/.test(input.code);
    if (right) {
      const res = await kv.atomic().check(entry).delete(key).commit();
      if (res.ok) return { ok: true };
      continue; // Raced another check: look again (it may have used the code).
    }
    const attempts = rec.attempts + 1;
    const burned = attempts >= MAX_ATTEMPTS;
    const next: OtpRecord = burned
      ? { ...rec, codeHash: "", attempts }
      : { ...rec, attempts };
    const res = await kv.atomic().check(entry).set(key, next, {
      expireIn: Math.max(1, rec.expiresAt - now),
    }).commit();
    if (!res.ok) continue;
    return burned
      ? { ok: false, code: "too_many_attempts", attemptsLeft: 0 }
      : {
        ok: false,
        code: "wrong_code",
        attemptsLeft: MAX_ATTEMPTS - attempts,
      };
  }
}
