/**
 * Handle attestations: the server's signed statement that a handle belongs
 * to a wallet key, so that a callee's browser can check a sealed caller
 * identity (lib/identity/sealed_ring.ts) without asking the server who
 * `@alice` is (asking would tell the server who called).
 *
 * Text (signed as its UTF-8 bytes, lines joined with "\n", no trailing
 * newline):
 *   Reach handle attestation v1
 *   handle: <handle>
 *   wallet: <base58 wallet public key>
 *   issued: <ISO time>
 *   expires: <ISO time>
 *
 * The server's attestation key is an Ed25519 key whose 32-byte seed is
 * HMAC-SHA-256(server secret, UTF-8 "reach handle attestation v1"), so it
 * follows from a secret the server already keeps and needs no storage of
 * its own; its public key (base58) is published to browsers.
 *
 * Browser-safe: WebCrypto (HMAC, Ed25519 verification, as
 * lib/identity/device_cert.ts), @noble/ed25519's async API (signing, which
 * hashes with WebCrypto SHA-512) and @scure/base. No Deno APIs.
 */
import * as ed from "@noble/ed25519";
import { base58 } from "@scure/base";
import { base58Decode, ed25519Verify } from "./device_cert.ts";

export interface HandleAttestation {
  handle: string;
  wallet: string;
  issued: string;
  expires: string;
}

const HEADER = "Reach handle attestation v1";
const SEED_INFO = "reach handle attestation v1";
const DAY_MS = 86_400_000;
/** How far in the future `issued` may be: the clocks' disagreement. */
const SKEW_MS = 10 * 60_000;

/** The longest attestation text and signature anyone accepts. */
export const ATTESTATION_LIMITS = {
  /** The whole text, in UTF-16 code units. */
  maxTextChars: 512,
  /** A base58 signature (64 bytes are at most 88 characters). */
  maxSigChars: 128,
  /** The default validity, in days. */
  defaultDays: 30,
} as const;

const utf8 = new TextEncoder();

export function attestationText(a: HandleAttestation): string {
  return [
    HEADER,
    `handle: ${a.handle}`,
    `wallet: ${a.wallet}`,
    `issued: ${a.issued}`,
    `expires: ${a.expires}`,
  ].join("\n");
}

/** The fields of an attestation text, or null unless it has exactly them. */
export function parseAttestation(text: string): HandleAttestation | null {
  if (typeof text !== "string") return null;
  const lines = text.split("\n");
  const names = ["handle", "wallet", "issued", "expires"];
  if (lines.length !== names.length + 1 || lines[0] !== HEADER) return null;
  const f: string[] = [];
  for (let i = 0; i < names.length; i++) {
    const prefix = `${names[i]}: `;
    const line = lines[i + 1];
    if (!line.startsWith(prefix) || line.length === prefix.length) return null;
    f.push(line.slice(prefix.length));
  }
  return { handle: f[0], wallet: f[1], issued: f[2], expires: f[3] };
}

/**
 * The attestation key's Ed25519 seed: HMAC-SHA-256(hmacKey, UTF-8
 * "reach handle attestation v1"). `hmacKey` is a server secret of at least
 * 16 bytes.
 */
export async function attestationSeed(
  hmacKey: Uint8Array,
): Promise<Uint8Array> {
  if (!(hmacKey instanceof Uint8Array) || hmacKey.length < 16) {
    throw new TypeError("the attestation HMAC key must be at least 16 bytes");
  }
  const key = await crypto.subtle.importKey(
    "raw",
    hmacKey as BufferSource,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(
    await crypto.subtle.sign("HMAC", key, utf8.encode(SEED_INFO)),
  );
}

/** The base58 Ed25519 public key of an attestation seed. */
export async function attestationPublicKey(seed: Uint8Array): Promise<string> {
  return base58.encode(await ed.getPublicKeyAsync(seed));
}

const TOKEN_RE = /^[\x21-\x7e]+$/;

/**
 * Signs that `handle` belongs to `wallet` from `issued` for `days` (default
 * 30). Throws TypeError for a handle that is not printable ASCII without
 * space, a wallet that is not a base58 32-byte key, an invalid date or a
 * non-positive number of days.
 */
export async function signAttestation(
  seed: Uint8Array,
  a: { handle: string; wallet: string; issued: Date; days?: number },
): Promise<{ text: string; sig: string }> {
  const days = a.days ?? ATTESTATION_LIMITS.defaultDays;
  if (typeof a.handle !== "string" || !TOKEN_RE.test(a.handle)) {
    throw new TypeError("the handle must be printable ASCII without space");
  }
  let walletBytes = 0;
  try {
    walletBytes = base58Decode(a.wallet).length;
  } catch { /* reported below */ }
  if (
    typeof a.wallet !== "string" || !TOKEN_RE.test(a.wallet) ||
    walletBytes !== 32
  ) {
    throw new TypeError("the wallet must be a base58 32-byte public key");
  }
  const issued = a.issued?.getTime?.();
  if (typeof issued !== "number" || !Number.isFinite(issued)) {
    throw new TypeError("issued must be a valid Date");
  }
  if (!Number.isFinite(days) || days <= 0) {
    throw new TypeError("days must be a positive number");
  }
  const text = attestationText({
    handle: a.handle,
    wallet: a.wallet,
    issued: new Date(issued).toISOString(),
    expires: new Date(issued + days * DAY_MS).toISOString(),
  });
  if (text.length > ATTESTATION_LIMITS.maxTextChars) {
    throw new TypeError("the attestation is too long");
  }
  const sig = await ed.signAsync(utf8.encode(text), seed);
  return { text, sig: base58.encode(sig) };
}

export type AttestationVerdict =
  | { ok: true; handle: string; wallet: string }
  | { ok: false; reason: string };

/**
 * Checks an attestation against the server's attestation key (base58): the
 * text has the format, the signature is the key's over it, and it is
 * current (issued at most 10 minutes after `now`, `now` before expires).
 * Never throws; the reasons never repeat the attested handle or wallet.
 */
export async function verifyAttestation(
  text: string,
  sig: string,
  publicKeyB58: string,
  now: Date = new Date(),
): Promise<AttestationVerdict> {
  if (
    typeof text !== "string" || typeof sig !== "string" ||
    text.length > ATTESTATION_LIMITS.maxTextChars ||
    sig.length > ATTESTATION_LIMITS.maxSigChars
  ) {
    return { ok: false, reason: "the handle attestation is malformed" };
  }
  const a = parseAttestation(text);
  if (!a) return { ok: false, reason: "the handle attestation is malformed" };
  if (
    typeof publicKeyB58 !== "string" ||
    !await ed25519Verify(publicKeyB58, sig, text)
  ) {
    return {
      ok: false,
      reason: "the handle attestation's signature is not valid",
    };
  }
  const t = now.getTime();
  if (!(Date.parse(a.issued) <= t + SKEW_MS && t < Date.parse(a.expires))) {
    return { ok: false, reason: "the handle attestation is not current" };
  }
  return { ok: true, handle: a.handle, wallet: a.wallet };
}
