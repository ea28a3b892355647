/**
 * Callers and callees for sealed rings (lib/identity/sealed_ring.ts) and the
 * sealed boxes they travel in (lib/crypto/sealed_box.ts), for the unit tests
 * and bench/sealed_ring.ts: Ed25519 keys made and checked with WebCrypto
 * (not with the code under test), device certificates, handle attestations,
 * inbox keys, and the changed or malformed boxes the openers must refuse.
 */
import assert from "node:assert/strict";
import { base58 } from "@scure/base";
import {
  generateInboxKeyPair,
  type InboxKey,
  type Recipient,
  type SealedBox,
} from "@/lib/crypto/sealed_box.ts";
import { certText } from "@/lib/identity/device_cert.ts";
import { signAttestation } from "@/lib/identity/handle_attestation.ts";

const enc = new TextEncoder();

// ------------------------------------------------------------ Ed25519 keys

export interface EdKey {
  /** The raw public key, base58. */
  pub: string;
  /** An Ed25519 signature over the UTF-8 of `text`, base58. */
  sign(text: string): Promise<string>;
}

/** A fresh Ed25519 key (a wallet or a device) made with WebCrypto. */
export async function edKey(): Promise<EdKey> {
  const kp = await crypto.subtle.generateKey({ name: "Ed25519" }, false, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  return {
    pub: base58.encode(
      new Uint8Array(await crypto.subtle.exportKey("raw", kp.publicKey)),
    ),
    sign: async (text) =>
      base58.encode(
        new Uint8Array(
          await crypto.subtle.sign("Ed25519", kp.privateKey, enc.encode(text)),
        ),
      ),
  };
}

/** Whether `sig` is `pub`'s Ed25519 signature over `text` (base58 both). */
export async function edVerify(
  pub: string,
  sig: string,
  text: string,
): Promise<boolean> {
  const key = await crypto.subtle.importKey(
    "raw",
    base58.decode(pub) as BufferSource,
    "Ed25519",
    false,
    ["verify"],
  );
  return await crypto.subtle.verify(
    "Ed25519",
    key,
    base58.decode(sig) as BufferSource,
    enc.encode(text),
  );
}

/** The RFC 8410 PKCS#8 form of a raw 32-byte Ed25519 seed. */
export function ed25519Pkcs8(seed: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array([
    ...Uint8Array.fromHex("302e020100300506032b657004220420"),
    ...seed,
  ]);
}

/**
 * Signs `text` with the Ed25519 key of `seed` (e.g. the attestation
 * server's), with none of signAttestation's checks; base58.
 */
export async function signWithSeed(
  seed: Uint8Array,
  text: string,
): Promise<string> {
  const key = await crypto.subtle.importKey(
    "pkcs8",
    ed25519Pkcs8(seed),
    "Ed25519",
    false,
    ["sign"],
  );
  return base58.encode(
    new Uint8Array(await crypto.subtle.sign("Ed25519", key, enc.encode(text))),
  );
}

// ---------------------------------------------------------------- callers

/** The validity of a test device certificate (the unit tests' clock is 2026-11-26). */
export const CERT_DATES = {
  issued: "2026-11-01T00:00:00.000Z",
  expires: "2027-01-30T00:00:00.000Z",
};

/**
 * A device certificate for `handle` certifying `device` for `wallet`, and
 * the signature of `by` (default: the wallet) over it.
 */
export async function makeCert(
  handle: string,
  device: EdKey,
  wallet: EdKey,
  o: { by?: EdKey; issued?: string; expires?: string } = {},
): Promise<{ cert: string; certSig: string }> {
  const cert = certText({
    handle,
    device: device.pub,
    wallet: wallet.pub,
    issued: o.issued ?? CERT_DATES.issued,
    expires: o.expires ?? CERT_DATES.expires,
  });
  return { cert, certSig: await (o.by ?? wallet).sign(cert) };
}

/**
 * A caller as sealRing takes them: a new wallet and device, the device
 * certificate the wallet signed (`cert`: its dates, default CERT_DATES) and
 * the attestation server's (`seed`) attestation issued at `attIssued`.
 */
export async function ringCaller(
  handle: string,
  seed: Uint8Array,
  o: { attIssued: Date; cert?: { issued?: string; expires?: string } },
) {
  const wallet = await edKey(), device = await edKey();
  const { cert, certSig } = await makeCert(handle, device, wallet, o.cert);
  return {
    handle,
    wallet,
    device,
    identity: { cert, certSig, sign: device.sign },
    attestation: await signAttestation(seed, {
      handle,
      wallet: wallet.pub,
      issued: o.attIssued,
    }),
  };
}

// -------------------------------------------------------------- inbox keys

/** `n` new inbox key pairs, as `n` devices of a callee hold them. */
export function inboxKeyPairs(
  n: number,
): Promise<Awaited<ReturnType<typeof generateInboxKeyPair>>[]> {
  return Promise.all(Array.from({ length: n }, () => generateInboxKeyPair()));
}

/** An inbox key as a caller gets it: no private key. */
export const pub = (k: InboxKey): InboxKey => ({
  keyId: k.keyId,
  publicKey: k.publicKey,
});

/** Imports a raw X25519 private key (RFC 8410 PKCS#8), non-extractable. */
export function importInboxPrivate(raw: Uint8Array): Promise<CryptoKey> {
  const pkcs8 = new Uint8Array([
    ...Uint8Array.fromHex("302e020100300506032b656e04220420"),
    ...raw,
  ]);
  return crypto.subtle.importKey("pkcs8", pkcs8, { name: "X25519" }, false, [
    "deriveBits",
  ]);
}

/** A key that is not an X25519 private key (opening with it is a bug). */
export async function notAnInboxKey(): Promise<CryptoKey> {
  return await crypto.subtle.generateKey(
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt"],
  ) as CryptoKey;
}

/** Inbox public keys a sealer must refuse, next to a valid one. */
export const badPublicKeys = (valid: string): string[] => [
  new Uint8Array(31).toBase64(),
  new Uint8Array(33).toBase64(),
  "not base64!",
  valid.slice(0, -1),
  new Uint8Array(32).toBase64(), // low order: all-zero shared secret
];

/** Call ids and handles a sealer must refuse; `tooLong` characters is one over. */
export const badIds = (tooLong: number) => [
  { callId: "" },
  { handle: "" },
  { callId: "a\0b" },
  { handle: "x".repeat(tooLong) },
];

// ------------------------------------------------------ changed boxes

/**
 * `rejectsWith(p, code, msg?)`: asserts that `p` rejects with an `errorClass`
 * error of that `code` (SealedBoxError, VoicemailError).
 */
export function codeRejection(
  errorClass: abstract new (...args: never[]) => Error & { code: string },
) {
  return async (p: Promise<unknown>, code: string, msg?: string) => {
    await assert.rejects(p, (e) => {
      assert.ok(e instanceof errorClass, String(e));
      assert.equal(e.code, code, msg ?? e.message);
      return true;
    });
  };
}

/** Flips one bit of a base64 field. */
export function flip(b64: string, byte: number, bit = 0x01): string {
  const bytes = Uint8Array.fromBase64(b64);
  bytes[byte] ^= bit;
  return bytes.toBase64();
}

/** `box` with its first recipient's entry changed by `patch`. */
export function withFirst<B extends SealedBox>(
  box: B,
  patch: Partial<Recipient>,
): B {
  const [r, ...rest] = box.recipients;
  return { ...box, recipients: [{ ...r, ...patch }, ...rest] };
}

/**
 * Shapes every sealed box opener refuses as malformed, made from a valid
 * `box` with two or more recipients (its first entry reused), with what
 * each is.
 */
export function malformedBoxes(box: SealedBox): [string, unknown][] {
  const r = box.recipients[0];
  /** The box with only that entry, changed. */
  const only = (patch: Partial<Recipient>) => ({
    ...box,
    recipients: [{ ...r, ...patch }],
  });
  return [
    ["null", null],
    ["v2", { ...box, v: 2 }],
    ["no recipients", { ...box, recipients: [] }],
    ["recipients not array", { ...box, recipients: r }],
    ["duplicate keyId", { ...box, recipients: [r, r] }],
    ["recipient null", { ...box, recipients: [null] }],
    ["ct not string", { ...box, ct: 5 }],
    ["ct not base64", { ...box, ct: "!!!!" }],
    ["ct unpadded", { ...box, ct: box.ct.replace(/=+$/, "") + "A" }],
    ["iv 8 bytes", { ...box, iv: new Uint8Array(8).toBase64() }],
    ["epk 31 bytes", only({ epk: new Uint8Array(31).toBase64() })],
    ["wrapped 47 bytes", only({ wrapped: new Uint8Array(47).toBase64() })],
    ["wrap iv whitespace", only({ iv: ` ${r.iv}` })],
  ];
}

/**
 * A voicemail plaintext built by hand (the `reach-vm-v1` box's, see
 * lib/voicemail/envelope.ts): the header's length as a uint32 big-endian,
 * the header (UTF-8 of a string), then the audio bytes.
 */
export function voicemailPlaintext(
  header: string | Uint8Array,
  audio: ArrayLike<number>,
): Uint8Array {
  const h = typeof header === "string" ? enc.encode(header) : header;
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, h.length);
  return new Uint8Array([...len, ...h, ...Array.from(audio)]);
}
