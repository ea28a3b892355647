/**
 * Sign-In With Solana verification (server side).
 *
 * `verifySiws` checks a signed SIWS message against what this server expects
 * (domain, URI, chain, clock) and verifies the ed25519 signature in strict
 * mode (RFC 8032 with canonical encodings, small-order keys rejected; ZIP-215
 * off). It does NOT look at nonce storage: on success the caller must consume
 * `fields.nonce` atomically (see `lib/store/nonces.ts`) before trusting it.
 *
 * The message format, caps and parser live in `siws_message.ts` (browser-safe)
 * and are re-exported here.
 */
import * as ed from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha2.js";
import { base58 } from "@scure/base";
import {
  fail,
  parseSiwsMessage,
  parseSiwsTimestamp,
  type SiwsFailure,
  type SiwsFields,
} from "./siws_message.ts";

export {
  formatSiwsMessage,
  parseSiwsMessage,
  parseSiwsTimestamp,
  SIWS_HEADER_SUFFIX,
  SIWS_LIMITS,
  type SiwsErrorCode,
  type SiwsFailure,
  type SiwsFields,
  SiwsFormatError,
  type SiwsParseResult,
  validateSiwsFields,
} from "./siws_message.ts";

// @noble/ed25519 v3 has no bundled sync SHA-512; plug in @noble/hashes.
ed.hashes.sha512 = sha512;

/** Default tolerance between the message's Issued At and the server clock. */
export const DEFAULT_MAX_SKEW_MS = 10 * 60 * 1000;

const PUBLIC_KEY_BYTES = 32;
const SIGNATURE_BYTES = 64;
// Longest base58 text that can still decode to the expected length (leading
// '1's each add a zero byte); anything longer is rejected without decoding.
const MAX_KEY_CHARS = 44;
const MAX_SIGNATURE_CHARS = 88;

/** What the client sends after the wallet signed. */
export interface SiwsSubmission {
  /** The exact signed SIWS text. */
  message: string;
  /** Base58 ed25519 signature (64 bytes) over the UTF-8 bytes of `message`. */
  signature: string;
  /** Base58 ed25519 public key (32 bytes); must equal the message address. */
  publicKey: string;
}

/** What this server expects of the message. */
export interface SiwsExpected {
  /** Must equal the message domain exactly (e.g. `reach.example:443`). */
  domain: string;
  /** Must equal the message URI exactly. */
  uri: string;
  /** Must equal the message Chain ID exactly (e.g. `mainnet`). */
  chainId: string;
  /** Server clock; defaults to `new Date()`. */
  now?: Date;
  /** Allowed |Issued At − now|; default 10 minutes. */
  maxSkewMs?: number;
  /** Require an Expiration Time line; default true. */
  requireExpiration?: boolean;
}

export type SiwsVerifyResult =
  | {
    ok: true;
    /** Parsed fields; the caller must consume `fields.nonce` atomically. */
    fields: SiwsFields;
    /** The verified key, canonical base58 (equals `fields.address`). */
    publicKey: string;
    /** The verified key bytes. */
    publicKeyBytes: Uint8Array;
  }
  | SiwsFailure;

function decodeBase58(text: string): Uint8Array | undefined {
  try {
    return base58.decode(text);
  } catch {
    return undefined;
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

const encoder = new TextEncoder();

/**
 * Verifies a signed SIWS submission. Checks, in order: message text and caps,
 * key and signature encoding and length, address = key, domain, URI, chain,
 * Issued At within ±maxSkewMs of now, Expiration Time (present if required,
 * after Issued At, in the future), Not Before passed, then the strict ed25519
 * signature over the UTF-8 bytes of the exact text. Never throws.
 */
export function verifySiws(
  submission: SiwsSubmission,
  expected: SiwsExpected,
): SiwsVerifyResult {
  const { message, signature, publicKey } = submission ?? {};
  const parsed = parseSiwsMessage(message);
  if (!parsed.ok) return parsed;
  const fields = parsed.fields;

  if (typeof publicKey !== "string" || publicKey.length > MAX_KEY_CHARS) {
    return fail(
      "bad_key_length",
      "The public key is not a 32-byte Solana address.",
    );
  }
  const keyBytes = decodeBase58(publicKey);
  if (!keyBytes || publicKey === "") {
    return fail("bad_base58", "The public key is not valid base58 text.");
  }
  if (keyBytes.length !== PUBLIC_KEY_BYTES) {
    return fail(
      "bad_key_length",
      "The public key is not a 32-byte Solana address.",
    );
  }
  if (typeof signature !== "string" || signature.length > MAX_SIGNATURE_CHARS) {
    return fail(
      "bad_signature_length",
      "The signature is not a 64-byte ed25519 signature.",
    );
  }
  const sigBytes = decodeBase58(signature);
  if (!sigBytes || signature === "") {
    return fail("bad_base58", "The signature is not valid base58 text.");
  }
  if (sigBytes.length !== SIGNATURE_BYTES) {
    return fail(
      "bad_signature_length",
      "The signature is not a 64-byte ed25519 signature.",
    );
  }

  const addressBytes = decodeBase58(fields.address);
  if (!addressBytes || addressBytes.length !== PUBLIC_KEY_BYTES) {
    return fail(
      "bad_address",
      "The address in the sign-in message is not a 32-byte Solana address.",
      "address",
    );
  }
  if (!bytesEqual(addressBytes, keyBytes)) {
    return fail(
      "address_mismatch",
      "The address in the sign-in message is not the key that signed it.",
      "address",
    );
  }

  if (fields.domain !== expected.domain) {
    return fail(
      "wrong_domain",
      "The sign-in message was made for a different site.",
      "domain",
    );
  }
  if (fields.uri !== expected.uri) {
    return fail(
      "wrong_uri",
      "The sign-in message was made for a different address on this site.",
      "uri",
    );
  }
  if (fields.chainId !== expected.chainId) {
    return fail(
      "wrong_chain",
      "The sign-in message was made for a different Solana network.",
      "chainId",
    );
  }

  const now = (expected.now ?? new Date()).getTime();
  const maxSkew = expected.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
  if (!Number.isFinite(now) || !(maxSkew >= 0)) {
    return fail("malformed", "The server's sign-in settings are invalid.");
  }
  // parseSiwsMessage already validated every timestamp present.
  const issuedAt = parseSiwsTimestamp(fields.issuedAt)!;
  if (Math.abs(issuedAt - now) > maxSkew) {
    return fail(
      "issued_at_skew",
      issuedAt < now
        ? "The sign-in message is too old; please sign in again."
        : "The sign-in message is dated in the future; check your device clock.",
      "issuedAt",
    );
  }
  if (fields.expirationTime === undefined) {
    if (expected.requireExpiration ?? true) {
      return fail(
        "missing_expiration",
        "The sign-in message has no expiration time.",
        "expirationTime",
      );
    }
  } else {
    const expiration = parseSiwsTimestamp(fields.expirationTime)!;
    if (expiration <= issuedAt) {
      return fail(
        "expiration_before_issued_at",
        "The sign-in message expires before it was issued.",
        "expirationTime",
      );
    }
    if (expiration <= now) {
      return fail(
        "expired",
        "The sign-in message has expired; please sign in again.",
        "expirationTime",
      );
    }
  }
  if (fields.notBefore !== undefined) {
    const notBefore = parseSiwsTimestamp(fields.notBefore)!;
    if (notBefore > now) {
      return fail(
        "not_yet_valid",
        "The sign-in message is not valid yet.",
        "notBefore",
      );
    }
  }

  let valid = false;
  try {
    valid = ed.verify(sigBytes, encoder.encode(message), keyBytes, {
      zip215: false,
    });
  } catch {
    valid = false;
  }
  if (!valid) {
    return fail(
      "bad_signature",
      "The signature does not match the sign-in message and key.",
    );
  }
  return {
    ok: true,
    fields,
    publicKey: base58.encode(keyBytes),
    publicKeyBytes: keyBytes,
  };
}
