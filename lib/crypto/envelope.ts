/**
 * Envelope encryption of short strings (phone numbers) at rest, with
 * AES-256-GCM (WebCrypto) under a keyring from `REACH_DATA_KEYS`.
 *
 * Format: `{ kid, iv, ct }`, all strings.
 * - `kid`: the id of the keyring entry that sealed it (`keyring[0]`, the
 *   newest key, at the time of sealing).
 * - `iv`: 12 random bytes, standard base64 (16 characters). A fresh IV per
 *   seal; never reused with the same key.
 * - `ct`: standard base64 of the AES-GCM output: the UTF-8 ciphertext
 *   followed by the 16-byte (128-bit) authentication tag, as WebCrypto and
 *   `node:crypto`'s `update() + final() + getAuthTag()` produce it.
 *
 * The caller's associated data (`aad`, UTF-8; for phone numbers the handle)
 * is authenticated but not stored: an envelope copied onto another record
 * does not open there. Opening finds the key by `kid`, so older keys keep
 * working until key rotation (`deno task rotate-keys`) has resealed every
 * record under the newest one.
 */

/** One AES-256-GCM key of the keyring. */
export interface DataKey {
  kid: string;
  key: Uint8Array;
}

/** A sealed string, as stored. */
export interface Envelope {
  kid: string;
  iv: string;
  ct: string;
}

export type EnvelopeErrorCode =
  /** The envelope names a key the keyring does not hold. */
  | "unknown_kid"
  /** Wrong key, tampered iv or ciphertext, or other associated data. */
  | "auth_failed"
  /** Not an envelope: bad base64, wrong iv length, too short. */
  | "malformed";

export class EnvelopeError extends Error {
  constructor(
    public readonly code: EnvelopeErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "EnvelopeError";
  }
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Imported keys, one per raw key buffer, imported once. */
const imported = new WeakMap<Uint8Array, Promise<CryptoKey>>();

function cryptoKey(raw: Uint8Array): Promise<CryptoKey> {
  let k = imported.get(raw);
  if (!k) {
    if (raw.length !== 32) {
      throw new TypeError("AES-256-GCM keys are 32 bytes");
    }
    k = crypto.subtle.importKey(
      "raw",
      raw as BufferSource,
      { name: "AES-GCM", length: 256 },
      false,
      ["encrypt", "decrypt"],
    );
    imported.set(raw, k);
  }
  return k;
}

const utf8 = new TextEncoder();

/**
 * Seals `plaintext` under the newest key (`keyring[0]`) with `aad` as
 * associated data.
 *
 * `testing.iv` fixes the IV for known-answer tests only: reusing an IV with
 * the same key breaks AES-GCM, so production code never passes it.
 */
export async function sealString(
  keyring: readonly DataKey[],
  plaintext: string,
  aad: string,
  testing?: { iv: Uint8Array },
): Promise<Envelope> {
  const newest = keyring[0];
  if (!newest) throw new TypeError("the data keyring is empty");
  const iv = testing?.iv ?? crypto.getRandomValues(new Uint8Array(IV_BYTES));
  if (iv.length !== IV_BYTES) throw new TypeError("the IV is 12 bytes");
  const ct = await crypto.subtle.encrypt(
    {
      name: "AES-GCM",
      iv: iv as BufferSource,
      additionalData: utf8.encode(aad),
      tagLength: TAG_BYTES * 8,
    },
    await cryptoKey(newest.key),
    utf8.encode(plaintext),
  );
  return {
    kid: newest.kid,
    iv: iv.toBase64(),
    ct: new Uint8Array(ct).toBase64(),
  };
}

/**
 * Opens an envelope with the keyring entry its `kid` names. Throws
 * EnvelopeError: `unknown_kid`, `auth_failed` (wrong key, tampering, other
 * associated data) or `malformed`.
 */
export async function openString(
  keyring: readonly DataKey[],
  env: Envelope,
  aad: string,
): Promise<string> {
  const entry = keyring.find((k) => k.kid === env?.kid);
  if (!entry) {
    throw new EnvelopeError(
      "unknown_kid",
      "the envelope's key is not in the keyring",
    );
  }
  let iv: Uint8Array, ct: Uint8Array;
  try {
    iv = Uint8Array.fromBase64(env.iv);
    ct = Uint8Array.fromBase64(env.ct);
  } catch {
    throw new EnvelopeError("malformed", "the envelope is not base64");
  }
  if (iv.length !== IV_BYTES || ct.length < TAG_BYTES) {
    throw new EnvelopeError("malformed", "the envelope has the wrong shape");
  }
  let pt: ArrayBuffer;
  try {
    pt = await crypto.subtle.decrypt(
      {
        name: "AES-GCM",
        iv: iv as BufferSource,
        additionalData: utf8.encode(aad),
        tagLength: TAG_BYTES * 8,
      },
      await cryptoKey(entry.key),
      ct as BufferSource,
    );
  } catch {
    throw new EnvelopeError("auth_failed", "the envelope did not authenticate");
  }
  return new TextDecoder("utf-8", { fatal: true }).decode(pt);
}
