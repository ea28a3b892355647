/**
 * Sealed rings: who is calling, sealed in the caller's browser to the
 * callee's inbox keys, so the signaling server relays the caller's identity
 * without being able to read it. The callee's browser checks it without
 * asking the server anything (asking would tell the server who called).
 *
 * The box is a sealed box (lib/crypto/sealed_box.ts) with the label
 * `reach-ring-v1`, `callId` the call's id and `handle` the callee's handle.
 * Its plaintext is the UTF-8 of
 * ```
 * JSON.stringify({ cert, certSig, att, attSig, fingerprint, time, sig })
 * ```
 * exactly: those keys in that order, no whitespace (the opener re-encodes
 * and compares, so the size of a valid plaintext follows from the fields'
 * limits and nothing else):
 * - `cert`, `certSig`: the caller's device certificate text
 *   (lib/identity/device_cert.ts) and its wallet's base58 signature over it;
 * - `att`, `attSig`: the server's handle attestation for the caller
 *   (lib/identity/handle_attestation.ts) and its base58 signature;
 * - `fingerprint`: the caller's DTLS certificate fingerprint for this call,
 *   `sha-256 AB:CD:...` (32 uppercase hex bytes);
 * - `time`: when it was sealed, `Date.prototype.toISOString()` form;
 * - `sig`: the certified device key's base58 Ed25519 signature over the
 *   ring statement:
 *   ```
 *   Reach ring v1
 *   call: <callId>
 *   to: <callee handle>
 *   from: <caller handle>
 *   fingerprint: <fingerprint>
 *   time: <ISO time>
 *   ```
 *
 * Limits (UTF-16 code units): cert ≤ 1024 and att ≤ 512, both printable
 * ASCII other than `"` and `\` plus line feeds; each signature ≤ 128 base58
 * characters; fingerprint ≤ 160 and of the form above (so 103); time 24.
 *
 * The opener trusts the result as far as: the wallet signed the device
 * certificate, the server's attestation key says the handle is that
 * wallet's, the device signed this call to this callee with this
 * fingerprint recently. What it does not give: the server can still drop
 * or delay the ring, or show a ring with no sealed identity (the UI then
 * says "unverified"); the media's fingerprint must still be compared with
 * the one returned here once DTLS is up.
 *
 * Browser-safe: WebCrypto, @scure/base, @noble/ed25519. No Deno APIs.
 */
import {
  type InboxKey,
  openBox,
  sealBox,
  type SealedBox,
  SealedBoxError,
} from "../crypto/sealed_box.ts";
import { ed25519Verify, parseCert } from "./device_cert.ts";
import {
  ATTESTATION_LIMITS,
  parseAttestation,
  verifyAttestation,
} from "./handle_attestation.ts";
import { HANDLE_MAX } from "./handles.ts";

export const RING_LABEL = "reach-ring-v1";

const MAX_CERT_CHARS = 1024;
const MAX_ATT_CHARS = ATTESTATION_LIMITS.maxTextChars; // 512
const MAX_SIG_CHARS = 128;
const MAX_FINGERPRINT_CHARS = 160;
const FINGERPRINT_RE = /^sha-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}$/;
/** What FINGERPRINT_RE admits: "sha-256 " and 32 "XX" joined by ":". */
const FINGERPRINT_CHARS = "sha-256 ".length + 32 * 3 - 1;
const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const TIME_CHARS = "2026-01-01T00:00:00.000Z".length;
/** Printable ASCII except `"` and `\` (which JSON would escape), and LF. */
const TEXT_RE = /^[\n\x20\x21\x23-\x5b\x5d-\x7e]+$/;
const B58_RE = /^[1-9A-HJ-NP-Za-km-z]+$/;
/** callId and handles in a statement: printable ASCII without space. */
const TOKEN_RE = /^[\x21-\x7e]+$/;
/** Line feeds of a parseable certificate (6 lines) and attestation (5). */
const CERT_LFS = 5;
const ATT_LFS = 4;
const CLOCK_SKEW_MS = 30_000;

const KEYS = [
  "cert",
  "certSig",
  "att",
  "attSig",
  "fingerprint",
  "time",
  "sig",
] as const;
type RingFields = Record<typeof KEYS[number], string>;

/** The plaintext's JSON: KEYS in that order (an object keeps insertion order). */
const encode = (f: RingFields) =>
  JSON.stringify(Object.fromEntries(KEYS.map((k) => [k, f[k]])));

/**
 * The longest plaintext a ring the opener accepts can have, in bytes
 * (ASCII, so also characters): every field at its limit, with the line
 * feeds a parseable certificate and attestation must have (each escaped as
 * two characters, `\n`); no other character of the allowed ones is escaped.
 */
const MAX_PLAINTEXT_BYTES = encode({
  cert: "\n".repeat(CERT_LFS).padEnd(MAX_CERT_CHARS, "x"),
  certSig: "x".repeat(MAX_SIG_CHARS),
  att: "\n".repeat(ATT_LFS).padEnd(MAX_ATT_CHARS, "x"),
  attSig: "x".repeat(MAX_SIG_CHARS),
  fingerprint: "x".repeat(Math.min(MAX_FINGERPRINT_CHARS, FINGERPRINT_CHARS)),
  time: "x".repeat(TIME_CHARS),
  sig: "x".repeat(MAX_SIG_CHARS),
}).length;

/** Characters of the base64 of n bytes. */
const b64Chars = (n: number) => 4 * Math.ceil(n / 3);
/** callIds and inbox keyIds are UUIDs. */
const UUID_CHARS = 36;
const MAX_RECIPIENTS = 10;

/**
 * The longest `JSON.stringify(box)` of a ring a browser accepts, sealed to
 * 10 inbox keys, with a UUID callId and keyIds and a callee handle of 30
 * characters (no character of either is escaped by JSON): the box's JSON
 * with every base64 field at its length and `ct` = the longest plaintext
 * plus the 16-byte tag. The server refuses bigger ones.
 */
export const MAX_SEALED_CHARS: number = JSON.stringify(
  {
    v: 1,
    callId: "x".repeat(UUID_CHARS),
    handle: "x".repeat(HANDLE_MAX),
    iv: "x".repeat(b64Chars(12)),
    ct: "x".repeat(b64Chars(MAX_PLAINTEXT_BYTES + 16)),
    recipients: Array.from({ length: MAX_RECIPIENTS }, () => ({
      keyId: "x".repeat(UUID_CHARS),
      epk: "x".repeat(b64Chars(32)),
      iv: "x".repeat(b64Chars(12)),
      wrapped: "x".repeat(b64Chars(48)),
    })),
  } satisfies SealedBox,
).length;

/** The text the caller's device key signs for one ring. */
export function ringStatementText(
  s: {
    callId: string;
    to: string;
    from: string;
    fingerprint: string;
    time: string;
  },
): string {
  return [
    "Reach ring v1",
    `call: ${s.callId}`,
    `to: ${s.to}`,
    `from: ${s.from}`,
    `fingerprint: ${s.fingerprint}`,
    `time: ${s.time}`,
  ].join("\n");
}

/** Exactly the ring's keys, each a string within its limits and form. */
function checkFields(o: unknown): o is RingFields {
  if (typeof o !== "object" || o === null || Array.isArray(o)) return false;
  const rec = o as Record<string, unknown>;
  const keys = Object.keys(rec);
  if (
    keys.length !== KEYS.length || KEYS.some((k) => typeof rec[k] !== "string")
  ) {
    return false;
  }
  const f = rec as RingFields;
  const isIso = (t: string) =>
    TIME_RE.test(t) && !Number.isNaN(Date.parse(t)) &&
    new Date(t).toISOString() === t;
  return f.cert.length <= MAX_CERT_CHARS && TEXT_RE.test(f.cert) &&
    f.att.length <= MAX_ATT_CHARS && TEXT_RE.test(f.att) &&
    [f.certSig, f.attSig, f.sig].every((s) =>
      s.length <= MAX_SIG_CHARS && B58_RE.test(s)
    ) &&
    f.fingerprint.length <= MAX_FINGERPRINT_CHARS &&
    FINGERPRINT_RE.test(f.fingerprint) && isIso(f.time);
}

function refuse(message: string): never {
  throw new SealedBoxError("malformed", message);
}

/**
 * Seals who is calling (`identity`: the device certificate, the wallet's
 * signature and the device's signer, as lib/client/device_identity.ts holds
 * them; `attestation`: the server's for the caller's handle) to the
 * callee's inbox keys, for call `callId` to handle `to`. The caller's handle
 * is the certificate's. Throws SealedBoxError `no_recipients` or
 * `malformed` (fields out of the limits above, a certificate or attestation
 * that does not parse or whose handle or wallet differ, more than 10 keys,
 * bad keys or ids).
 */
export async function sealRing(
  input: {
    callId: string;
    to: string;
    fingerprint: string;
    time?: Date;
    identity: {
      cert: string;
      certSig: string;
      sign(text: string): Promise<string>;
    };
    attestation: { text: string; sig: string };
  },
  keys: InboxKey[],
): Promise<SealedBox> {
  const { callId, to, fingerprint } = input;
  if (
    typeof callId !== "string" || !TOKEN_RE.test(callId) ||
    typeof to !== "string" || !TOKEN_RE.test(to)
  ) {
    refuse("callId and to must be printable ASCII without space");
  }
  const cert = parseCert(input.identity?.cert);
  const att = parseAttestation(input.attestation?.text);
  if (!cert || !att) {
    refuse("the device certificate or handle attestation does not parse");
  }
  if (cert.handle !== att.handle || cert.wallet !== att.wallet) {
    refuse("the handle attestation is for another handle or wallet");
  }
  const when = input.time ?? new Date();
  if (!(when instanceof Date) || Number.isNaN(when.getTime())) {
    refuse("time must be a valid Date");
  }
  const time = when.toISOString();
  const fields: RingFields = {
    cert: input.identity.cert,
    certSig: input.identity.certSig,
    att: input.attestation.text,
    attSig: input.attestation.sig,
    fingerprint,
    time,
    sig: "1",
  };
  if (!checkFields(fields)) refuse("a field of the ring is out of limits");
  fields.sig = await input.identity.sign(
    ringStatementText({ callId, to, from: cert.handle, fingerprint, time }),
  );
  if (!checkFields(fields)) refuse("the device's signature is out of limits");
  return await sealBox(
    RING_LABEL,
    { callId, handle: to },
    new TextEncoder().encode(encode(fields)),
    keys,
  );
}

export type RingVerdict =
  | { ok: true; handle: string; wallet: string; fingerprint: string }
  | { ok: false; reason: string };

const MALFORMED = "the caller's identity is malformed";

const fail = (reason: string): RingVerdict => ({ ok: false, reason });

/**
 * Opens and checks a sealed ring on the callee's device. `expect`: the call
 * id and this callee's own handle (as the ring arrived), how long the ring
 * may have been ringing (`ringMs`), the server's attestation public key
 * (base58), the wallet this browser has pinned for a handle if any, and the
 * clock. Never throws for a bad box (only, as a bug, for a key that is not
 * an X25519 private key); refusals give a short reason that never names
 * the claimed caller or their wallet. Ok gives the caller's handle, wallet
 * and DTLS fingerprint (compare it with the connection's).
 */
export async function openRing(
  box: unknown,
  key: { keyId: string; privateKey: CryptoKey },
  expect: {
    callId: string;
    handle: string;
    ringMs: number;
    attestationKey: string;
    pinned?: (handle: string) => string | undefined;
    now?: Date;
  },
): Promise<RingVerdict> {
  let pt: Uint8Array;
  try {
    pt = await openBox(RING_LABEL, box, key, {
      callId: expect.callId,
      handle: expect.handle,
    });
  } catch (e) {
    if (!(e instanceof SealedBoxError)) throw e;
    switch (e.code) {
      case "not_for_this_device":
        return fail("this device was not among those the caller sealed to");
      case "wrong_call":
      case "tampered":
        return fail(
          "the caller's identity was sealed for another call or changed on the way",
        );
      default:
        return fail(MALFORMED);
    }
  }
  if (pt.length > MAX_PLAINTEXT_BYTES) return fail(MALFORMED);
  let f: unknown;
  let json: string;
  try {
    json = new TextDecoder("utf-8", { fatal: true }).decode(pt);
    f = JSON.parse(json);
  } catch {
    return fail(MALFORMED);
  }
  if (!checkFields(f) || encode(f) !== json) return fail(MALFORMED);

  const cert = parseCert(f.cert);
  if (!cert) return fail(MALFORMED);
  if (!await ed25519Verify(cert.wallet, f.certSig, f.cert)) {
    return fail(
      "the caller's device certificate is not signed by their wallet",
    );
  }
  const now = (expect.now ?? new Date()).getTime();
  if (
    !(Date.parse(cert.issued) <= now + 600_000 &&
      now < Date.parse(cert.expires))
  ) {
    return fail("the caller's device certificate is not current");
  }
  const att = await verifyAttestation(
    f.att,
    f.attSig,
    expect.attestationKey,
    new Date(now),
  );
  if (!att.ok) return fail(att.reason);
  if (att.handle !== cert.handle || att.wallet !== cert.wallet) {
    return fail(
      "the handle attestation does not match the caller's device certificate",
    );
  }
  const statement = ringStatementText({
    callId: expect.callId,
    to: expect.handle,
    from: cert.handle,
    fingerprint: f.fingerprint,
    time: f.time,
  });
  if (!await ed25519Verify(cert.device, f.sig, statement)) {
    return fail("the caller's device did not sign this ring");
  }
  const t = Date.parse(f.time);
  if (!(t >= now - expect.ringMs - CLOCK_SKEW_MS)) {
    return fail("the caller's identity is older than this ring");
  }
  if (!(t <= now + CLOCK_SKEW_MS)) {
    return fail("the caller's identity is from the future");
  }
  const known = expect.pinned?.(cert.handle);
  if (known !== undefined && known !== cert.wallet) {
    return fail("the caller's key is not the one this browser knows for them");
  }
  return {
    ok: true,
    handle: cert.handle,
    wallet: cert.wallet,
    fingerprint: f.fingerprint,
  };
}
