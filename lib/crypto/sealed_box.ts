/**
 * Multi-recipient sealed boxes: a short or long plaintext sealed in one
 * browser to the X25519 inbox keys of another person's browsers, so that
 * only those browsers can open it. The server stores or relays the box but
 * cannot read it. A domain label keeps the uses apart: a box sealed under
 * one label does not open under another (voicemail uses `"reach-vm-v1"`,
 * lib/voicemail/envelope.ts; the sealed caller identity `"reach-ring-v1"`,
 * lib/identity/sealed_ring.ts).
 *
 * Browser-safe: WebCrypto (X25519, HKDF, AES-GCM), TextEncoder and
 * btoa/atob only. No Deno APIs, no imports.
 *
 * ## Format, version 1 (this is the spec)
 *
 * Encodings: "base64" is standard base64 (RFC 4648 §4, alphabet `A–Z a–z 0–9
 * + /`, `=` padding, no whitespace); strings are encoded as UTF-8; `‖` is
 * concatenation. AES-GCM always uses a 12-byte iv and a 16-byte tag appended
 * to the ciphertext (WebCrypto's output, and node:crypto's
 * `update() ‖ final() ‖ getAuthTag()`).
 *
 * Label: 1–64 printable ASCII characters without space (U+0021–U+007E), a
 * constant of the protocol that uses the box, e.g. `reach-vm-v1`.
 *
 * Identifiers: `callId`, `handle` and every `keyId` are non-empty strings of
 * at most 256 UTF-16 code units that contain no U+0000, so the NUL-separated
 * strings below are unambiguous. The handle is compared byte for byte: pass
 * the canonical (case-folded) handle on both sides.
 *
 * Box (JSON-serialisable):
 * ```
 * { v: 1, callId, handle, iv, ct, recipients: [{ keyId, epk, iv, wrapped }] }
 * ```
 *
 * Content encryption:
 * 1. `CK` = 32 fresh random bytes (the content key, AES-256-GCM).
 * 2. `AAD` = UTF-8 of `label + "\0" + callId + "\0" + handle`.
 * 3. `iv` = 12 random bytes; `ct` = AES-256-GCM(CK, iv, AAD, plaintext).
 *    The box carries `iv` and `ct` in base64. The plaintext's layout is the
 *    using protocol's business.
 *
 * Key wrapping, for each inbox key `{ keyId, publicKey }` (1 to 10 keys,
 * distinct keyIds; `R` = the 32-byte raw X25519 public key):
 * 1. A fresh ephemeral X25519 key pair (`e`, `E`); `epk` = `E`, 32 bytes.
 * 2. `shared` = X25519(e, R), 32 bytes (WebCrypto rejects an all-zero result,
 *    i.e. a low-order `R`).
 * 3. `info` = UTF-8 of `label + " wrap\0" + callId + "\0" + handle + "\0"
 *    + keyId`.
 * 4. `KEK` = HKDF-SHA-256(ikm = shared, salt = E ‖ R, info), 32 bytes, used
 *    as an AES-256-GCM key.
 * 5. `wiv` = 12 random bytes; `wrapped` = AES-256-GCM(KEK, wiv, AAD = info,
 *    CK), 48 bytes.
 * 6. The recipient entry is `{ keyId, epk: base64(E), iv: base64(wiv),
 *    wrapped: base64(wrapped) }`, in the order the keys were given.
 *
 * Opening with `{ keyId, privateKey }`, the expected `{ callId, handle }` and
 * the using protocol's shortest `ct` (at least the 16-byte tag):
 * 1. `malformed` unless the box has this shape: `v === 1`, string fields,
 *    1–10 recipients with distinct keyIds.
 * 2. `wrong_call` unless `box.callId === expected.callId` and
 *    `box.handle === expected.handle`.
 * 3. `not_for_this_device` unless a recipient has this `keyId`.
 * 4. `malformed` unless the base64 fields decode to the lengths above
 *    (epk 32, ivs 12, wrapped 48, ct ≥ the shortest).
 * 5. `R` = X25519(private key, 9), the public key of the private key (so a
 *    non-extractable private key suffices). Derive `KEK` as above from
 *    `expected` and unwrap `CK`; decrypt `ct` with the AAD built from
 *    `expected`. Any failure here — wrong private key, a changed epk, iv,
 *    wrapped key or ciphertext, another call's or another label's AAD — is
 *    `tampered`.
 * 6. The authenticated plaintext is returned; the using protocol parses it
 *    (and must: a valid tag does not make it well formed, see below).
 *
 * What this does and does not promise:
 * - Confidentiality of the plaintext from everyone without one of the inbox
 *   private keys, the server included. The box reveals the callId, handle,
 *   number of recipients and their keyIds, and the plaintext's length.
 * - Binding to the label and the call: a box moved to another callId or
 *   handle fails (`wrong_call` on the cleartext fields, `tampered` via the
 *   AAD even if the cleartext fields are rewritten to match), and so does a
 *   box opened under another label.
 * - No sender authentication. Anyone holding the inbox public keys (the
 *   server included) can seal a box for any callId and handle, and the
 *   recipient list is not bound to `ct`: the server could drop recipients or
 *   replace the box wholesale with one it sealed. A protocol that needs to
 *   know the sender signs inside the plaintext (lib/identity/sealed_ring.ts).
 * - No size limit on the plaintext here; the using protocol sets one.
 */

/** An inbox public key, as published for callers. */
export interface InboxKey {
  keyId: string;
  /** base64 of the raw 32-byte X25519 public key. */
  publicKey: string;
}

/** The content key wrapped for one inbox key; base64 fields. */
export interface Recipient {
  keyId: string;
  epk: string;
  iv: string;
  wrapped: string;
}

/** A sealed box, as sent and stored. */
export interface SealedBox {
  v: 1;
  callId: string;
  handle: string;
  iv: string;
  ct: string;
  recipients: Recipient[];
}

export type SealedBoxErrorCode =
  /** Sealing to an empty list of inbox keys. */
  | "no_recipients"
  /** The box has no entry for this device's keyId. */
  | "not_for_this_device"
  /** The box names another call or handle than expected. */
  | "wrong_call"
  /** Authentication failed: wrong key, changed bytes, other call's AAD. */
  | "tampered"
  /** Bad shape, base64, lengths or limits (at seal or open). */
  | "malformed";

export class SealedBoxError extends Error {
  constructor(
    public readonly code: SealedBoxErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "SealedBoxError";
  }
}

const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const X25519_BYTES = 32;
const WRAPPED_BYTES = KEY_BYTES + TAG_BYTES;
const MAX_ID_CHARS = 256;
const MAX_RECIPIENTS = 10;
const MAX_LABEL_CHARS = 64;

/**
 * The format's sizes, for anyone who checks a box's shape without opening
 * it (a server's schema). Byte counts are of the decoded base64.
 */
export const BOX_LIMITS = {
  /** `iv` and each recipient's `iv`. */
  ivBytes: IV_BYTES,
  /** The AES-GCM tag at the end of `ct` (so `ct` is plaintext + 16). */
  tagBytes: TAG_BYTES,
  /** Each recipient's `epk`, and an inbox public key. */
  publicKeyBytes: X25519_BYTES,
  /** Each recipient's `wrapped` content key (key ‖ tag). */
  wrappedBytes: WRAPPED_BYTES,
  /** `callId`, `handle` and each `keyId`, in UTF-16 code units. */
  maxIdChars: MAX_ID_CHARS,
  maxRecipients: MAX_RECIPIENTS,
} as const;

const utf8 = new TextEncoder();
const X25519 = { name: "X25519" };

// ---------------------------------------------------------------- base64

const B64_RE =
  /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const CHUNK = 0x8000;

/** Standard base64 with padding; chunked so large buffers do not overflow. */
function toB64(bytes: Uint8Array): string {
  const parts: string[] = [];
  for (let i = 0; i < bytes.length; i += CHUNK) {
    parts.push(
      String.fromCharCode.apply(
        null,
        bytes.subarray(i, i + CHUNK) as unknown as number[],
      ),
    );
  }
  return btoa(parts.join(""));
}

/** Strict standard base64 (padded, no whitespace); else `malformed`. */
function fromB64(s: unknown, field: string): Uint8Array {
  if (typeof s !== "string" || !B64_RE.test(s)) {
    malformed(`${field} is not base64`);
  }
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// ------------------------------------------------------------ validation

function malformed(message: string): never {
  throw new SealedBoxError("malformed", message);
}

function isId(s: unknown): s is string {
  return typeof s === "string" && s.length > 0 && s.length <= MAX_ID_CHARS &&
    !s.includes("\0");
}

function checkId(s: unknown, field: string): string {
  if (!isId(s)) {
    malformed(`${field} must be 1-${MAX_ID_CHARS} characters without NUL`);
  }
  return s;
}

const LABEL_RE = /^[\x21-\x7e]+$/;

/** The label is the using protocol's constant: a bad one is a bug. */
function checkLabel(label: unknown): string {
  if (
    typeof label !== "string" || label.length > MAX_LABEL_CHARS ||
    !LABEL_RE.test(label)
  ) {
    throw new TypeError(
      `the label must be 1-${MAX_LABEL_CHARS} printable ASCII characters without space`,
    );
  }
  return label;
}

// ----------------------------------------------------------------- crypto

const contentAad = (label: string, callId: string, handle: string) =>
  utf8.encode(`${label}\0${callId}\0${handle}`);

const wrapInfo = (
  label: string,
  callId: string,
  handle: string,
  keyId: string,
) => utf8.encode(`${label} wrap\0${callId}\0${handle}\0${keyId}`);

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function aesKey(raw: Uint8Array, usage: KeyUsage): Promise<CryptoKey> {
  return crypto.subtle.importKey(
    "raw",
    raw as BufferSource,
    { name: "AES-GCM", length: 256 },
    false,
    [usage],
  );
}

async function gcm(
  op: "encrypt" | "decrypt",
  key: CryptoKey,
  iv: Uint8Array,
  aad: Uint8Array,
  data: Uint8Array,
): Promise<Uint8Array> {
  const params: AesGcmParams = {
    name: "AES-GCM",
    iv: iv as BufferSource,
    additionalData: aad as BufferSource,
    tagLength: TAG_BYTES * 8,
  };
  return new Uint8Array(
    op === "encrypt"
      ? await crypto.subtle.encrypt(params, key, data as BufferSource)
      : await crypto.subtle.decrypt(params, key, data as BufferSource),
  );
}

async function x25519(
  priv: CryptoKey,
  pubRaw: Uint8Array,
): Promise<Uint8Array> {
  const pub = await crypto.subtle.importKey(
    "raw",
    pubRaw as BufferSource,
    X25519,
    true,
    [],
  );
  return new Uint8Array(
    await crypto.subtle.deriveBits(
      { name: "X25519", public: pub } as EcdhKeyDeriveParams,
      priv,
      X25519_BYTES * 8,
    ),
  );
}

const BASE_POINT = new Uint8Array(X25519_BYTES);
BASE_POINT[0] = 9;

/** The public key of an X25519 private key: X25519(k, 9). */
const publicOf = new WeakMap<CryptoKey, Promise<Uint8Array>>();
function publicKeyOf(priv: CryptoKey): Promise<Uint8Array> {
  let p = publicOf.get(priv);
  if (!p) {
    p = x25519(priv, BASE_POINT);
    publicOf.set(priv, p);
  }
  return p;
}

/** KEK = HKDF-SHA-256(shared, salt = epk ‖ recipient public, info). */
async function deriveKek(
  shared: Uint8Array,
  epk: Uint8Array,
  recipientPub: Uint8Array,
  info: Uint8Array,
  usage: KeyUsage,
): Promise<CryptoKey> {
  const ikm = await crypto.subtle.importKey(
    "raw",
    shared as BufferSource,
    "HKDF",
    false,
    ["deriveKey"],
  );
  return crypto.subtle.deriveKey(
    {
      name: "HKDF",
      hash: "SHA-256",
      salt: concat(epk, recipientPub) as BufferSource,
      info: info as BufferSource,
    },
    ikm,
    { name: "AES-GCM", length: 256 },
    false,
    [usage],
  );
}

/** PKCS#8 wrapping of a raw X25519 private key (RFC 8410). */
const PKCS8_X25519_PREFIX = [
  0x30,
  0x2e,
  0x02,
  0x01,
  0x00,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x6e,
  0x04,
  0x22,
  0x04,
  0x20,
];

function importX25519Private(raw: Uint8Array): Promise<CryptoKey> {
  if (raw.length !== X25519_BYTES) {
    throw new TypeError("X25519 private keys are 32 bytes");
  }
  return crypto.subtle.importKey(
    "pkcs8",
    concat(Uint8Array.from(PKCS8_X25519_PREFIX), raw) as BufferSource,
    X25519,
    false,
    ["deriveBits"],
  );
}

async function ephemeral(
  fixed?: Uint8Array,
): Promise<{ priv: CryptoKey; pub: Uint8Array }> {
  if (fixed) {
    const priv = await importX25519Private(fixed);
    return { priv, pub: await publicKeyOf(priv) };
  }
  const kp = await crypto.subtle.generateKey(X25519, false, [
    "deriveBits",
  ]) as CryptoKeyPair;
  return {
    priv: kp.privateKey,
    pub: new Uint8Array(await crypto.subtle.exportKey("raw", kp.publicKey)),
  };
}

function random(n: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(n));
}

// -------------------------------------------------------------------- API

/**
 * Fixed randomness for known-answer tests only. Reusing a content key, iv or
 * ephemeral key breaks the scheme, so production code never passes this.
 */
export interface SealTesting {
  contentKey: Uint8Array;
  iv: Uint8Array;
  /** One per inbox key, in order: the wrap iv and the ephemeral private key. */
  recipients: { iv: Uint8Array; ephemeralPrivateKey: Uint8Array }[];
}

/**
 * Seals `plaintext` under `label` to 1-10 inbox keys, for the call and
 * handle in `ids`. Throws SealedBoxError `no_recipients` for an empty key
 * list and `malformed` for more than 10 keys, duplicate keyIds, a public key
 * that is not 32 bytes of base64 (or is of low order), bad identifiers or a
 * plaintext that is not a Uint8Array; TypeError for a bad label. The
 * plaintext is not modified.
 */
export async function sealBox(
  label: string,
  ids: { callId: string; handle: string },
  plaintext: Uint8Array,
  keys: InboxKey[],
  testing?: SealTesting,
): Promise<SealedBox> {
  checkLabel(label);
  const callId = checkId(ids?.callId, "callId");
  const handle = checkId(ids?.handle, "handle");
  if (!Array.isArray(keys) || keys.length === 0) {
    throw new SealedBoxError("no_recipients", "no inbox keys to seal to");
  }
  if (keys.length > MAX_RECIPIENTS) {
    malformed(`at most ${MAX_RECIPIENTS} inbox keys`);
  }
  const seen = new Set<string>();
  const pubs = keys.map((k) => {
    const keyId = checkId(k?.keyId, "keyId");
    if (seen.has(keyId)) malformed("duplicate keyId");
    seen.add(keyId);
    const pub = fromB64(k.publicKey, "publicKey");
    if (pub.length !== X25519_BYTES) malformed("publicKey is not 32 bytes");
    return pub;
  });
  if (!(plaintext instanceof Uint8Array)) {
    malformed("the plaintext must be a Uint8Array");
  }
  if (testing && testing.recipients.length !== keys.length) {
    throw new TypeError("testing.recipients must match the keys");
  }

  const ck = testing?.contentKey ?? random(KEY_BYTES);
  const iv = testing?.iv ?? random(IV_BYTES);
  if (ck.length !== KEY_BYTES || iv.length !== IV_BYTES) {
    throw new TypeError("bad testing content key or iv");
  }
  const ct = await gcm(
    "encrypt",
    await aesKey(ck, "encrypt"),
    iv,
    contentAad(label, callId, handle),
    plaintext,
  );

  const recipients = await Promise.all(
    keys.map(async (k, i): Promise<Recipient> => {
      const fixed = testing?.recipients[i];
      const e = await ephemeral(fixed?.ephemeralPrivateKey);
      let shared: Uint8Array;
      try {
        shared = await x25519(e.priv, pubs[i]);
      } catch {
        malformed(`publicKey of ${k.keyId} is not a usable X25519 key`);
      }
      const info = wrapInfo(label, callId, handle, k.keyId);
      const kek = await deriveKek(shared, e.pub, pubs[i], info, "encrypt");
      shared.fill(0);
      const wiv = fixed?.iv ?? random(IV_BYTES);
      if (wiv.length !== IV_BYTES) throw new TypeError("bad testing wrap iv");
      const wrapped = await gcm("encrypt", kek, wiv, info, ck);
      return {
        keyId: k.keyId,
        epk: toB64(e.pub),
        iv: toB64(wiv),
        wrapped: toB64(wrapped),
      };
    }),
  );
  if (!testing) ck.fill(0);

  return {
    v: VERSION,
    callId,
    handle,
    iv: toB64(iv),
    ct: toB64(ct),
    recipients,
  };
}

/**
 * Opens a box sealed under `label` with this device's inbox key, for the
 * call and handle the opener expects, and returns the authenticated
 * plaintext. `box` may be anything (e.g. straight from JSON.parse). Throws
 * SealedBoxError `malformed`, `wrong_call`, `not_for_this_device`,
 * `tampered` (see the module doc for the order); TypeError for a bad label
 * or a `privateKey` that is not an X25519 private CryptoKey (bugs, not bad
 * input). `minCiphertextBytes` (default and floor: the 16-byte tag) is the
 * using protocol's shortest `ct`.
 */
export async function openBox(
  label: string,
  box: unknown,
  key: { keyId: string; privateKey: CryptoKey },
  expected: { callId: string; handle: string },
  minCiphertextBytes: number = TAG_BYTES,
): Promise<Uint8Array> {
  checkLabel(label);
  if (typeof box !== "object" || box === null) {
    malformed("not a version 1 sealed box");
  }
  const b = box as Record<string, unknown>;
  if (
    b.v !== VERSION || !isId(b.callId) || !isId(b.handle) ||
    typeof b.iv !== "string" || typeof b.ct !== "string" ||
    !Array.isArray(b.recipients) || b.recipients.length === 0 ||
    b.recipients.length > MAX_RECIPIENTS
  ) {
    malformed("not a version 1 sealed box");
  }
  const recipients = b.recipients as unknown[];
  const ids = new Set<string>();
  for (const r of recipients) {
    const e = r as Record<string, unknown> | null;
    if (
      typeof e !== "object" || e === null || Array.isArray(e) ||
      !isId(e.keyId) || ids.has(e.keyId) || typeof e.epk !== "string" ||
      typeof e.iv !== "string" || typeof e.wrapped !== "string"
    ) {
      malformed("bad recipient entry");
    }
    ids.add(e.keyId);
  }
  if (b.callId !== expected.callId || b.handle !== expected.handle) {
    throw new SealedBoxError(
      "wrong_call",
      "the box is for another call or handle",
    );
  }
  const r = (recipients as Recipient[]).find((r) => r.keyId === key.keyId);
  if (!r) {
    throw new SealedBoxError(
      "not_for_this_device",
      "the box is not sealed to this device's key",
    );
  }
  const alg = key.privateKey?.algorithm?.name;
  if (alg !== "X25519" || key.privateKey.type !== "private") {
    throw new TypeError("privateKey must be an X25519 private CryptoKey");
  }
  const epk = fromB64(r.epk, "epk");
  const wiv = fromB64(r.iv, "recipient iv");
  const wrapped = fromB64(r.wrapped, "wrapped");
  const iv = fromB64(b.iv, "iv");
  const ct = fromB64(b.ct, "ct");
  if (
    epk.length !== X25519_BYTES || wiv.length !== IV_BYTES ||
    wrapped.length !== WRAPPED_BYTES || iv.length !== IV_BYTES ||
    ct.length < Math.max(TAG_BYTES, minCiphertextBytes || 0)
  ) {
    malformed("the box has the wrong lengths");
  }

  try {
    const shared = await x25519(key.privateKey, epk);
    const info = wrapInfo(label, expected.callId, expected.handle, key.keyId);
    const kek = await deriveKek(
      shared,
      epk,
      await publicKeyOf(key.privateKey),
      info,
      "decrypt",
    );
    shared.fill(0);
    const ck = await gcm("decrypt", kek, wiv, info, wrapped);
    const cek = await aesKey(ck, "decrypt");
    ck.fill(0);
    return await gcm(
      "decrypt",
      cek,
      iv,
      contentAad(label, expected.callId, expected.handle),
      ct,
    );
  } catch {
    throw new SealedBoxError("tampered", "the box did not authenticate");
  }
}

/**
 * A new inbox key pair for this browser: X25519, the private key
 * non-extractable (store the CryptoKey itself, e.g. in IndexedDB), the
 * public key as base64 of its 32 raw bytes, and a random UUID as keyId.
 */
export async function generateInboxKeyPair(): Promise<
  { keyId: string; publicKey: string; privateKey: CryptoKey }
> {
  const kp = await crypto.subtle.generateKey(X25519, false, [
    "deriveBits",
  ]) as CryptoKeyPair;
  const pub = new Uint8Array(
    await crypto.subtle.exportKey("raw", kp.publicKey),
  );
  return {
    keyId: crypto.randomUUID(),
    publicKey: toB64(pub),
    privateKey: kp.privateKey,
  };
}
