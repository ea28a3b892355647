import assert from "node:assert/strict";
import { createDecipheriv, hkdfSync } from "node:crypto";
import { x25519 } from "npm:@noble/curves@2.4.0/ed25519.js";
import {
  BOX_LIMITS,
  type InboxKey,
  openBox,
  sealBox,
  SealedBoxError,
  type SealTesting,
} from "@/lib/crypto/sealed_box.ts";
import {
  openVoicemail,
  sealVoicemail,
  VoicemailError,
} from "@/lib/voicemail/envelope.ts";
import {
  badIds,
  badPublicKeys,
  codeRejection,
  flip,
  importInboxPrivate,
  inboxKeyPairs,
  malformedBoxes,
  notAnInboxKey,
  pub,
  voicemailPlaintext,
  withFirst,
} from "@/tests/_helpers/ring_identity.ts";

const LABEL = "reach-test-v1";
const ids = { callId: "0b7c5a8e-8c1b-4f7e-9a51-3f1b0c2d4e6f", handle: "bob" };
const utf8 = new TextEncoder();

const rejectsWith = codeRejection(SealedBoxError);

const devices = await inboxKeyPairs(11);
const [dev1, dev2] = devices;
const message = utf8.encode("who is calling: a secret");

Deno.test("sealed box: round trip to 1 and to 10 devices, each with its own copy", async () => {
  const one = await sealBox(LABEL, ids, message, [pub(dev1)]);
  assert.equal(one.v, 1);
  assert.equal(one.callId, ids.callId);
  assert.equal(one.handle, ids.handle);
  assert.equal(Uint8Array.fromBase64(one.iv).length, BOX_LIMITS.ivBytes);
  assert.equal(
    Uint8Array.fromBase64(one.ct).length,
    message.length + BOX_LIMITS.tagBytes,
  );
  assert.deepEqual(
    await openBox(LABEL, JSON.parse(JSON.stringify(one)), dev1, ids),
    message,
  );

  const ten = devices.slice(0, 10);
  const box = await sealBox(LABEL, ids, message, ten.map(pub));
  assert.deepEqual(box.recipients.map((r) => r.keyId), ten.map((d) => d.keyId));
  for (const r of box.recipients) {
    assert.equal(Uint8Array.fromBase64(r.epk).length, 32);
    assert.equal(Uint8Array.fromBase64(r.iv).length, 12);
    assert.equal(Uint8Array.fromBase64(r.wrapped).length, 48);
  }
  // Fresh ephemeral key and wrap iv per device.
  assert.equal(new Set(box.recipients.map((r) => r.epk)).size, 10);
  assert.equal(new Set(box.recipients.map((r) => r.iv)).size, 10);
  for (const d of ten) {
    assert.deepEqual(await openBox(LABEL, box, d, ids), message);
  }
  // Each device's copy is its own: another device's private key under its
  // keyId does not open it, and an eleventh device is not in the box.
  for (let i = 0; i < 10; i++) {
    await rejectsWith(
      openBox(LABEL, box, {
        keyId: ten[i].keyId,
        privateKey: ten[(i + 1) % 10].privateKey,
      }, ids),
      "tampered",
    );
  }
  await rejectsWith(
    openBox(LABEL, box, devices[10], ids),
    "not_for_this_device",
  );
  // Dropping a recipient locks that device out, not the others.
  const without1 = { ...box, recipients: box.recipients.slice(1) };
  await rejectsWith(openBox(LABEL, without1, dev1, ids), "not_for_this_device");
  assert.deepEqual(await openBox(LABEL, without1, dev2, ids), message);
  // Empty plaintext; the input is left as it was.
  const copy = message.slice();
  await sealBox(LABEL, ids, copy, [pub(dev1)]);
  assert.deepEqual(copy, message);
  const empty = await sealBox(LABEL, ids, new Uint8Array(0), [pub(dev1)]);
  assert.deepEqual(await openBox(LABEL, empty, dev1, ids), new Uint8Array(0));
});

Deno.test("sealed box: the label separates uses", async () => {
  const box = await sealBox("reach-ring-v1", ids, message, [pub(dev1)]);
  for (const other of ["reach-vm-v1", "reach-ring-v2", "reach-ring-v1x"]) {
    await rejectsWith(openBox(other, box, dev1, ids), "tampered", other);
  }
  // A box of another use through voicemail's opener, and back.
  await assert.rejects(
    openVoicemail(box, dev1, ids),
    (e) => e instanceof VoicemailError && e.code === "tampered",
  );
  const vm = await sealVoicemail({
    ...ids,
    audio: new Uint8Array(8),
    mime: "audio/ogg",
    durationMs: 1,
  }, [pub(dev1)]);
  await rejectsWith(openBox("reach-ring-v1", vm, dev1, ids), "tampered");
  assert.equal(
    (await openBox("reach-vm-v1", vm, dev1, ids)).length,
    4 + `{"mime":"audio/ogg","durationMs":1}`.length + 8,
  );
  // Labels are protocol constants: a bad one is a bug (TypeError).
  for (const bad of ["", "has space", "a\0b", "x".repeat(65), "é", 7]) {
    await assert.rejects(
      sealBox(bad as string, ids, message, [pub(dev1)]),
      TypeError,
      String(bad),
    );
    await assert.rejects(
      openBox(bad as string, box, dev1, ids),
      TypeError,
      String(bad),
    );
  }
});

Deno.test("sealed box: replayed into another call; rewriting the clear fields is tampered", async () => {
  const box = await sealBox(LABEL, ids, message, [pub(dev1)]);
  const other = {
    callId: "11111111-1111-4111-8111-111111111111",
    handle: "bob",
  };
  await rejectsWith(openBox(LABEL, box, dev1, other), "wrong_call");
  await rejectsWith(
    openBox(LABEL, box, dev1, { ...ids, handle: "carol" }),
    "wrong_call",
  );
  for (
    const moved of [
      other,
      { ...ids, handle: "carol" },
      { ...other, handle: "carol" },
    ]
  ) {
    await rejectsWith(
      openBox(LABEL, { ...box, ...moved }, dev1, moved),
      "tampered",
      JSON.stringify(moved),
    );
  }
  // NUL-shifting between fields is refused before it could alias.
  const shifted = { callId: `${ids.callId}\0bob`, handle: "x" };
  await rejectsWith(
    openBox(LABEL, { ...box, ...shifted }, dev1, shifted),
    "malformed",
  );
});

Deno.test("sealed box: a flipped bit anywhere is tampered", async () => {
  const box = await sealBox(LABEL, ids, message, [pub(dev1), pub(dev2)]);
  const r = box.recipients[0];
  const withR = (patch: Partial<typeof r>) => withFirst(box, patch);
  const ctLen = Uint8Array.fromBase64(box.ct).length;
  for (let byte = 0; byte < ctLen; byte++) {
    await rejectsWith(
      openBox(LABEL, { ...box, ct: flip(box.ct, byte) }, dev1, ids),
      "tampered",
      `ct byte ${byte}`,
    );
  }
  for (let byte = 0; byte < 12; byte++) {
    await rejectsWith(
      openBox(LABEL, { ...box, iv: flip(box.iv, byte) }, dev1, ids),
      "tampered",
    );
    await rejectsWith(
      openBox(LABEL, withR({ iv: flip(r.iv, byte) }), dev1, ids),
      "tampered",
    );
  }
  for (let byte = 0; byte < 48; byte++) {
    await rejectsWith(
      openBox(LABEL, withR({ wrapped: flip(r.wrapped, byte) }), dev1, ids),
      "tampered",
      `wrapped byte ${byte}`,
    );
  }
  // Bit 255 of the u-coordinate is ignored by X25519; the HKDF salt still
  // binds the exact bytes.
  for (let byte = 0; byte < 32; byte++) {
    for (const bit of byte === 31 ? [0x01, 0x80] : [0x01]) {
      await rejectsWith(
        openBox(LABEL, withR({ epk: flip(r.epk, byte, bit) }), dev1, ids),
        "tampered",
        `epk byte ${byte} bit ${bit}`,
      );
    }
  }
  await rejectsWith(
    openBox(LABEL, withR({ epk: new Uint8Array(32).toBase64() }), dev1, ids),
    "tampered",
    "low-order epk",
  );
  // Entries swapped between keyIds.
  const [r1, r2] = box.recipients;
  await rejectsWith(
    openBox(
      LABEL,
      {
        ...box,
        recipients: [{ ...r2, keyId: r1.keyId }, { ...r1, keyId: r2.keyId }],
      },
      dev1,
      ids,
    ),
    "tampered",
  );
  // The untouched box still opens for both.
  assert.deepEqual(await openBox(LABEL, box, dev2, ids), message);
});

Deno.test("sealed box: limits at seal", async () => {
  await rejectsWith(sealBox(LABEL, ids, message, []), "no_recipients");
  await rejectsWith(
    sealBox(LABEL, ids, message, devices.map(pub)),
    "malformed",
    "11 keys",
  );
  await rejectsWith(
    sealBox(LABEL, ids, message, [pub(dev1), pub(dev1)]),
    "malformed",
  );
  for (const publicKey of badPublicKeys(dev1.publicKey)) {
    await rejectsWith(
      sealBox(LABEL, ids, message, [{ keyId: "k", publicKey }]),
      "malformed",
      publicKey,
    );
  }
  for (const bad of badIds(BOX_LIMITS.maxIdChars + 1)) {
    await rejectsWith(
      sealBox(LABEL, { ...ids, ...bad }, message, [pub(dev1)]),
      "malformed",
      JSON.stringify(bad),
    );
  }
  for (const keyId of ["", "a\0b", "k".repeat(BOX_LIMITS.maxIdChars + 1)]) {
    await rejectsWith(
      sealBox(LABEL, ids, message, [{ keyId, publicKey: dev1.publicKey }]),
      "malformed",
    );
  }
  await rejectsWith(
    sealBox(LABEL, ids, "text" as unknown as Uint8Array, [pub(dev1)]),
    "malformed",
  );
  // Exactly at the limits is fine.
  const longest = {
    callId: "c".repeat(BOX_LIMITS.maxIdChars),
    handle: "h".repeat(BOX_LIMITS.maxIdChars),
  };
  const box = await sealBox(LABEL, longest, message, [pub(dev1)]);
  assert.deepEqual(await openBox(LABEL, box, dev1, longest), message);
});

Deno.test("sealed box: malformed boxes, whatever their shape", async () => {
  const box = await sealBox(LABEL, ids, message, [pub(dev1), pub(dev2)]);
  const r = box.recipients[0];
  const cases: [string, unknown][] = [
    ...malformedBoxes(box),
    ["string", "box"],
    ["number", 1],
    ["array", [box]],
    ["v '1'", { ...box, v: "1" }],
    ["11 recipients", {
      ...box,
      recipients: devices.map((d) => ({ ...r, keyId: d.keyId })),
    }],
    ["recipient array", { ...box, recipients: [[r.keyId]] }],
    ["ct under the tag", { ...box, ct: new Uint8Array(15).toBase64() }],
  ];
  for (const [what, bad] of cases) {
    await rejectsWith(openBox(LABEL, bad, dev1, ids), "malformed", what);
  }
  // The using protocol's shortest ciphertext.
  const short = await sealBox(LABEL, ids, new Uint8Array(3), [pub(dev1)]);
  assert.equal((await openBox(LABEL, short, dev1, ids, 19)).length, 3);
  await rejectsWith(openBox(LABEL, short, dev1, ids, 20), "malformed");
  // Not an X25519 private key: a bug, not bad input.
  await assert.rejects(
    openBox(LABEL, box, {
      keyId: dev1.keyId,
      privateKey: await notAnInboxKey(),
    }, ids),
    TypeError,
  );
});

// ------------------------------------------------------------ known answer

const EPH_PRIV = Uint8Array.fromHex(
  "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
);
const BOB_PRIV = Uint8Array.fromHex(
  "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
);
const CK = Uint8Array.from({ length: 32 }, (_, i) => 0x80 + i);
const TESTING: SealTesting = {
  contentKey: CK,
  iv: Uint8Array.fromHex("101112131415161718191a1b"),
  recipients: [{
    iv: Uint8Array.fromHex("202122232425262728292a2b"),
    ephemeralPrivateKey: EPH_PRIV,
  }],
};
const bobKey = (): InboxKey => ({
  keyId: "bob-laptop",
  publicKey: x25519.getPublicKey(BOB_PRIV).toBase64(),
});

Deno.test("sealed box: with the voicemail label, byte for byte a voicemail envelope", async () => {
  const input = {
    callId: "call-0001",
    handle: "alice",
    audio: new Uint8Array([0x1a, 0x45, 0xdf, 0xa3, 1, 2, 3]),
    mime: "audio/webm;codecs=opus",
    durationMs: 1234,
    name: "Ada L",
  };
  const pt = voicemailPlaintext(
    `{"mime":"audio/webm;codecs=opus","durationMs":1234,"name":"Ada L"}`,
    input.audio,
  );
  const env = await sealVoicemail(input, [bobKey()], TESTING);
  const box = await sealBox(
    "reach-vm-v1",
    { callId: input.callId, handle: input.handle },
    pt,
    [bobKey()],
    TESTING,
  );
  assert.deepEqual(box, env);
});

Deno.test("sealed box: another label, checked with @noble/curves and node:crypto", async () => {
  const label = "reach-ring-v1";
  const box = await sealBox(label, ids, message, [bobKey()], TESTING);
  const r = box.recipients[0];
  const epk = x25519.getPublicKey(EPH_PRIV);
  const bobPub = x25519.getPublicKey(BOB_PRIV);
  assert.equal(r.epk, epk.toBase64());
  const info = utf8.encode(
    `${label} wrap\0${ids.callId}\0${ids.handle}\0bob-laptop`,
  );
  const kek = new Uint8Array(
    hkdfSync(
      "sha256",
      x25519.getSharedSecret(BOB_PRIV, epk),
      new Uint8Array([...epk, ...bobPub]),
      info,
      32,
    ),
  );
  const wrapped = Uint8Array.fromBase64(r.wrapped);
  const w = createDecipheriv("aes-256-gcm", kek, Uint8Array.fromBase64(r.iv));
  w.setAAD(info);
  w.setAuthTag(wrapped.subarray(32));
  assert.deepEqual(
    new Uint8Array([...w.update(wrapped.subarray(0, 32)), ...w.final()]),
    CK,
  );
  const ct = Uint8Array.fromBase64(box.ct);
  const c = createDecipheriv("aes-256-gcm", CK, Uint8Array.fromBase64(box.iv));
  c.setAAD(utf8.encode(`${label}\0${ids.callId}\0${ids.handle}`));
  c.setAuthTag(ct.subarray(ct.length - 16));
  assert.deepEqual(
    new Uint8Array([...c.update(ct.subarray(0, ct.length - 16)), ...c.final()]),
    message,
  );
  // And the box opens with Bob's key imported from its raw bytes.
  assert.deepEqual(
    await openBox(label, box, {
      keyId: "bob-laptop",
      privateKey: await importInboxPrivate(BOB_PRIV),
    }, ids),
    message,
  );
});
