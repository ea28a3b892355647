import assert from "node:assert/strict";
import * as ed from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha2.js";
import { base58 } from "@scure/base";
import {
  formatSiwsMessage,
  parseSiwsMessage,
  type SiwsErrorCode,
  type SiwsExpected,
  type SiwsFields,
  SiwsFormatError,
  type SiwsSubmission,
  verifySiws,
} from "@/lib/identity/siws.ts";

ed.hashes.sha512 = sha512;

const enc = new TextEncoder();
const NOW = new Date("2025-06-01T12:00:00.000Z");
const MIN = 60_000;
const iso = (offsetMs: number) =>
  new Date(NOW.getTime() + offsetMs).toISOString();

const EXPECTED: SiwsExpected = {
  domain: "reach.example",
  uri: "https://reach.example/login",
  chainId: "mainnet",
  now: NOW,
};

interface Signer {
  secret: Uint8Array;
  publicKey: Uint8Array;
  address: string;
}

function newSigner(): Signer {
  const secret = ed.utils.randomSecretKey();
  const publicKey = ed.getPublicKey(secret);
  return { secret, publicKey, address: base58.encode(publicKey) };
}

function baseFields(address: string): SiwsFields {
  return {
    domain: EXPECTED.domain,
    address,
    statement: "Sign in to Reach.",
    uri: EXPECTED.uri,
    version: "1",
    chainId: EXPECTED.chainId,
    nonce: "a1b2c3d4e5f60718293a4b5c6d7e8f90",
    issuedAt: iso(0),
    expirationTime: iso(10 * MIN),
  };
}

function signText(text: string, signer: Signer): string {
  return base58.encode(ed.sign(enc.encode(text), signer.secret));
}

/** Signs the formatted `fields` (with optional overrides) as `signer`. */
function signed(
  overrides: Partial<SiwsFields> = {},
  signer: Signer = newSigner(),
): SiwsSubmission & { signer: Signer } {
  const fields = { ...baseFields(signer.address), ...overrides };
  const message = formatSiwsMessage(fields);
  return {
    message,
    signature: signText(message, signer),
    publicKey: signer.address,
    signer,
  };
}

/** Signs raw text (bypassing the formatter) as `signer`. */
function signedRaw(message: string, signer: Signer): SiwsSubmission {
  return {
    message,
    signature: signText(message, signer),
    publicKey: signer.address,
  };
}

function assertCode(
  result: ReturnType<typeof verifySiws>,
  code: SiwsErrorCode,
) {
  assert.equal(result.ok, false, `expected failure ${code}`);
  if (result.ok) return;
  assert.equal(result.code, code, result.message);
  assert.ok(result.message.length > 10 && /\.$/.test(result.message));
}

// ---------------------------------------------------------------- happy path

Deno.test("siws: a valid signed message verifies and returns the nonce", () => {
  const sub = signed();
  const result = verifySiws(sub, EXPECTED);
  assert.ok(result.ok, result.ok ? "" : result.message);
  assert.equal(result.publicKey, sub.signer.address);
  assert.deepEqual(result.publicKeyBytes, sub.signer.publicKey);
  assert.equal(result.fields.nonce, "a1b2c3d4e5f60718293a4b5c6d7e8f90");
  assert.equal(result.fields.address, sub.signer.address);
});

Deno.test("siws: every optional field present verifies", () => {
  const sub = signed({
    notBefore: iso(-1 * MIN),
    requestId: "req-42",
    resources: ["https://reach.example/a", "ipfs://bafy"],
  });
  const result = verifySiws(sub, EXPECTED);
  assert.ok(result.ok, result.ok ? "" : result.message);
  assert.deepEqual(result.fields.resources, [
    "https://reach.example/a",
    "ipfs://bafy",
  ]);
});

Deno.test("siws: expiration may be omitted when requireExpiration is false", () => {
  const sub = signed({ expirationTime: undefined });
  assertCode(verifySiws(sub, EXPECTED), "missing_expiration");
  const result = verifySiws(sub, { ...EXPECTED, requireExpiration: false });
  assert.ok(result.ok);
});

Deno.test("siws: issued-at skew within maxSkewMs is accepted", () => {
  const sub = signed({ issuedAt: iso(-9 * MIN) });
  assert.ok(verifySiws(sub, EXPECTED).ok);
  assertCode(
    verifySiws(sub, { ...EXPECTED, maxSkewMs: 5 * MIN }),
    "issued_at_skew",
  );
});

Deno.test("siws: timestamps with a UTC offset are compared as instants", () => {
  // 14:05+02:00 is 12:05Z: five minutes after NOW, inside the skew.
  const sub = signed({
    issuedAt: "2025-06-01T14:05:00+02:00",
    expirationTime: "2025-06-01T12:15:00Z",
  });
  assert.ok(verifySiws(sub, EXPECTED).ok);
});

Deno.test("siws: lone surrogates are rejected", () => {
  const sub = signed({ statement: "ok" });
  const message = sub.message.replace("ok", "o\uD800k");
  assertCode(verifySiws({ ...sub, message }, EXPECTED), "invalid_character");
});

// ------------------------------------------------------------ format / parse

Deno.test("siws: exact text with every field (standard line order)", () => {
  const text = formatSiwsMessage({
    domain: "reach.example:8443",
    address: "9C6hybhQ6Aycep9jaUnP6uL9ZYvDjUp1aSkFWPUFJtpj",
    statement: "Sign in to Reach.",
    uri: "https://reach.example:8443/login",
    version: "1",
    chainId: "solana:devnet",
    nonce: "abcdEFGH1234",
    issuedAt: "2025-06-01T12:00:00Z",
    expirationTime: "2025-06-01T14:10:00+02:00",
    notBefore: "2025-06-01T11:59:00.5-00:30",
    requestId: "r1",
    resources: ["https://a.example", "https://b.example/x"],
  });
  assert.equal(
    text,
    [
      "reach.example:8443 wants you to sign in with your Solana account:",
      "9C6hybhQ6Aycep9jaUnP6uL9ZYvDjUp1aSkFWPUFJtpj",
      "",
      "Sign in to Reach.",
      "",
      "URI: https://reach.example:8443/login",
      "Version: 1",
      "Chain ID: solana:devnet",
      "Nonce: abcdEFGH1234",
      "Issued At: 2025-06-01T12:00:00Z",
      "Expiration Time: 2025-06-01T14:10:00+02:00",
      "Not Before: 2025-06-01T11:59:00.5-00:30",
      "Request ID: r1",
      "Resources:",
      "- https://a.example",
      "- https://b.example/x",
    ].join("\n"),
  );
});

Deno.test("siws: format -> parse round trip with all optional fields", () => {
  const fields: SiwsFields = {
    ...baseFields("9C6hybhQ6Aycep9jaUnP6uL9ZYvDjUp1aSkFWPUFJtpj"),
    notBefore: iso(-MIN),
    requestId: "abc_123",
    resources: ["https://reach.example/r"],
  };
  const parsed = parseSiwsMessage(formatSiwsMessage(fields));
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.fields, fields);
});

Deno.test("siws: format -> parse round trip without optional fields", () => {
  const fields: SiwsFields = {
    domain: "localhost:8000",
    address: "9C6hybhQ6Aycep9jaUnP6uL9ZYvDjUp1aSkFWPUFJtpj",
    uri: "http://localhost:8000/",
    version: "1",
    chainId: "devnet",
    nonce: "12345678",
    issuedAt: "2025-06-01T12:00:00.000Z",
  };
  const text = formatSiwsMessage(fields);
  assert.equal(
    text,
    "localhost:8000 wants you to sign in with your Solana account:\n" +
      "9C6hybhQ6Aycep9jaUnP6uL9ZYvDjUp1aSkFWPUFJtpj\n\n" +
      "URI: http://localhost:8000/\nVersion: 1\nChain ID: devnet\n" +
      "Nonce: 12345678\nIssued At: 2025-06-01T12:00:00.000Z",
  );
  const parsed = parseSiwsMessage(text);
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.fields, fields);
});

Deno.test("siws: a statement that looks like a field still round-trips", () => {
  const fields = {
    ...baseFields("9C6hybhQ6Aycep9jaUnP6uL9ZYvDjUp1aSkFWPUFJtpj"),
    statement: "URI: https://evil.example",
  };
  const parsed = parseSiwsMessage(formatSiwsMessage(fields));
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.fields, fields);
});

Deno.test("siws: formatter refuses fields the parser would reject", () => {
  const base = baseFields("9C6hybhQ6Aycep9jaUnP6uL9ZYvDjUp1aSkFWPUFJtpj");
  const cases: [Partial<SiwsFields>, SiwsErrorCode][] = [
    [{ statement: "two\nlines" }, "invalid_character"],
    [{ nonce: "short" }, "invalid_field"],
    [{ nonce: "has-dash-1234" }, "invalid_field"],
    [{ domain: "evil.example wants" }, "invalid_field"],
    [{ issuedAt: "2025-06-01 12:00:00" }, "invalid_timestamp"],
    [{ issuedAt: "2025-06-01T12:00:00" }, "invalid_timestamp"],
    [{ issuedAt: "2025-02-30T12:00:00Z" }, "invalid_timestamp"],
    [{ uri: "not a uri" }, "invalid_field"],
    [{ resources: Array(11).fill("https://x.example") }, "too_many_resources"],
    [{ version: "2" as "1" }, "unsupported_version"],
  ];
  for (const [override, code] of cases) {
    assert.throws(
      () => formatSiwsMessage({ ...base, ...override }),
      (e: unknown) => e instanceof SiwsFormatError && e.code === code,
      JSON.stringify(override),
    );
  }
});

// --------------------------------------------------------------- bad inputs

Deno.test("siws bad: expired message", () => {
  const sub = signed({
    issuedAt: iso(-5 * MIN),
    expirationTime: iso(-1 * MIN),
  });
  assertCode(verifySiws(sub, EXPECTED), "expired");
});

Deno.test("siws bad: expiration not after issued-at", () => {
  const sub = signed({ expirationTime: iso(0) });
  assertCode(verifySiws(sub, EXPECTED), "expiration_before_issued_at");
});

Deno.test("siws bad: not-before in the future", () => {
  const sub = signed({ notBefore: iso(2 * MIN) });
  assertCode(verifySiws(sub, EXPECTED), "not_yet_valid");
});

Deno.test("siws bad: wrong domain", () => {
  const sub = signed({ domain: "evil.example" });
  assertCode(verifySiws(sub, EXPECTED), "wrong_domain");
});

Deno.test("siws bad: wrong uri", () => {
  const sub = signed({ uri: "https://reach.example/other" });
  assertCode(verifySiws(sub, EXPECTED), "wrong_uri");
});

Deno.test("siws bad: wrong chain", () => {
  const sub = signed({ chainId: "devnet" });
  assertCode(verifySiws(sub, EXPECTED), "wrong_chain");
});

Deno.test("siws bad: issued-at too old", () => {
  const sub = signed({ issuedAt: iso(-11 * MIN) });
  assertCode(verifySiws(sub, EXPECTED), "issued_at_skew");
});

Deno.test("siws bad: issued-at in the future beyond skew", () => {
  const sub = signed({
    issuedAt: iso(11 * MIN),
    expirationTime: iso(20 * MIN),
  });
  assertCode(verifySiws(sub, EXPECTED), "issued_at_skew");
});

Deno.test("siws bad: address in text is not the signing key", () => {
  const other = newSigner();
  const sub = signed({ address: other.address });
  // Signed by sub.signer, claims other's address; publicKey = signer's.
  assertCode(verifySiws(sub, EXPECTED), "address_mismatch");
});

Deno.test("siws bad: claimed key signs text naming it, but signature is from another key", () => {
  const victim = newSigner();
  const attacker = newSigner();
  const message = formatSiwsMessage(baseFields(victim.address));
  const result = verifySiws({
    message,
    signature: signText(message, attacker),
    publicKey: victim.address,
  }, EXPECTED);
  assertCode(result, "bad_signature");
});

Deno.test("siws bad: one character tampered after signing", () => {
  const sub = signed();
  const message = sub.message.replace("Sign in to Reach.", "Sign in to Reach!");
  assert.notEqual(message, sub.message);
  assertCode(verifySiws({ ...sub, message }, EXPECTED), "bad_signature");
});

Deno.test("siws bad: signature bit flipped", () => {
  const sub = signed();
  const sig = base58.decode(sub.signature);
  sig[10] ^= 1;
  assertCode(
    verifySiws({ ...sub, signature: base58.encode(sig) }, EXPECTED),
    "bad_signature",
  );
});

Deno.test("siws bad: signature is not base58", () => {
  const sub = signed();
  const signature = "0OIl" + sub.signature.slice(4);
  assertCode(verifySiws({ ...sub, signature }, EXPECTED), "bad_base58");
});

Deno.test("siws bad: public key is not base58", () => {
  const sub = signed();
  const publicKey = sub.publicKey.slice(0, -1) + "0";
  assertCode(verifySiws({ ...sub, publicKey }, EXPECTED), "bad_base58");
});

Deno.test("siws bad: public key shorter than 32 bytes", () => {
  const sub = signed();
  const publicKey = base58.encode(sub.signer.publicKey.slice(0, 31));
  assertCode(verifySiws({ ...sub, publicKey }, EXPECTED), "bad_key_length");
});

Deno.test("siws bad: signature shorter than 64 bytes", () => {
  const sub = signed();
  const signature = base58.encode(base58.decode(sub.signature).slice(0, 63));
  assertCode(
    verifySiws({ ...sub, signature }, EXPECTED),
    "bad_signature_length",
  );
});

Deno.test("siws bad: overlong signature text is rejected before decoding", () => {
  const sub = signed();
  assertCode(
    verifySiws({ ...sub, signature: "z".repeat(5000) }, EXPECTED),
    "bad_signature_length",
  );
});

Deno.test("siws bad: address line decodes to 31 bytes", () => {
  const signer = newSigner();
  const fields = baseFields(base58.encode(new Uint8Array(31).fill(0xff)));
  const message = formatSiwsMessage(fields);
  assertCode(
    verifySiws(signedRaw(message, signer), EXPECTED),
    "bad_address",
  );
});

Deno.test("siws bad: oversize field (statement > 500 chars)", () => {
  const signer = newSigner();
  const good = formatSiwsMessage(baseFields(signer.address));
  const message = good.replace("Sign in to Reach.", "x".repeat(501));
  assertCode(
    verifySiws(signedRaw(message, signer), EXPECTED),
    "field_too_long",
  );
});

Deno.test("siws bad: oversize field (nonce > 64 chars)", () => {
  const signer = newSigner();
  const good = formatSiwsMessage(baseFields(signer.address));
  const message = good.replace(/Nonce: \w+/, `Nonce: ${"a".repeat(65)}`);
  const result = verifySiws(signedRaw(message, signer), EXPECTED);
  assertCode(result, "field_too_long");
  assert.equal(!result.ok && result.field, "nonce");
});

Deno.test("siws bad: oversize message (> 4096 bytes)", () => {
  const signer = newSigner();
  const good = formatSiwsMessage(baseFields(signer.address));
  // Ten resources of 400 chars each: every field within its cap, total not.
  const resources = Array.from(
    { length: 10 },
    (_, i) => `- https://reach.example/${i}/${"r".repeat(380)}`,
  );
  const message = [good, "Resources:", ...resources].join("\n");
  assert.ok(enc.encode(message).length > 4096);
  assertCode(verifySiws(signedRaw(message, signer), EXPECTED), "too_large");
});

Deno.test("siws bad: multi-byte characters count as bytes toward the cap", () => {
  const signer = newSigner();
  const good = formatSiwsMessage(baseFields(signer.address));
  const message = good + "\n" + "€".repeat(1400); // 4200 bytes, 1400 chars
  assertCode(verifySiws(signedRaw(message, signer), EXPECTED), "too_large");
});

Deno.test("siws bad: required line missing (Nonce)", () => {
  const signer = newSigner();
  const good = formatSiwsMessage(baseFields(signer.address));
  const message = good.replace(/\nNonce: \w+/, "");
  const result = verifySiws(signedRaw(message, signer), EXPECTED);
  assertCode(result, "missing_field");
  assert.equal(!result.ok && result.field, "nonce");
});

Deno.test("siws bad: lines out of order", () => {
  const signer = newSigner();
  const good = formatSiwsMessage(baseFields(signer.address));
  const message = good.replace(
    "Version: 1\nChain ID: mainnet",
    "Chain ID: mainnet\nVersion: 1",
  );
  assert.notEqual(message, good);
  assertCode(verifySiws(signedRaw(message, signer), EXPECTED), "out_of_order");
});

Deno.test("siws bad: duplicated line", () => {
  const signer = newSigner();
  const good = formatSiwsMessage(baseFields(signer.address));
  const message = good.replace("Version: 1", "Version: 1\nVersion: 1");
  assertCode(
    verifySiws(signedRaw(message, signer), EXPECTED),
    "duplicate_field",
  );
});

Deno.test("siws bad: extra trailing line", () => {
  const signer = newSigner();
  const good = formatSiwsMessage(baseFields(signer.address));
  const message = good + "\nTrust me: yes";
  assertCode(
    verifySiws(signedRaw(message, signer), EXPECTED),
    "unexpected_line",
  );
});

Deno.test("siws bad: trailing newline", () => {
  const signer = newSigner();
  const message = formatSiwsMessage(baseFields(signer.address)) + "\n";
  assertCode(
    verifySiws(signedRaw(message, signer), EXPECTED),
    "unexpected_line",
  );
});

Deno.test("siws bad: wrong version", () => {
  const signer = newSigner();
  const good = formatSiwsMessage(baseFields(signer.address));
  const message = good.replace("Version: 1", "Version: 2");
  assertCode(
    verifySiws(signedRaw(message, signer), EXPECTED),
    "unsupported_version",
  );
});

Deno.test("siws bad: CRLF line endings", () => {
  const signer = newSigner();
  const good = formatSiwsMessage(baseFields(signer.address));
  const message = good.replaceAll("\n", "\r\n");
  assertCode(
    verifySiws(signedRaw(message, signer), EXPECTED),
    "bad_line_ending",
  );
});

Deno.test("siws bad: wrong header", () => {
  const signer = newSigner();
  const good = formatSiwsMessage(baseFields(signer.address));
  const message = good.replace("Solana account", "Ethereum account");
  assertCode(verifySiws(signedRaw(message, signer), EXPECTED), "malformed");
});

Deno.test("siws bad: timestamp without time zone", () => {
  const signer = newSigner();
  const good = formatSiwsMessage(baseFields(signer.address));
  const message = good.replace(
    `Issued At: ${iso(0)}`,
    `Issued At: ${iso(0).slice(0, -1)}`,
  );
  assertCode(
    verifySiws(signedRaw(message, signer), EXPECTED),
    "invalid_timestamp",
  );
});

Deno.test("siws bad: control character in statement", () => {
  const signer = newSigner();
  const good = formatSiwsMessage(baseFields(signer.address));
  const message = good.replace("Sign in", "Sign\u0007in");
  assertCode(
    verifySiws(signedRaw(message, signer), EXPECTED),
    "invalid_character",
  );
});

Deno.test("siws bad: more than 10 resources", () => {
  const signer = newSigner();
  const good = formatSiwsMessage(baseFields(signer.address));
  const resources = Array.from(
    { length: 11 },
    (_, i) => `- https://r.example/${i}`,
  );
  const message = [good, "Resources:", ...resources].join("\n");
  assertCode(
    verifySiws(signedRaw(message, signer), EXPECTED),
    "too_many_resources",
  );
});

Deno.test("siws bad: non-strict small-order key/signature (valid only under ZIP-215)", () => {
  // The identity point as public key, with R = identity and S = 0: the
  // cofactored ZIP-215 equation holds for ANY message; RFC 8032 strict
  // verification rejects small-order keys.
  const identity = new Uint8Array(32);
  identity[0] = 1;
  const sig = new Uint8Array(64);
  sig[0] = 1;
  const address = base58.encode(identity);
  const message = formatSiwsMessage(baseFields(address));
  assert.equal(ed.verify(sig, enc.encode(message), identity), true);
  assertCode(
    verifySiws(
      { message, signature: base58.encode(sig), publicKey: address },
      EXPECTED,
    ),
    "bad_signature",
  );
});

Deno.test("siws bad: non-canonical S (S + L) is rejected", () => {
  const sub = signed();
  const sig = base58.decode(sub.signature);
  const L = 2n ** 252n + 27742317777372353535851937790883648493n;
  let s = 0n;
  for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(sig[i]);
  s += L;
  assert.ok(s < 2n ** 256n);
  for (let i = 32; i < 64; i++) {
    sig[i] = Number(s & 0xffn);
    s >>= 8n;
  }
  assertCode(
    verifySiws({ ...sub, signature: base58.encode(sig) }, EXPECTED),
    "bad_signature",
  );
});

Deno.test("siws: verifySiws never throws on junk input", () => {
  const junk = [
    undefined,
    null,
    {},
    { message: 42, signature: [], publicKey: {} },
    { message: "", signature: "", publicKey: "" },
  ];
  for (const j of junk) {
    const result = verifySiws(j as unknown as SiwsSubmission, EXPECTED);
    assert.equal(result.ok, false);
  }
});

// ----------------------------------------------------------- regression vector

// Seed 0x01..0x20; public key 79b5562e…9664 (a widely published vector).
const VECTOR_SEED = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
const VECTOR_ADDRESS = "9C6hybhQ6Aycep9jaUnP6uL9ZYvDjUp1aSkFWPUFJtpj";
const VECTOR_MESSAGE =
  "reach.example wants you to sign in with your Solana account:\n" +
  "9C6hybhQ6Aycep9jaUnP6uL9ZYvDjUp1aSkFWPUFJtpj\n\n" +
  "Sign in to Reach.\n\n" +
  "URI: https://reach.example/login\n" +
  "Version: 1\n" +
  "Chain ID: mainnet\n" +
  "Nonce: 0123456789abcdef0123456789abcdef\n" +
  "Issued At: 2025-01-01T00:00:00.000Z\n" +
  "Expiration Time: 2025-01-01T00:10:00.000Z";
const VECTOR_SIGNATURE_HEX =
  "ced4d29bde33609a1e89f8f78bd8633fd7bc7e6a6f0318438ee9558c6fae56c1" +
  "29ad4a01b63fa3b26f5337ad5fc1b891a9ca677bc40abda8e56cf2ab6b9c5d0c";

Deno.test("siws vector: fixed seed + fixed message -> fixed signature", async () => {
  const pub = ed.getPublicKey(VECTOR_SEED);
  assert.equal(
    ed.etc.bytesToHex(pub),
    "79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664",
  );
  assert.equal(base58.encode(pub), VECTOR_ADDRESS);
  const text = formatSiwsMessage({
    domain: "reach.example",
    address: VECTOR_ADDRESS,
    statement: "Sign in to Reach.",
    uri: "https://reach.example/login",
    version: "1",
    chainId: "mainnet",
    nonce: "0123456789abcdef0123456789abcdef",
    issuedAt: "2025-01-01T00:00:00.000Z",
    expirationTime: "2025-01-01T00:10:00.000Z",
  });
  assert.equal(text, VECTOR_MESSAGE);
  const sig = ed.sign(enc.encode(text), VECTOR_SEED);
  assert.equal(ed.etc.bytesToHex(sig), VECTOR_SIGNATURE_HEX);

  // Cross-check with an independent implementation (WebCrypto Ed25519).
  const key = await crypto.subtle.importKey("raw", pub, "Ed25519", false, [
    "verify",
  ]);
  assert.ok(
    await crypto.subtle.verify("Ed25519", key, sig, enc.encode(text)),
  );

  const result = verifySiws({
    message: VECTOR_MESSAGE,
    signature: base58.encode(ed.etc.hexToBytes(VECTOR_SIGNATURE_HEX)),
    publicKey: VECTOR_ADDRESS,
  }, {
    domain: "reach.example",
    uri: "https://reach.example/login",
    chainId: "mainnet",
    now: new Date("2025-01-01T00:01:00.000Z"),
  });
  assert.ok(result.ok, result.ok ? "" : result.message);
  assert.equal(result.fields.nonce, "0123456789abcdef0123456789abcdef");
});
