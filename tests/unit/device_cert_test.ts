import assert from "node:assert/strict";
import * as ed from "@noble/ed25519";
import { base58 } from "@scure/base";
import "@/lib/identity/siws.ts"; // sha512 hook for noble
import {
  base58Decode,
  certText,
  parseCert,
  parseStatement,
  sdpFingerprint,
  statementText,
  verifyPeer,
} from "@/lib/identity/device_cert.ts";

const enc = new TextEncoder();
const sign = (secret: Uint8Array, text: string) =>
  base58.encode(ed.sign(enc.encode(text), secret));
const key = (n: number) => {
  const secret = new Uint8Array(32).fill(n);
  return { secret, pub: base58.encode(ed.getPublicKey(secret)) };
};

const wallet = key(1), device = key(2), other = key(3);
const BOB_FP = "sha-256 " + Array(32).fill("AB").join(":");
const ALICE_FP = "sha-256 " + Array(32).fill("CD").join(":");
const MALLORY_FP = "sha-256 " + Array(32).fill("EF").join(":");
const now = new Date("2026-11-26T08:00:00Z");
const callId = "0b7c5a8e-8c1b-4f7e-9a51-3f1b0c2d4e6f";

function proof(over: {
  certBy?: Uint8Array;
  handle?: string;
  expires?: string;
  signerFp?: string;
  peerFp?: string;
  statementBy?: Uint8Array;
  call?: string;
} = {}) {
  const cert = certText({
    handle: over.handle ?? "bob",
    device: device.pub,
    wallet: wallet.pub,
    issued: "2026-11-01T00:00:00.000Z",
    expires: over.expires ?? "2027-01-30T00:00:00.000Z",
  });
  const statement = statementText({
    call: over.call ?? callId,
    role: "callee",
    signerFingerprint: over.signerFp ?? BOB_FP,
    peerFingerprint: over.peerFp ?? ALICE_FP,
    time: now.toISOString(),
  });
  return {
    cert,
    certSig: sign(over.certBy ?? wallet.secret, cert),
    statement,
    sig: sign(over.statementBy ?? device.secret, statement),
  };
}

const expect = {
  callId,
  role: "callee" as const,
  handle: "bob",
  wallet: wallet.pub,
  remoteFps: [BOB_FP, BOB_FP],
  localFp: ALICE_FP,
  now,
};

Deno.test("verified calls: an honest callee's proof verifies", async () => {
  const v = await verifyPeer(proof(), expect);
  assert.equal(v.ok, true);
});

Deno.test("verified calls: every mismatch is refused with its own reason", async () => {
  const cases: [
    string,
    Parameters<typeof verifyPeer>[0],
    Partial<typeof expect>,
    RegExp,
  ][] = [
    ["a man in the middle's certificate in DTLS", proof(), {
      remoteFps: [BOB_FP, MALLORY_FP],
    }, /not the one the device signed/],
    ["a man in the middle's fingerprint in the SDP", proof(), {
      remoteFps: [MALLORY_FP, MALLORY_FP],
    }, /not the one the device signed/],
    [
      "the callee saw another key for the caller",
      proof({ peerFp: MALLORY_FP }),
      {},
      /different key for you/,
    ],
    [
      "certificate signed by another wallet",
      proof({ certBy: other.secret }),
      {},
      /signature is not valid/,
    ],
    [
      "pinned wallet differs",
      proof(),
      { wallet: other.pub },
      /expected wallet key/,
    ],
    [
      "certificate for another handle",
      proof({ handle: "mallory" }),
      {},
      /another handle/,
    ],
    [
      "expired certificate",
      proof({ expires: "2026-11-02T00:00:00.000Z" }),
      {},
      /not current/,
    ],
    [
      "statement signed by another key",
      proof({ statementBy: other.secret }),
      {},
      /statement's signature/,
    ],
    [
      "statement for another call",
      proof({ call: "11111111-1111-4111-8111-111111111111" }),
      {},
      /another call/,
    ],
    [
      "no DTLS fingerprint seen",
      proof(),
      { remoteFps: [] },
      /not the one the device signed/,
    ],
  ];
  for (const [what, p, change, reason] of cases) {
    const v = await verifyPeer(p, { ...expect, ...change });
    assert.equal(v.ok, false, what);
    if (!v.ok) assert.match(v.reason, reason, what);
  }
  const tampered = proof();
  tampered.statement = tampered.statement.replace(BOB_FP, MALLORY_FP);
  const v = await verifyPeer(tampered, {
    ...expect,
    remoteFps: [MALLORY_FP, MALLORY_FP],
  });
  assert.equal(v.ok, false, "a rewritten statement fails its signature");
});

Deno.test("verified calls: the small base58 decoder agrees with @scure/base", () => {
  for (let i = 0; i < 200; i++) {
    const bytes = crypto.getRandomValues(new Uint8Array(i % 70));
    if (i % 7 === 0 && bytes.length) bytes[0] = 0;
    assert.deepEqual(base58Decode(base58.encode(bytes)), bytes);
  }
  assert.throws(() => base58Decode("0OIl"));
});

Deno.test("verified calls: formats parse back, and SDP fingerprints are read exactly", () => {
  const p = proof();
  assert.equal(parseCert(p.cert)?.wallet, wallet.pub);
  assert.equal(parseStatement(p.statement)?.signerFingerprint, BOB_FP);
  assert.equal(parseCert(p.cert + "\nextra: line"), null);
  assert.equal(
    parseStatement(p.statement.replace("role: callee", "role: admin")),
    null,
  );
  const sdp =
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\na=fingerprint:SHA-256 ab:cd:ef\r\nm=audio 9\r\n";
  assert.equal(sdpFingerprint(sdp), "sha-256 AB:CD:EF");
  assert.equal(sdpFingerprint("v=0\r\n"), null);
});
