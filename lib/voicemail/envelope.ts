/**
 * Voicemail envelopes: a recording sealed in the caller's browser to the
 * X25519 inbox keys of the callee's browsers, so that only those browsers can
 * open it. The server stores and forwards the envelope but cannot read it.
 *
 * Browser-safe: WebCrypto (X25519, HKDF, AES-GCM), TextEncoder/TextDecoder
 * and btoa/atob only. No Deno APIs, no imports.
 *
 * ## Format, version 1 (this is the spec)
 *
 * Encodings: "base64" is standard base64 (RFC 4648 §4, alphabet `A–Z a–z 0–9
 * + /`, `=` padding, no whitespace); strings are encoded as UTF-8; `‖` is
 * concatenation. AES-GCM always uses a 12-byte iv and a 16-byte tag appended
 * to the ciphertext (WebCrypto's output, and node:crypto's
 * `update() ‖ final() ‖ getAuthTag()`).
 *
 * Identifiers: `callId`, `handle` and every `keyId` are non-empty strings of
 * at most 256 UTF-16 code units that contain no U+0000, so the NUL-separated
 * strings below are unambiguous. The handle is compared byte for byte: pass
 * the canonical (case-folded) handle on both sides.
 *
 * Envelope (JSON-serialisable):
 * ```
 * { v: 1, callId, handle, iv, ct, recipients: [{ keyId, epk, iv, wrapped }] }
 * ```
 *
 * Content encryption:
 * 1. `CK` = 32 fresh random bytes (the content key, AES-256-GCM).
 * 2. `header` = UTF-8 of `JSON.stringify({ mime, durationMs, name? })`, keys
 *    in that order, `name` omitted when absent. At most 1024 bytes.
 *    - `mime`: 1–255 printable ASCII characters (U+0020–U+007E), e.g.
 *      `audio/webm;codecs=opus`.
 *    - `durationMs`: a finite number ≥ 0.
 *    - `name` (optional): the caller's name, 1–60 Unicode code points, well
 *      formed (no lone surrogates), no control characters (U+0000–U+001F,
 *      U+007F–U+009F).
 * 3. `plaintext` = uint32 big-endian `len(header)` ‖ `header` ‖ audio bytes.
 * 4. `AAD` = UTF-8 of `"reach-vm-v1\0" + callId + "\0" + handle`.
 * 5. `iv` = 12 random bytes; `ct` = AES-256-GCM(CK, iv, AAD, plaintext).
 *    The envelope carries `iv` and `ct` in base64.
 *
 * Key wrapping, for each inbox key `{ keyId, publicKey }` (1 to 10 keys,
 * distinct keyIds; `R` = the 32-byte raw X25519 public key):
 * 1. A fresh ephemeral X25519 key pair (`e`, `E`); `epk` = `E`, 32 bytes.
 * 2. `shared` = X25519(e, R), 32 bytes (WebCrypto rejects an all-zero result,
 *    i.e. a low-order `R`).
 * 3. `info` = UTF-8 of `"reach-vm-v1 wrap\0" + callId + "\0" + handle + "\0"
 *    + keyId`.
 * 4. `KEK` = HKDF-SHA-256(ikm = shared, salt = E ‖ R, info), 32 bytes, used
 *    as an AES-256-GCM key.
 * 5. `wiv` = 12 random bytes; `wrapped` = AES-256-GCM(KEK, wiv, AAD = info,
 *    CK), 48 bytes.
 * 6. The recipient entry is `{ keyId, epk: base64(E), iv: base64(wiv),
 *    wrapped: base64(wrapped) }`, in the order the keys were given.
 *
 * Opening with `{ keyId, privateKey }` and the expected `{ callId, handle }`:
 * 1. `malformed` unless the envelope has this shape: `v === 1`, string
 *    fields, 1–10 recipients with distinct keyIds.
 * 2. `wrong_call` unless `env.callId === expected.callId` and
 *    `env.handle === expected.handle`.
 * 3. `not_for_this_device` unless a recipient has this `keyId`.
 * 4. `malformed` unless the base64 fields decode to the lengths above
 *    (epk 32, ivs 12, wrapped 48, ct ≥ 20 bytes).
 * 5. `R` = X25519(private key, 9), the public key of the private key (so a
 *    non-extractable private key suffices). Derive `KEK` as above from
 *    `expected` and unwrap `CK`; decrypt `ct` with the AAD built from
 *    `expected`. Any failure here — wrong private key, a changed epk, iv,
 *    wrapped key or ciphertext, or another call's AAD — is `tampered`.
 * 6. `malformed` if the authenticated plaintext does not parse: header
 *    length over 1024 or past the end, not UTF-8 JSON, fields other than
 *    `mime`, `durationMs`, `name`, or values outside the rules above.
 *
 * What this does and does not promise:
 * - Confidentiality of the audio, mime type, duration and caller's name from
 *   everyone without one of the inbox private keys, the server included. The
 *   envelope reveals the callId, handle, number of recipients and their
 *   keyIds, and the length of the recording (± the header).
 * - Binding to the call: an envelope moved to another callId or handle fails
 *   (`wrong_call` on the cleartext fields, `tampered` via the AAD even if
 *   the cleartext fields are rewritten to match).
 * - No sender authentication. Anyone holding the inbox public keys (the
 *   server included) can seal a voicemail for any callId and handle, and the
 *   recipient list is not bound to `ct`: the server could drop recipients or
 *   replace the envelope wholesale with one it sealed. Who called must be
 *   established elsewhere (the call record), not by this envelope.
 * - The audio size is not limited here; the caller and server enforce the
 *   configured voicemail limits.
 */

export const VOICEMAIL_VERSION = 1;

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

/** A sealed voicemail, as uploaded and stored. */
export interface Envelope {
  v: 1;
  callId: string;
  handle: string;
  iv: string;
  ct: string;
  recipients: Recipient[];
}

/** A voicemail in the clear. */
export interface Voicemail {
  audio: Uint8Array;
  mime: string;
  durationMs: number;
  name?: string;
}

export type VoicemailErrorCode =
  /** Sealing to an empty list of inbox keys. */
  | "no_recipients"
  /** The envelope has no entry for this device's keyId. */
  | "not_for_this_device"
  /** The envelope names another call or handle than expected. */
  | "wrong_call"
  /** Authentication failed: wrong key, changed bytes, other call's AAD. */
  | "tampered"
  /** Bad shape, base64, lengths or limits (at seal or open). */
  | "malformed";

export class VoicemailError extends Error {
  constructor(
    public readonly code: VoicemailErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "VoicemailError";
  }
}

const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const X25519_BYTES = 32;
const WRAPPED_BYTES = KEY_BYTES + TAG_BYTES;
const LEN_BYTES = 4;
const MAX_HEADER_BYTES = 1024;
const MAX_NAME_CODE_POINTS = 60;
const MAX_MIME_CHARS = 255;
const MAX_ID_CHARS = 256;
const MAX_RECIPIENTS = 10;

/**
 * The format's sizes, for anyone who checks an envelope's shape without
 * opening it (the server's schema in lib/voicemail/service.ts). Byte counts
 * are of the decoded base64.
 */
export const ENVELOPE_LIMITS = {
  /** `iv` and each recipient's `iv`. */
  ivBytes: IV_BYTES,
  /** Each recipient's `epk`, and an inbox public key. */
  publicKeyBytes: X25519_BYTES,
  /** Each recipient's `wrapped` content key (key ‖ tag). */
  wrappedBytes: WRAPPED_BYTES,
  /** The shortest `ct`: the header length and the tag, no header or audio. */
  minCiphertextBytes: LEN_BYTES + TAG_BYTES,
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
    throw new VoicemailError("malformed", `${field} is not base64`);
  }
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// ------------------------------------------------------------ validation

function malformed(message: string): never {
  throw new VoicemailError("malformed", message);
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

// deno-lint-ignore no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/;
const MIME_RE = /^[\x20-\x7e]+$/;

/** Checks the header fields; returns the header bytes (≤ 1 KiB). */
function encodeHeader(v: Voicemail): Uint8Array {
  checkHeaderFields(v.mime, v.durationMs, v.name);
  const h: { mime: string; durationMs: number; name?: string } = {
    mime: v.mime,
    durationMs: v.durationMs,
  };
  if (v.name !== undefined) h.name = v.name;
  const bytes = utf8.encode(JSON.stringify(h));
  if (bytes.length > MAX_HEADER_BYTES) {
    malformed(`the header is over ${MAX_HEADER_BYTES} bytes`);
  }
  return bytes;
}

function checkHeaderFields(mime: unknown, durationMs: unknown, name: unknown) {
  if (
    typeof mime !== "string" || mime.length > MAX_MIME_CHARS ||
    !MIME_RE.test(mime)
  ) {
    malformed("mime must be 1-255 printable ASCII characters");
  }
  if (
    typeof durationMs !== "number" || !Number.isFinite(durationMs) ||
    durationMs < 0
  ) {
    malformed("durationMs must be a finite number >= 0");
  }
  if (name !== undefined) {
    if (typeof name !== "string") malformed("name must be a string");
    let cps = 0, wellFormed = true;
    for (const c of name) {
      cps++;
      const u = c.codePointAt(0)!;
      if (u >= 0xd800 && u <= 0xdfff) wellFormed = false;
    }
    if (
      cps < 1 || cps > MAX_NAME_CODE_POINTS || !wellFormed ||
      CONTROL_RE.test(name)
    ) {
      malformed(
        `name must be 1-${MAX_NAME_CODE_POINTS} characters, no control characters`,
      );
    }
  }
}

function parsePlaintext(pt: Uint8Array): Voicemail {
  if (pt.length < LEN_BYTES) malformed("the plaintext is too short");
  const len = new DataView(pt.buffer, pt.byteOffset, pt.byteLength)
    .getUint32(0);
  if (len > MAX_HEADER_BYTES || LEN_BYTES + len > pt.length) {
    malformed("the header length is out of range");
  }
  let h: unknown;
  try {
    h = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(
        pt.subarray(LEN_BYTES, LEN_BYTES + len),
      ),
    );
  } catch {
    malformed("the header is not UTF-8 JSON");
  }
  if (typeof h !== "object" || h === null || Array.isArray(h)) {
    malformed("the header is not an object");
  }
  const rec = h as Record<string, unknown>;
  for (const k of Object.keys(rec)) {
    if (k !== "mime" && k !== "durationMs" && k !== "name") {
      malformed(`unknown header field ${JSON.stringify(k)}`);
    }
  }
  checkHeaderFields(rec.mime, rec.durationMs, rec.name);
  const out: Voicemail = {
    audio: pt.slice(LEN_BYTES + len),
    mime: rec.mime as string,
    durationMs: rec.durationMs as number,
  };
  if (rec.name !== undefined) out.name = rec.name as string;
  return out;
}

// ----------------------------------------------------------------- crypto

const contentAad = (callId: string, handle: string) =>
  utf8.encode(`reach-vm-v1\0${callId}\0${handle}`);

const wrapInfo = (callId: string, handle: string, keyId: string) =>
  utf8.encode(`reach-vm-v1 wrap\0${callId}\0${handle}\0${keyId}`);

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
 * Seals a voicemail to 1-10 inbox keys. Throws VoicemailError
 * `no_recipients` for an empty key list and `malformed` for more than 10
 * keys, duplicate keyIds, a public key that is not 32 bytes of base64, bad
 * identifiers or header fields out of limits.
 */
export async function sealVoicemail(
  input: Voicemail & { callId: string; handle: string },
  keys: InboxKey[],
  testing?: SealTesting,
): Promise<Envelope> {
  const callId = checkId(input.callId, "callId");
  const handle = checkId(input.handle, "handle");
  if (!Array.isArray(keys) || keys.length === 0) {
    throw new VoicemailError("no_recipients", "no inbox keys to seal to");
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
  if (!(input.audio instanceof Uint8Array)) {
    malformed("audio must be a Uint8Array");
  }
  const header = encodeHeader(input);
  if (testing && testing.recipients.length !== keys.length) {
    throw new TypeError("testing.recipients must match the keys");
  }

  const ck = testing?.contentKey ?? random(KEY_BYTES);
  const iv = testing?.iv ?? random(IV_BYTES);
  if (ck.length !== KEY_BYTES || iv.length !== IV_BYTES) {
    throw new TypeError("bad testing content key or iv");
  }
  const pt = new Uint8Array(LEN_BYTES + header.length + input.audio.length);
  new DataView(pt.buffer).setUint32(0, header.length);
  pt.set(header, LEN_BYTES);
  pt.set(input.audio, LEN_BYTES + header.length);
  const ct = await gcm(
    "encrypt",
    await aesKey(ck, "encrypt"),
    iv,
    contentAad(callId, handle),
    pt,
  );
  pt.fill(0);

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
      const info = wrapInfo(callId, handle, k.keyId);
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
    v: VOICEMAIL_VERSION,
    callId,
    handle,
    iv: toB64(iv),
    ct: toB64(ct),
    recipients,
  };
}

/**
 * Opens an envelope with this device's inbox key, for the call and handle
 * the caller expects. Throws VoicemailError: `malformed`, `wrong_call`,
 * `not_for_this_device`, `tampered` (see the module doc for the order).
 */
export async function openVoicemail(
  env: Envelope,
  key: { keyId: string; privateKey: CryptoKey },
  expected: { callId: string; handle: string },
): Promise<Voicemail> {
  if (
    typeof env !== "object" || env === null ||
    env.v !== VOICEMAIL_VERSION || !isId(env.callId) || !isId(env.handle) ||
    typeof env.iv !== "string" || typeof env.ct !== "string" ||
    !Array.isArray(env.recipients) || env.recipients.length === 0 ||
    env.recipients.length > MAX_RECIPIENTS
  ) {
    malformed("not a version 1 voicemail envelope");
  }
  const ids = new Set<string>();
  for (const r of env.recipients) {
    if (
      typeof r !== "object" || r === null || !isId(r.keyId) ||
      ids.has(r.keyId) || typeof r.epk !== "string" ||
      typeof r.iv !== "string" || typeof r.wrapped !== "string"
    ) {
      malformed("bad recipient entry");
    }
    ids.add(r.keyId);
  }
  if (env.callId !== expected.callId || env.handle !== expected.handle) {
    throw new VoicemailError(
      "wrong_call",
      "the envelope is for another call or handle",
    );
  }
  const r = env.recipients.find((r) => r.keyId === key.keyId);
  if (!r) {
    throw new VoicemailError(
      "not_for_this_device",
      "the envelope is not sealed to this device's key",
    );
  }
  const alg = key.privateKey?.algorithm?.name;
  if (alg !== "X25519" || key.privateKey.type !== "private") {
    throw new TypeError("privateKey must be an X25519 private CryptoKey");
  }
  const epk = fromB64(r.epk, "epk");
  const wiv = fromB64(r.iv, "recipient iv");
  const wrapped = fromB64(r.wrapped, "wrapped");
  const iv = fromB64(env.iv, "iv");
  const ct = fromB64(env.ct, "ct");
  if (
    epk.length !== X25519_BYTES || wiv.length !== IV_BYTES ||
    wrapped.length !== WRAPPED_BYTES || iv.length !== IV_BYTES ||
    ct.length < LEN_BYTES + TAG_BYTES
  ) {
    malformed("the envelope has the wrong lengths");
  }

  let pt: Uint8Array;
  try {
    const shared = await x25519(key.privateKey, epk);
    const info = wrapInfo(expected.callId, expected.handle, key.keyId);
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
    pt = await gcm(
      "decrypt",
      cek,
      iv,
      contentAad(expected.callId, expected.handle),
      ct,
    );
  } catch {
    throw new VoicemailError("tampered", "the voicemail did not authenticate");
  }
  return parsePlaintext(pt);
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
