import assert from "node:assert/strict";
import { createCipheriv, createHmac } from "node:crypto";
import {
  type DataKey,
  type Envelope,
  EnvelopeError,
  openString,
  sealString,
} from "@/lib/crypto/envelope.ts";
import { isE164, phoneHmac } from "@/lib/crypto/phone_hash.ts";

const rnd = () => crypto.getRandomValues(new Uint8Array(32));
const k1: DataKey = { kid: "k1", key: rnd() };
const k2: DataKey = { kid: "k2", key: rnd() };

async function rejectsWith(p: Promise<unknown>, code: string) {
  await assert.rejects(p, (e) => {
    assert.ok(e instanceof EnvelopeError, String(e));
    assert.equal(e.code, code);
    return true;
  });
}

/** Flips one bit of a base64 field. */
function flip(b64: string, byte: number): string {
  const bytes = Uint8Array.fromBase64(b64);
  bytes[byte] ^= 0x01;
  return bytes.toBase64();
}

Deno.test("envelope: round trip under the newest key; random iv each time", async () => {
  const a = await sealString([k2, k1], "+447911123456", "alice");
  const b = await sealString([k2, k1], "+447911123456", "alice");
  assert.equal(a.kid, "k2");
  assert.equal(Uint8Array.fromBase64(a.iv).length, 12);
  assert.equal(Uint8Array.fromBase64(a.ct).length, 13 + 16);
  assert.notEqual(a.iv, b.iv);
  assert.notEqual(a.ct, b.ct);
  assert.equal(await openString([k2, k1], a, "alice"), "+447911123456");
  // An older key still opens what it sealed, wherever it sits in the ring.
  const old = await sealString([k1], "ünïcödé ☎", "bob");
  assert.equal(old.kid, "k1");
  assert.equal(await openString([k2, k1], old, "bob"), "ünïcödé ☎");
  assert.equal(
    await openString([k1], await sealString([k1], "", "x"), "x"),
    "",
  );
});

Deno.test("envelope: unknown kid and wrong key fail with typed errors", async () => {
  const env = await sealString([k1], "+447911123456", "alice");
  await rejectsWith(openString([k2], env, "alice"), "unknown_kid");
  await rejectsWith(openString([], env, "alice"), "unknown_kid");
  // Same kid, different key material.
  await rejectsWith(
    openString([{ kid: "k1", key: k2.key }], env, "alice"),
    "auth_failed",
  );
  // A kid swapped to another key in the ring.
  await rejectsWith(
    openString([k1, k2], { ...env, kid: "k2" }, "alice"),
    "auth_failed",
  );
});

Deno.test("envelope: tampered ciphertext, tag or iv fails", async () => {
  const env = await sealString([k1], "+447911123456", "alice");
  const ctLen = Uint8Array.fromBase64(env.ct).length;
  for (const byte of [0, 5, ctLen - 16, ctLen - 1]) {
    await rejectsWith(
      openString([k1], { ...env, ct: flip(env.ct, byte) }, "alice"),
      "auth_failed",
    );
  }
  for (const byte of [0, 11]) {
    await rejectsWith(
      openString([k1], { ...env, iv: flip(env.iv, byte) }, "alice"),
      "auth_failed",
    );
  }
  // Truncated (tag cut short), wrong iv length, not base64.
  const short = Uint8Array.fromBase64(env.ct).slice(0, 15).toBase64();
  await rejectsWith(
    openString([k1], { ...env, ct: short }, "alice"),
    "malformed",
  );
  const iv8 = new Uint8Array(8).toBase64();
  await rejectsWith(
    openString([k1], { ...env, iv: iv8 }, "alice"),
    "malformed",
  );
  await rejectsWith(
    openString([k1], { ...env, ct: "!!" }, "alice"),
    "malformed",
  );
  assert.equal(await openString([k1], env, "alice"), "+447911123456");
});

Deno.test("envelope: another handle's associated data fails", async () => {
  const env = await sealString([k1], "+447911123456", "alice");
  await rejectsWith(openString([k1], env, "mallory"), "auth_failed");
  await rejectsWith(openString([k1], env, "alice "), "auth_failed");
  await rejectsWith(openString([k1], env, ""), "auth_failed");
});

Deno.test("envelope: known answer, checked against node:crypto aes-256-gcm", async () => {
  const key = Uint8Array.from({ length: 32 }, (_, i) => i);
  const iv = Uint8Array.fromHex("000102030405060708090a0b");
  // Computed once with node:crypto createCipheriv('aes-256-gcm') + setAAD +
  // update + final + getAuthTag, and recomputed below.
  const expected = "6c36e22cfcd4f32abf72a3be875c2c6a097170530fa458e6d45922d77f";
  const c = createCipheriv("aes-256-gcm", key, iv);
  c.setAAD(new TextEncoder().encode("alice"));
  const node = new Uint8Array([
    ...c.update("+447911123456", "utf8"),
    ...c.final(),
    ...c.getAuthTag(),
  ]);
  assert.equal(node.toHex(), expected);
  const env: Envelope = await sealString(
    [{ kid: "kat", key }],
    "+447911123456",
    "alice",
    { iv },
  );
  assert.deepEqual(env, {
    kid: "kat",
    iv: iv.toBase64(),
    ct: Uint8Array.fromHex(expected).toBase64(),
  });
  assert.equal(
    await openString([{ kid: "kat", key }], env, "alice"),
    "+447911123456",
  );
});

Deno.test("phone hash: fixed vectors, checked against node:crypto HMAC", async () => {
  const p7 = { kid: "h1", key: new Uint8Array(32).fill(7) };
  const pDesc = {
    kid: "h2",
    key: Uint8Array.from({ length: 32 }, (_, i) => 255 - i),
  };
  const vectors: [typeof p7, string, string][] = [
    [
      p7,
      "+447911123456",
      "4bd5f63f99732eaa2d38f63f2885f7a5b455b6c05c54337e6777f1fa71e3354c",
    ],
    [
      p7,
      "+14155552671",
      "f8f282e6d52f9f94ff527f18f0f447ee11bc36311361ca6b78e1242b15c148d8",
    ],
    [
      pDesc,
      "+819012345678",
      "67ef2b0882ba2c0dd676dd5b7eda7d2be72ac1accf321f44e6a19748058890cb",
    ],
  ];
  for (const [pepper, e164, hex] of vectors) {
    const node = createHmac("sha256", pepper.key).update(`phone\0${e164}`)
      .digest("hex");
    assert.equal(node, hex, "the recorded vector is node:crypto's");
    assert.equal(await phoneHmac(pepper, e164), hex);
  }
  // Domain-separated: not the bare HMAC of the number.
  const bare = createHmac("sha256", p7.key).update("+447911123456").digest(
    "hex",
  );
  assert.notEqual(await phoneHmac(p7, "+447911123456"), bare);
  // Other pepper, other hash.
  assert.notEqual(
    await phoneHmac(p7, "+819012345678"),
    await phoneHmac(pDesc, "+819012345678"),
  );
});

Deno.test("phone hash: only E.164 is hashed", async () => {
  const p = { kid: "h1", key: rnd() };
  for (const bad of ["447911123456", "+44 7911 123456", "+0123", "+1", ""]) {
    assert.equal(isE164(bad), false, bad);
    await assert.rejects(phoneHmac(p, bad), TypeError);
  }
  assert.equal(isE164("+447911123456"), true);
  assert.equal(isE164("+123456789012345"), true);
  assert.equal(isE164("+1234567890123456"), false);
});
