/**
 * One-time verification codes for phone binding, as a small state machine in
 * Deno KV, one record per (handle, number):
 *
 *   startVerification: none/expired/cooled-down -> pending (new code, 0 attempts)
 *   checkVerification: pending + right code      -> deleted (single use)
 *                      pending + wrong code      -> attempts + 1; the 5th
 *                                                   wrong code burns it
 *
 * Codes sent are limited (lib/limits.ts) per requesting address
 * (otpPerAddress), per (handle, number) (otpPerHandleNumber), per handle
 * across numbers (OTP_PER_HANDLE) and, higher, per number whoever asks
 * (otpPerNumber). The shared per-number cap is counted last, so a request
 * refused by its own budgets spends none of it, and strangers asking for
 * someone's number spend their own (handle, number) budgets, never the
 * owner's.
 *
 * Neither the number nor the code is stored in clear: the record's key holds
 * an HMAC of the number, the record holds a salted HMAC of the code, and the
 * rate-limit counters are keyed by the same number HMAC and by the keyed hash
 * of the client's address. The records live in lib/store/otp.ts, whose every
 * write is an atomic check on the version read, so two concurrent guesses
 * cannot both spend the same attempt.
 */
import { hmacHex } from "../crypto/hash.ts";
import type { Failure } from "../http.ts";
import { type Charge, spend } from "../limit_check.ts";
import { log } from "../log.ts";
import { defaultLimits, type LimitName, type Limits } from "../limits.ts";
import {
  consumeOtp,
  type OtpEntry,
  type OtpRecord,
  readOtp,
  writeOtp,
} from "../store/otp.ts";
import { hitRate } from "../store/rate.ts";

export type { OtpRecord };

/** Digits in a code. */
export const CODE_DIGITS = 6;
/** How long a code is good for. */
export const CODE_TTL_MS = 10 * 60_000;
/** How long before the same (handle, number) may ask for another code. */
export const RESEND_COOLDOWN_MS = 60_000;
/** Wrong codes allowed before the code is burned. */
export const MAX_ATTEMPTS = 5;
/**
 * Codes one handle may have sent per hour, to all its numbers together.
 * (Not yet a setting in lib/limits.ts.)
 */
export const OTP_PER_HANDLE = 10;
export const OTP_PER_HANDLE_WINDOW_MS = 3600_000;

export interface OtpKeys {
  /** The server's 32-byte HMAC key (config.hmacKey). */
  hmacKey: Uint8Array;
  /** config.limits; the defaults when absent. */
  limits?: Limits;
}

/** Which budget refused a code. */
export type OtpLimit =
  | Extract<
    LimitName,
    "otpPerAddress" | "otpPerHandleNumber" | "otpPerNumber"
  >
  | "otpPerHandle";

export type StartResult =
  | { ok: true; code: string; resendAfterMs: number; expiresAt: number }
  | Failure<"cooldown"> & { retryAfterMs: number }
  | Failure<"rate_limited"> & {
    retryAfterMs: number;
    limit: OtpLimit;
    /** The refusing limit's value. */
    max: number;
  };

export type CheckResult =
  | { ok: true }
  | Failure<"no_code" | "expired" | "wrong_code" | "too_many_attempts"> & {
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
 * not log it). `address` is the requester's `addressSubject` (a keyed hash of
 * its address, lib/client_address.ts), never the address itself.
 */
export async function startVerification(
  kv: Deno.Kv,
  secrets: OtpKeys,
  input: { handle: string; e164: string; address: string; now?: number },
): Promise<StartResult> {
  const now = input.now ?? Date.now();
  const limits = secrets.limits ?? defaultLimits();
  const phoneHash = await otpPhoneHash(secrets.hmacKey, input.e164);

  const cooling = (rec: OtpRecord | null) =>
    rec && now < rec.sentAt + RESEND_COOLDOWN_MS
      ? rec.sentAt + RESEND_COOLDOWN_MS - now
      : 0;

  let entry: OtpEntry = await readOtp(kv, input.handle, phoneHash);
  const wait = cooling(entry.record);
  if (wait > 0) return { ok: false, code: "cooldown", retryAfterMs: wait };

  // The requester's own budgets first, the number's shared cap last: a
  // request refused by its own budget spends nobody else's.
  const own: Charge[] = [
    { limit: "otpPerAddress", subject: input.address },
    { limit: "otpPerHandleNumber", subject: `${input.handle}:${phoneHash}` },
  ];
  const first = await spend(kv, limits, own, { now });
  if (!first.ok) {
    return {
      ok: false,
      code: "rate_limited",
      retryAfterMs: first.retryAfterMs,
      limit: first.limit as OtpLimit,
      max: first.max,
    };
  }
  const perHandle = await hitRate(
    kv,
    "otpPerHandle",
    input.handle,
    OTP_PER_HANDLE,
    OTP_PER_HANDLE_WINDOW_MS,
    now,
  );
  if (!perHandle.ok) {
    log("rate_limited", { kind: "otpPerHandle" });
    return {
      ok: false,
      code: "rate_limited",
      retryAfterMs: perHandle.retryAfterMs,
      limit: "otpPerHandle",
      max: OTP_PER_HANDLE,
    };
  }
  const shared = await spend(kv, limits, [
    { limit: "otpPerNumber", subject: phoneHash },
  ], { now });
  if (!shared.ok) {
    return {
      ok: false,
      code: "rate_limited",
      retryAfterMs: shared.retryAfterMs,
      limit: "otpPerNumber",
      max: shared.max,
    };
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
    if (await writeOtp(kv, entry, rec, CODE_TTL_MS)) {
      return {
        ok: true,
        code,
        resendAfterMs: RESEND_COOLDOWN_MS,
        expiresAt: rec.expiresAt,
      };
    }
    // Someone wrote the record in between: usually a concurrent start.
    entry = await readOtp(kv, input.handle, phoneHash);
    const again = cooling(entry.record);
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
  for (;;) {
    const entry = await readOtp(kv, input.handle, phoneHash);
    const rec = entry.record;
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
      if (await consumeOtp(kv, entry)) return { ok: true };
      continue; // Raced another check: look again (it may have used the code).
    }
    const attempts = rec.attempts + 1;
    const burned = attempts >= MAX_ATTEMPTS;
    const next: OtpRecord = burned
      ? { ...rec, codeHash: "", attempts }
      : { ...rec, attempts };
    if (!(await writeOtp(kv, entry, next, rec.expiresAt - now))) continue;
    return burned
      ? { ok: false, code: "too_many_attempts", attemptsLeft: 0 }
      : {
        ok: false,
        code: "wrong_code",
        attemptsLeft: MAX_ATTEMPTS - attempts,
      };
  }
}
