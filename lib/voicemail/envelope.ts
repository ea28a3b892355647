/**
 * Voicemail envelopes: a recording sealed in the caller's browser to the
 * X25519 inbox keys of the callee's browsers, so that only those browsers can
 * open it. The server stores and forwards the envelope but cannot read it.
 *
 * Browser-safe: WebCrypto and TextEncoder/TextDecoder only (through
 * lib/crypto/sealed_box.ts). No Deno APIs.
 *
 * ## Format, version 1 (this is the spec)
 *
 * An envelope is a version 1 sealed box (lib/crypto/sealed_box.ts, which
 * holds the spec of the box: content encryption, key wrapping, opening,
 * promises) with the label `reach-vm-v1`, so:
 * - `AAD` = UTF-8 of `"reach-vm-v1\0" + callId + "\0" + handle`;
 * - `info` = UTF-8 of `"reach-vm-v1 wrap\0" + callId + "\0" + handle + "\0"
 *   + keyId`;
 * - the shortest `ct` is 20 bytes (the header length and the tag).
 *
 * Envelope (JSON-serialisable):
 * ```
 * { v: 1, callId, handle, iv, ct, recipients: [{ keyId, epk, iv, wrapped }] }
 * ```
 *
 * The plaintext:
 * 1. `header` = UTF-8 of `JSON.stringify({ mime, durationMs, name? })`, keys
 *    in that order, `name` omitted when absent. At most 1024 bytes.
 *    - `mime`: 1–255 printable ASCII characters (U+0020–U+007E), e.g.
 *      `audio/webm;codecs=opus`.
 *    - `durationMs`: a finite number ≥ 0.
 *    - `name` (optional): the caller's name, 1–60 Unicode code points, well
 *      formed (no lone surrogates), no control characters (U+0000–U+001F,
 *      U+007F–U+009F).
 * 2. `plaintext` = uint32 big-endian `len(header)` ‖ `header` ‖ audio bytes.
 *
 * Opening follows the sealed box (`malformed`, `wrong_call`,
 * `not_for_this_device`, `tampered`), then: `malformed` if the
 * authenticated plaintext does not parse: header length over 1024 or past
 * the end, not UTF-8 JSON, fields other than `mime`, `durationMs`, `name`,
 * or values outside the rules above.
 *
 * What this does and does not promise (the sealed box's promises, for
 * voicemail):
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
import {
  BOX_LIMITS,
  type InboxKey,
  openBox,
  sealBox,
  type SealedBox,
  SealedBoxError,
  type SealedBoxErrorCode,
  type SealTesting,
} from "../crypto/sealed_box.ts";

export {
  generateInboxKeyPair,
  type InboxKey,
  type Recipient,
  type SealTesting,
} from "../crypto/sealed_box.ts";

export const VOICEMAIL_VERSION = 1;

/** The sealed box label of voicemail. */
const LABEL = "reach-vm-v1";

/** A sealed voicemail, as uploaded and stored. */
export type Envelope = SealedBox;

/** A voicemail in the clear. */
export interface Voicemail {
  audio: Uint8Array;
  mime: string;
  durationMs: number;
  name?: string;
}

/**
 * The sealed box's codes: `no_recipients` (sealing to no inbox keys),
 * `not_for_this_device` (no entry for this device's keyId), `wrong_call`
 * (another call or handle than expected), `tampered` (authentication
 * failed), `malformed` (bad shape, base64, lengths or limits, at seal or
 * open, including the voicemail header and plaintext layout).
 */
export type VoicemailErrorCode = SealedBoxErrorCode;

export class VoicemailError extends Error {
  constructor(
    public readonly code: VoicemailErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "VoicemailError";
  }
}

const TAG_BYTES = 16;
const LEN_BYTES = 4;
const MAX_HEADER_BYTES = 1024;
const MAX_NAME_CODE_POINTS = 60;
const MAX_MIME_CHARS = 255;

/**
 * The format's sizes, for anyone who checks an envelope's shape without
 * opening it (the server's schema in lib/voicemail/service.ts). Byte counts
 * are of the decoded base64.
 */
export const ENVELOPE_LIMITS = {
  /** `iv` and each recipient's `iv`. */
  ivBytes: BOX_LIMITS.ivBytes,
  /** Each recipient's `epk`, and an inbox public key. */
  publicKeyBytes: BOX_LIMITS.publicKeyBytes,
  /** Each recipient's `wrapped` content key (key ‖ tag). */
  wrappedBytes: BOX_LIMITS.wrappedBytes,
  /** The shortest `ct`: the header length and the tag, no header or audio. */
  minCiphertextBytes: LEN_BYTES + TAG_BYTES,
  /** `callId`, `handle` and each `keyId`, in UTF-16 code units. */
  maxIdChars: BOX_LIMITS.maxIdChars,
  maxRecipients: BOX_LIMITS.maxRecipients,
} as const;

const utf8 = new TextEncoder();

/** Runs a sealed box operation, turning its errors into VoicemailErrors. */
async function asVoicemail<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof SealedBoxError) {
      throw new VoicemailError(e.code, e.message);
    }
    throw e;
  }
}

// ------------------------------------------------------------ validation

function malformed(message: string): never {
  throw new VoicemailError("malformed", message);
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

// -------------------------------------------------------------------- API

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
  if (!(input.audio instanceof Uint8Array)) {
    malformed("audio must be a Uint8Array");
  }
  const header = encodeHeader(input);
  const pt = new Uint8Array(LEN_BYTES + header.length + input.audio.length);
  new DataView(pt.buffer).setUint32(0, header.length);
  pt.set(header, LEN_BYTES);
  pt.set(input.audio, LEN_BYTES + header.length);
  try {
    return await asVoicemail(
      sealBox(
        LABEL,
        { callId: input.callId, handle: input.handle },
        pt,
        keys,
        testing,
      ),
    );
  } finally {
    pt.fill(0);
  }
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
  const pt = await asVoicemail(
    openBox(LABEL, env, key, expected, ENVELOPE_LIMITS.minCiphertextBytes),
  );
  return parsePlaintext(pt);
}
