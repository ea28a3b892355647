import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { base58 } from "@scure/base";
import {
  ATTESTATION_LIMITS,
  attestationPublicKey,
  attestationSeed,
  attestationText,
  parseAttestation,
  signAttestation,
  verifyAttestation,
} from "@/lib/identity/handle_attestation.ts";
import {
  ed25519Pkcs8,
  edKey,
  edVerify,
  signWithSeed,
} from "@/tests/_helpers/ring_identity.ts";

const DAY = 86_400_000;
const issued = new Date("2026-11-20T08:00:00.000Z");
const now = new Date("2026-11-26T08:00:00.000Z");

const hmacKey = crypto.getRandomValues(new Uint8Array(32));
const seed = await attestationSeed(hmacKey);
const serverKey = await attestationPublicKey(seed);
const otherSeed = await attestationSeed(
  crypto.getRandomValues(new Uint8Array(32)),
);
/** Wallets made with WebCrypto Ed25519. */
const wallet = (await edKey()).pub;
const otherWallet = (await edKey()).pub;

/** The reasons must never repeat who is attested. */
function refused(
  v: Awaited<ReturnType<typeof verifyAttestation>>,
  reason: RegExp,
  what: string,
) {
  assert.equal(v.ok, false, what);
  if (v.ok) return;
  assert.match(v.reason, reason, what);
  for (const secret of ["alice", "mallory", wallet, otherWallet]) {
    assert.equal(v.reason.toLowerCase().includes(secret.toLowerCase()), false);
  }
}

Deno.test("attestation: the text is exactly the documented format", () => {
  const a = {
    handle: "alice",
    wallet,
    issued: "2026-11-20T08:00:00.000Z",
    expires: "2026-12-20T08:00:00.000Z",
  };
  const text = attestationText(a);
  assert.equal(
    text,
    "Reach handle attestation v1\n" +
      "handle: alice\n" +
      `wallet: ${wallet}\n` +
      "issued: 2026-11-20T08:00:00.000Z\n" +
      "expires: 2026-12-20T08:00:00.000Z",
  );
  assert.deepEqual(parseAttestation(text), a);
  for (
    const bad of [
      text + "\n",
      text + "\nextra: line",
      text.replace("v1", "v2"),
      text.replace("handle: alice", "handle: "),
      text.replace("handle: alice", "handle:alice"),
      text.replace("wallet:", "Wallet:"),
      text.replaceAll("\n", "\r\n"),
      text.split("\n").toSpliced(2, 1).join("\n"),
      "Reach device certificate v1\n" + text.split("\n").slice(1).join("\n"),
      "",
    ]
  ) {
    assert.equal(parseAttestation(bad), null, JSON.stringify(bad));
  }
  assert.equal(parseAttestation(7 as unknown as string), null);
});

Deno.test("attestation: the seed is HMAC-SHA-256 of the label; the key is RFC 8032's", async () => {
  const expected = createHmac("sha256", hmacKey)
    .update("reach handle attestation v1")
    .digest();
  assert.deepEqual(seed, new Uint8Array(expected));
  assert.deepEqual(await attestationSeed(hmacKey), seed, "deterministic");
  assert.notDeepEqual(otherSeed, seed);
  await assert.rejects(attestationSeed(new Uint8Array(15)), TypeError);
  await assert.rejects(
    attestationSeed("secret" as unknown as Uint8Array),
    TypeError,
  );

  // RFC 8032 §7.1, test 1: secret key to public key.
  const rfcSeed = Uint8Array.fromHex(
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
  );
  assert.equal(
    base58.decode(await attestationPublicKey(rfcSeed)).toHex(),
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
  );
  // And the server's key, checked with WebCrypto (RFC 8410 PKCS#8 import).
  const priv = await crypto.subtle.importKey(
    "pkcs8",
    ed25519Pkcs8(seed),
    "Ed25519",
    true,
    ["sign"],
  );
  const jwk = await crypto.subtle.exportKey("jwk", priv);
  assert.deepEqual(
    base58.decode(serverKey),
    Uint8Array.fromBase64(jwk.x!, { alphabet: "base64url" }),
  );
});

Deno.test("attestation: signed for 30 days by default, checked with WebCrypto", async () => {
  const a = await signAttestation(seed, { handle: "alice", wallet, issued });
  assert.deepEqual(parseAttestation(a.text), {
    handle: "alice",
    wallet,
    issued: issued.toISOString(),
    expires: new Date(issued.getTime() + 30 * DAY).toISOString(),
  });
  assert.ok(await edVerify(serverKey, a.sig, a.text));
  // Ed25519 is deterministic.
  assert.deepEqual(
    await signAttestation(seed, { handle: "alice", wallet, issued }),
    a,
  );
  const week = await signAttestation(seed, {
    handle: "alice",
    wallet,
    issued,
    days: 7,
  });
  assert.equal(
    parseAttestation(week.text)!.expires,
    "2026-11-27T08:00:00.000Z",
  );
  assert.deepEqual(await verifyAttestation(a.text, a.sig, serverKey, now), {
    ok: true,
    handle: "alice",
    wallet,
  });
  // A 30-character handle fits well within the text limit.
  const long = await signAttestation(seed, {
    handle: "a".repeat(30),
    wallet,
    issued,
  });
  assert.ok(long.text.length < ATTESTATION_LIMITS.maxTextChars / 2);
  assert.ok(long.sig.length <= 88);
});

Deno.test("attestation: refuses bad input to sign", async () => {
  const good = { handle: "alice", wallet, issued };
  for (
    const bad of [
      { handle: "" },
      { handle: "ali ce" },
      { handle: "alice\nwallet: x" },
      { wallet: "" },
      { wallet: "0OIl" },
      { wallet: base58.encode(new Uint8Array(31).fill(1)) },
      { issued: new Date(NaN) },
      { days: 0 },
      { days: -1 },
      { days: NaN },
      { handle: "x".repeat(400) },
    ]
  ) {
    await assert.rejects(
      signAttestation(seed, { ...good, ...bad }),
      TypeError,
      JSON.stringify(bad),
    );
  }
});

Deno.test("attestation: forged, moved, expired and early ones are refused", async () => {
  const a = await signAttestation(seed, { handle: "alice", wallet, issued });
  // Another server's key (e.g. Mallory's own) over the same statement.
  const forged = await signAttestation(otherSeed, {
    handle: "alice",
    wallet: otherWallet,
    issued,
  });
  refused(
    await verifyAttestation(forged.text, forged.sig, serverKey, now),
    /signature is not valid/,
    "another server key",
  );
  // The text changed under a valid signature.
  for (
    const text of [
      a.text.replace("handle: alice", "handle: mallory"),
      a.text.replace(wallet, otherWallet),
      a.text.replace("2026-12-20", "2027-12-20"),
    ]
  ) {
    refused(
      await verifyAttestation(text, a.sig, serverKey, now),
      /signature is not valid/,
      text,
    );
  }
  // Another attestation's signature; a bad or empty key; junk signatures.
  const m = await signAttestation(seed, {
    handle: "mallory",
    wallet: otherWallet,
    issued,
  });
  for (
    const [sig, key] of [
      [m.sig, serverKey],
      [a.sig, ""],
      [a.sig, "0OIl"],
      [a.sig, wallet],
      ["", serverKey],
      ["0OIl", serverKey],
      [a.sig.slice(1), serverKey],
    ]
  ) {
    refused(
      await verifyAttestation(a.text, sig, key, now),
      /signature is not valid/,
      `${sig} / ${key}`,
    );
  }
  // Current: issued ≤ now + 10 minutes, now < expires.
  const expires = issued.getTime() + 30 * DAY;
  assert.equal(
    (await verifyAttestation(a.text, a.sig, serverKey, new Date(expires - 1)))
      .ok,
    true,
  );
  refused(
    await verifyAttestation(a.text, a.sig, serverKey, new Date(expires)),
    /not current/,
    "at expiry",
  );
  assert.equal(
    (await verifyAttestation(
      a.text,
      a.sig,
      serverKey,
      new Date(issued.getTime() - 600_000),
    )).ok,
    true,
    "10 minutes of skew",
  );
  refused(
    await verifyAttestation(
      a.text,
      a.sig,
      serverKey,
      new Date(issued.getTime() - 600_001),
    ),
    /not current/,
    "issued in the future",
  );
  refused(
    await verifyAttestation(a.text, a.sig, serverKey, new Date(NaN)),
    /not current/,
    "no clock",
  );
  // A signed attestation whose times do not parse is never current.
  const junkTime = attestationText({
    handle: "alice",
    wallet,
    issued: "yesterday",
    expires: "never",
  });
  const junkSig = await signWithSeed(seed, junkTime);
  refused(
    await verifyAttestation(junkTime, junkSig, serverKey, now),
    /not current/,
    "unparseable times",
  );
});

Deno.test("attestation: malformed input is refused without throwing", async () => {
  const a = await signAttestation(seed, { handle: "alice", wallet, issued });
  const cases: [string, unknown, unknown][] = [
    ["extra line", a.text + "\nrole: admin", a.sig],
    ["no header", a.text.split("\n").slice(1).join("\n"), a.sig],
    ["text not a string", 5, a.sig],
    ["sig not a string", a.text, null],
    ["oversized text", a.text + "x".repeat(512), a.sig],
    ["oversized sig", a.text, "1".repeat(129)],
  ];
  for (const [what, text, sig] of cases) {
    refused(
      await verifyAttestation(text as string, sig as string, serverKey, now),
      /malformed/,
      what,
    );
  }
});
