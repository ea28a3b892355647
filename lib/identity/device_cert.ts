/**
 * Verified calls: the texts that bind a browser's DTLS certificate to the
 * owner's wallet key, so that a signaling server in the middle is caught.
 * Browser-safe (WebCrypto Ed25519, base58).
 *
 * Device certificate (signed by the wallet key, i.e. the SIWS identity):
 *   Reach device certificate v1
 *   handle: <handle>
 *   device: <base58 Ed25519 device public key>
 *   wallet: <base58 wallet public key>
 *   issued: <ISO time>
 *   expires: <ISO time>
 *
 * Call statement (signed by that device key, once per call):
 *   Reach call statement v1
 *   call: <call id>
 *   role: callee | caller
 *   signer-fingerprint: <the signer's own DTLS fingerprint, sha-256 AA:BB:..>
 *   peer-fingerprint: <the other side's fingerprint exactly as the signer saw it>
 *   time: <ISO time>
 *
 * The verifier checks: the certificate is signed by the wallet key it expects
 * (the one pinned for the handle), names that handle, and is current; the
 * statement is signed by the certificate's device key and names this call;
 * the signer's fingerprint is the one in the SDP it received AND the one the
 * DTLS handshake used; the peer fingerprint is the verifier's own.
 */
const B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/** Base58 (Bitcoin alphabet) decoding, small enough for the call page. */
export function base58Decode(text: string): Uint8Array {
  let n = 0n;
  for (const ch of text) {
    const v = B58.indexOf(ch);
    if (v < 0) throw new Error("not base58");
    n = n * 58n + BigInt(v);
  }
  const bytes: number[] = [];
  while (n > 0n) {
    bytes.unshift(Number(n & 255n));
    n >>= 8n;
  }
  for (const ch of text) {
    if (ch !== "1") break;
    bytes.unshift(0);
  }
  return new Uint8Array(bytes);
}

export interface DeviceCert {
  handle: string;
  device: string;
  wallet: string;
  issued: string;
  expires: string;
}

export interface Statement {
  call: string;
  role: "callee" | "caller";
  signerFingerprint: string;
  peerFingerprint: string;
  time: string;
}

export function certText(c: DeviceCert): string {
  return [
    "Reach device certificate v1",
    `handle: ${c.handle}`,
    `device: ${c.device}`,
    `wallet: ${c.wallet}`,
    `issued: ${c.issued}`,
    `expires: ${c.expires}`,
  ].join("\n");
}

export function statementText(s: Statement): string {
  return [
    "Reach call statement v1",
    `call: ${s.call}`,
    `role: ${s.role}`,
    `signer-fingerprint: ${s.signerFingerprint}`,
    `peer-fingerprint: ${s.peerFingerprint}`,
    `time: ${s.time}`,
  ].join("\n");
}

function fields(
  text: string,
  header: string,
  names: string[],
): string[] | null {
  const lines = text.split("\n");
  if (lines.length !== names.length + 1 || lines[0] !== header) return null;
  const out: string[] = [];
  for (let i = 0; i < names.length; i++) {
    const prefix = `${names[i]}: `;
    if (!lines[i + 1].startsWith(prefix)) return null;
    out.push(lines[i + 1].slice(prefix.length));
  }
  return out;
}

export function parseCert(text: string): DeviceCert | null {
  const f = fields(text, "Reach device certificate v1", [
    "handle",
    "device",
    "wallet",
    "issued",
    "expires",
  ]);
  return f
    ? { handle: f[0], device: f[1], wallet: f[2], issued: f[3], expires: f[4] }
    : null;
}

export function parseStatement(text: string): Statement | null {
  const f = fields(text, "Reach call statement v1", [
    "call",
    "role",
    "signer-fingerprint",
    "peer-fingerprint",
    "time",
  ]);
  if (!f || (f[1] !== "callee" && f[1] !== "caller")) return null;
  return {
    call: f[0],
    role: f[1],
    signerFingerprint: f[2],
    peerFingerprint: f[3],
    time: f[4],
  };
}

/** "sha-256 AB:CD:..." from an SDP (the session's or first media's fingerprint). */
export function sdpFingerprint(sdp: string): string | null {
  const m = /^a=fingerprint:(\S+) ([0-9A-Fa-f:]+)\s*$/m.exec(sdp);
  return m ? `${m[1].toLowerCase()} ${m[2].toUpperCase()}` : null;
}

export async function ed25519Verify(
  publicKeyB58: string,
  signatureB58: string,
  text: string,
): Promise<boolean> {
  try {
    const pub = base58Decode(publicKeyB58);
    const sig = base58Decode(signatureB58);
    if (pub.length !== 32 || sig.length !== 64) return false;
    const key = await crypto.subtle.importKey(
      "raw",
      pub as BufferSource,
      { name: "Ed25519" },
      false,
      ["verify"],
    );
    return await crypto.subtle.verify(
      { name: "Ed25519" },
      key,
      sig as BufferSource,
      new TextEncoder().encode(text),
    );
  } catch {
    return false;
  }
}

export interface VerifyInput {
  cert: string;
  certSig: string;
  statement: string;
  sig: string;
}

export type Verdict =
  | { ok: true; cert: DeviceCert }
  | { ok: false; reason: string };

/**
 * Checks a peer's proof. `expectWallet` is the wallet key this browser
 * trusts for the peer (pinned); `remoteFps` are the peer fingerprints this
 * browser saw (from the SDP it received and from the DTLS handshake);
 * `localFp` is this browser's own fingerprint.
 */
export async function verifyPeer(
  v: VerifyInput,
  expect: {
    callId: string;
    role: "callee" | "caller";
    handle?: string;
    wallet: string;
    remoteFps: string[];
    localFp: string;
    now?: Date;
  },
): Promise<Verdict> {
  const cert = parseCert(v.cert);
  if (!cert) {
    return { ok: false, reason: "the device certificate is malformed" };
  }
  if (cert.wallet !== expect.wallet) {
    return {
      ok: false,
      reason: "the device is not certified by the expected wallet key",
    };
  }
  if (expect.handle !== undefined && cert.handle !== expect.handle) {
    return { ok: false, reason: "the device certificate names another handle" };
  }
  if (!await ed25519Verify(cert.wallet, v.certSig, v.cert)) {
    return {
      ok: false,
      reason: "the device certificate's signature is not valid",
    };
  }
  const now = (expect.now ?? new Date()).getTime();
  if (
    !(Date.parse(cert.issued) <= now + 600_000 &&
      now < Date.parse(cert.expires))
  ) {
    return { ok: false, reason: "the device certificate is not current" };
  }
  const st = parseStatement(v.statement);
  if (!st) return { ok: false, reason: "the call statement is malformed" };
  if (!await ed25519Verify(cert.device, v.sig, v.statement)) {
    return { ok: false, reason: "the call statement's signature is not valid" };
  }
  if (st.call !== expect.callId || st.role !== expect.role) {
    return { ok: false, reason: "the statement is for another call" };
  }
  const norm = (f: string) => f.trim().toLowerCase();
  if (
    !expect.remoteFps.length ||
    expect.remoteFps.some((f) => norm(f) !== norm(st.signerFingerprint))
  ) {
    return {
      ok: false,
      reason: "the encryption key in use is not the one the device signed",
    };
  }
  if (norm(st.peerFingerprint) !== norm(expect.localFp)) {
    return {
      ok: false,
      reason: "the device saw a different key for you than yours",
    };
  }
  return { ok: true, cert };
}
