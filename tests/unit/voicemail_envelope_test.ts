import assert from "node:assert/strict";
import { createCipheriv, createDecipheriv, hkdfSync } from "node:crypto";
import { x25519 } from "npm:@noble/curves@2.4.0/ed25519.js";
import {
  type Envelope,
  generateInboxKeyPair,
  type InboxKey,
  openVoicemail,
  type SealTesting,
  sealVoicemail,
  type Voicemail,
  VOICEMAIL_VERSION,
  VoicemailError,
} from "@/lib/voicemail/envelope.ts";
import {
  badIds,
  badPublicKeys,
  codeRejection,
  flip,
  importInboxPrivate,
  malformedBoxes,
  notAnInboxKey,
  pub,
  voicemailPlaintext,
  withFirst,
} from "@/tests/_helpers/ring_identity.ts";

const call = { callId: "c-7f3a9e", handle: "alice" };
const WEBM_MAGIC = [0x1a, 0x45, 0xdf, 0xa3];
const utf8 = new TextEncoder();

const rejectsWith = codeRejection(VoicemailError);

function audioOf(n: number): Uint8Array {
  const a = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) {
    crypto.getRandomValues(a.subarray(i, Math.min(n, i + 65536)));
  }
  a.set(WEBM_MAGIC);
  return a;
}

function indexOf(hay: Uint8Array, needle: ArrayLike<number>): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (hay[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}

const [dev1, dev2, dev3] = await Promise.all([
  generateInboxKeyPair(),
  generateInboxKeyPair(),
  generateInboxKeyPair(),
]);

async function seal(
  v: Partial<Voicemail> = {},
  keys: InboxKey[] = [pub(dev1)],
): Promise<Envelope> {
  return await sealVoicemail({
    ...call,
    audio: audioOf(1024),
    mime: "audio/webm;codecs=opus",
    durationMs: 4200,
    ...v,
  }, keys);
}

Deno.test("voicemail: generated inbox keys", async () => {
  assert.match(
    dev1.keyId,
    /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
  );
  assert.notEqual(dev1.keyId, dev2.keyId);
  assert.equal(Uint8Array.fromBase64(dev1.publicKey).length, 32);
  assert.notEqual(dev1.publicKey, dev2.publicKey);
  assert.equal(dev1.privateKey.extractable, false);
  assert.equal(dev1.privateKey.type, "private");
  assert.equal(dev1.privateKey.algorithm.name, "X25519");
  await assert.rejects(crypto.subtle.exportKey("pkcs8", dev1.privateKey));
});

Deno.test("voicemail: seal/open round trip, 1 KiB and 240 KiB", async () => {
  for (const size of [1024, 240_000]) {
    const audio = audioOf(size);
    const env = await sealVoicemail({
      ...call,
      audio,
      mime: "audio/webm;codecs=opus",
      durationMs: 60_000,
      name: "Bob",
    }, [pub(dev1)]);
    assert.equal(env.v, VOICEMAIL_VERSION);
    assert.equal(env.callId, call.callId);
    assert.equal(env.handle, call.handle);
    assert.equal(Uint8Array.fromBase64(env.iv).length, 12);
    assert.equal(env.recipients.length, 1);
    const r = env.recipients[0];
    assert.equal(r.keyId, dev1.keyId);
    assert.equal(Uint8Array.fromBase64(r.epk).length, 32);
    assert.equal(Uint8Array.fromBase64(r.iv).length, 12);
    assert.equal(Uint8Array.fromBase64(r.wrapped).length, 48);
    const header =
      `{"mime":"audio/webm;codecs=opus","durationMs":60000,"name":"Bob"}`;
    assert.equal(
      Uint8Array.fromBase64(env.ct).length,
      4 + header.length + size + 16,
    );
    // Survives JSON transport.
    const stored: Envelope = JSON.parse(JSON.stringify(env));
    const vm = await openVoicemail(stored, dev1, call);
    assert.deepEqual(vm, {
      audio,
      mime: "audio/webm;codecs=opus",
      durationMs: 60_000,
      name: "Bob",
    });
  }
  // Fresh randomness every time.
  const audio = audioOf(64);
  const a = await sealVoicemail(
    { ...call, audio, mime: "audio/ogg", durationMs: 1 },
    [pub(dev1)],
  );
  const b = await sealVoicemail(
    { ...call, audio, mime: "audio/ogg", durationMs: 1 },
    [pub(dev1)],
  );
  assert.notEqual(a.iv, b.iv);
  assert.notEqual(a.ct, b.ct);
  assert.notEqual(a.recipients[0].epk, b.recipients[0].epk);
  assert.notEqual(a.recipients[0].iv, b.recipients[0].iv);
  assert.notEqual(a.recipients[0].wrapped, b.recipients[0].wrapped);
  // Empty audio and fractional duration are fine.
  const empty = await sealVoicemail({
    ...call,
    audio: new Uint8Array(0),
    mime: "audio/mp4",
    durationMs: 0.5,
  }, [pub(dev1)]);
  assert.deepEqual(await openVoicemail(empty, dev1, call), {
    audio: new Uint8Array(0),
    mime: "audio/mp4",
    durationMs: 0.5,
  });
});

Deno.test("voicemail: every listed device opens; another device does not", async () => {
  const env = await seal({ name: "Carol" }, [pub(dev1), pub(dev2)]);
  assert.deepEqual(env.recipients.map((r) => r.keyId), [
    dev1.keyId,
    dev2.keyId,
  ]);
  const a = await openVoicemail(env, dev1, call);
  const b = await openVoicemail(env, dev2, call);
  assert.deepEqual(a, b);
  assert.equal(a.name, "Carol");
  await rejectsWith(openVoicemail(env, dev3, call), "not_for_this_device");
  // Dropping a recipient locks that device out, not the others.
  const only2 = { ...env, recipients: [env.recipients[1]] };
  await rejectsWith(openVoicemail(only2, dev1, call), "not_for_this_device");
  assert.deepEqual(await openVoicemail(only2, dev2, call), a);
});

Deno.test("voicemail: the wrong private key under the right keyId is tampered", async () => {
  const env = await seal({}, [pub(dev1), pub(dev2)]);
  await rejectsWith(
    openVoicemail(
      env,
      { keyId: dev1.keyId, privateKey: dev2.privateKey },
      call,
    ),
    "tampered",
  );
  await rejectsWith(
    openVoicemail(
      env,
      { keyId: dev2.keyId, privateKey: dev3.privateKey },
      call,
    ),
    "tampered",
  );
  // Entries swapped between keyIds.
  const [r1, r2] = env.recipients;
  const swapped = {
    ...env,
    recipients: [{ ...r2, keyId: r1.keyId }, { ...r1, keyId: r2.keyId }],
  };
  await rejectsWith(openVoicemail(swapped, dev1, call), "tampered");
  await rejectsWith(openVoicemail(swapped, dev2, call), "tampered");
  // Not an X25519 private key at all: a programming error, not tampering.
  await assert.rejects(
    openVoicemail(env, {
      keyId: dev1.keyId,
      privateKey: await notAnInboxKey(),
    }, call),
    TypeError,
  );
});

Deno.test("voicemail: changed ct, iv, wrapped, epk or wrap iv is tampered", async () => {
  const env = await seal({ name: "Dee" });
  const r = env.recipients[0];
  const withR = (patch: Partial<typeof r>) => withFirst(env, patch);
  const ctLen = Uint8Array.fromBase64(env.ct).length;
  // Length prefix, header, audio, tag.
  for (const byte of [0, 3, 4, 30, ctLen - 17, ctLen - 16, ctLen - 1]) {
    await rejectsWith(
      openVoicemail({ ...env, ct: flip(env.ct, byte) }, dev1, call),
      "tampered",
      `ct byte ${byte}`,
    );
  }
  for (const byte of [0, 11]) {
    await rejectsWith(
      openVoicemail({ ...env, iv: flip(env.iv, byte) }, dev1, call),
      "tampered",
    );
    await rejectsWith(
      openVoicemail(withR({ iv: flip(r.iv, byte) }), dev1, call),
      "tampered",
    );
  }
  for (const byte of [0, 31, 32, 47]) {
    await rejectsWith(
      openVoicemail(withR({ wrapped: flip(r.wrapped, byte) }), dev1, call),
      "tampered",
    );
  }
  // Bit 255 of an X25519 u-coordinate is ignored by the curve; the HKDF salt
  // still binds the exact epk bytes.
  for (const [byte, bit] of [[0, 1], [15, 0x10], [31, 0x80]]) {
    await rejectsWith(
      openVoicemail(withR({ epk: flip(r.epk, byte, bit) }), dev1, call),
      "tampered",
      `epk byte ${byte} bit ${bit}`,
    );
  }
  // A low-order epk (all zeros) gives an all-zero secret: rejected.
  await rejectsWith(
    openVoicemail(withR({ epk: new Uint8Array(32).toBase64() }), dev1, call),
    "tampered",
  );
  // Another envelope's ct or wrapped key under this one's.
  const other = await seal({ name: "Dee" });
  await rejectsWith(
    openVoicemail({ ...env, ct: other.ct }, dev1, call),
    "tampered",
  );
  await rejectsWith(
    openVoicemail(withR({ wrapped: other.recipients[0].wrapped }), dev1, call),
    "tampered",
  );
  assert.equal((await openVoicemail(env, dev1, call)).name, "Dee");
});

Deno.test("voicemail: another call or handle is wrong_call; rewriting both is tampered", async () => {
  const env = await seal();
  await rejectsWith(
    openVoicemail(env, dev1, { ...call, callId: "c-other" }),
    "wrong_call",
  );
  await rejectsWith(
    openVoicemail(env, dev1, { ...call, handle: "mallory" }),
    "wrong_call",
  );
  await rejectsWith(
    openVoicemail({ ...env, callId: "c-other" }, dev1, call),
    "wrong_call",
  );
  await rejectsWith(
    openVoicemail({ ...env, handle: "mallory" }, dev1, call),
    "wrong_call",
  );
  await rejectsWith(
    openVoicemail({ ...env, handle: "Alice" }, dev1, call),
    "wrong_call",
  );
  // The attacker rewrites the envelope and the opener is led to expect it:
  // the AAD and the KEK's HKDF info still name the original call.
  for (
    const moved of [
      { callId: "c-other", handle: call.handle },
      { callId: call.callId, handle: "mallory" },
      { callId: "c-other", handle: "mallory" },
      // NUL-shifting between fields is refused before it could alias.
      { callId: "c-7f3a9e\0alice", handle: "x" },
    ]
  ) {
    const p = openVoicemail({ ...env, ...moved }, dev1, moved);
    await rejectsWith(
      p,
      moved.callId.includes("\0") ? "malformed" : "tampered",
      JSON.stringify(moved),
    );
  }
});

Deno.test("voicemail: the name travels inside the ciphertext only, and may be absent", async () => {
  const withName = await seal({ name: "Élodie 🌻 Ngũ" });
  const vm = await openVoicemail(withName, dev1, call);
  assert.equal(vm.name, "Élodie 🌻 Ngũ");
  const without = await seal();
  const vm2 = await openVoicemail(without, dev1, call);
  assert.equal("name" in vm2, false);
  assert.deepEqual(Object.keys(vm2).sort(), ["audio", "durationMs", "mime"]);
  // 60 code points (astral characters count once), with quotes and
  // backslashes that JSON escapes.
  const sixty = "🌻".repeat(30) + '"\\'.repeat(15);
  assert.equal(
    (await openVoicemail(await seal({ name: sixty }), dev1, call)).name,
    sixty,
  );
});

Deno.test("voicemail: no WebM magic, name or mime in the clear", async () => {
  const name = "Zed Quinn";
  const env = await seal({ audio: audioOf(4096), name });
  const json = JSON.stringify(env);
  const bytes = utf8.encode(json);
  assert.equal(indexOf(bytes, WEBM_MAGIC), -1);
  assert.equal(json.includes(name), false);
  assert.equal(json.includes("audio/webm"), false);
  assert.equal(json.includes("GkXfo"), false, "base64 of the magic");
  // Short words are checked where text is in the clear: every field but the
  // base64 blobs (in ~5,500 random base64 characters "Zed" turns up by
  // chance about once in 50 runs).
  const clear = JSON.stringify({
    ...env,
    iv: "",
    ct: "",
    recipients: env.recipients.map((r) => r.keyId),
  });
  for (const word of ["Zed", "Quinn", "webm", "opus"]) {
    assert.equal(clear.includes(word), false, word);
  }
  // The ciphertext bytes themselves do not start with or carry the magic.
  // (Deterministic: the known-answer envelope below, whose audio starts with
  // the magic.)
  const kat = await sealVoicemail(KAT_INPUT, await katKeys(), KAT_TESTING);
  const ct = Uint8Array.fromBase64(kat.ct);
  assert.equal(indexOf(ct, WEBM_MAGIC), -1);
  assert.equal(indexOf(ct, utf8.encode("Ada")), -1);
  assert.equal(JSON.stringify(kat).includes("Ada"), false);
});

Deno.test("voicemail: limits and validation at seal", async () => {
  const base = {
    ...call,
    audio: audioOf(16),
    mime: "audio/webm",
    durationMs: 1000,
  };
  await rejectsWith(sealVoicemail(base, []), "no_recipients");
  const eleven = await Promise.all(
    Array.from({ length: 11 }, () => generateInboxKeyPair()),
  );
  const ten = await sealVoicemail(base, eleven.slice(0, 10).map(pub));
  assert.equal(ten.recipients.length, 10);
  for (const k of eleven.slice(0, 10)) {
    assert.deepEqual((await openVoicemail(ten, k, call)).audio, base.audio);
  }
  await rejectsWith(sealVoicemail(base, eleven.map(pub)), "malformed");
  // Duplicate keyIds, bad public keys.
  await rejectsWith(sealVoicemail(base, [pub(dev1), pub(dev1)]), "malformed");
  for (const publicKey of badPublicKeys(dev1.publicKey)) {
    await rejectsWith(
      sealVoicemail(base, [{ keyId: "k", publicKey }]),
      "malformed",
      publicKey,
    );
  }
  // Identifiers.
  for (const bad of badIds(257)) {
    await rejectsWith(
      sealVoicemail({ ...base, ...bad }, [pub(dev1)]),
      "malformed",
      JSON.stringify(bad),
    );
  }
  await rejectsWith(
    sealVoicemail(base, [{ keyId: "a\0b", publicKey: dev1.publicKey }]),
    "malformed",
  );
  await rejectsWith(
    sealVoicemail(base, [{ keyId: "", publicKey: dev1.publicKey }]),
    "malformed",
  );
  // Header fields.
  const badFields: Partial<Voicemail>[] = [
    { name: "x".repeat(61) },
    { name: "🌻".repeat(61) },
    { name: "" },
    { name: "line\nbreak" },
    { name: "\u0085" },
    { name: "lone \ud800 surrogate" },
    { name: 7 as unknown as string },
    { mime: "" },
    { mime: "audio/wébm" },
    { mime: "a".repeat(256) },
    { durationMs: -1 },
    { durationMs: NaN },
    { durationMs: Infinity },
    { durationMs: "1" as unknown as number },
    { audio: [1, 2] as unknown as Uint8Array },
  ];
  for (const bad of badFields) {
    await rejectsWith(
      sealVoicemail({ ...base, ...bad }, [pub(dev1)]),
      "malformed",
      String(Object.values(bad)[0]),
    );
  }
  // The largest allowed fields fit the 1 KiB header.
  const big = await sealVoicemail({
    ...base,
    mime: '"'.repeat(255),
    durationMs: Number.MAX_VALUE,
    name: "🌻".repeat(60),
  }, [pub(dev1)]);
  const vm = await openVoicemail(big, dev1, call);
  assert.equal(vm.mime, '"'.repeat(255));
  assert.equal(vm.durationMs, Number.MAX_VALUE);
});

Deno.test("voicemail: malformed envelopes", async () => {
  const env = await seal({}, [pub(dev1), pub(dev2)]);
  const r = env.recipients[0];
  const cases: [string, unknown][] = [
    ...malformedBoxes(env),
    ["no v", { ...env, v: undefined }],
    ["11 recipients", { ...env, recipients: Array(11).fill(r) }],
    ["ct too short", { ...env, ct: new Uint8Array(19).toBase64() }],
  ];
  for (const [what, bad] of cases) {
    await rejectsWith(
      openVoicemail(bad as Envelope, dev1, call),
      "malformed",
      what,
    );
  }
});

// ------------------------------------------------------------ known answer

// RFC 7748 §6.1: Alice's key is the first ephemeral key, Bob's the first
// recipient; their shared secret is the RFC's.
const ALICE_PRIV = Uint8Array.fromHex(
  "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
);
const BOB_PRIV = Uint8Array.fromHex(
  "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
);
const RFC7748_SHARED =
  "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
const CAROL_PRIV = new Uint8Array(32).fill(0x42);
const EPH2_PRIV = new Uint8Array(32).fill(0x24);
const KAT_CK = Uint8Array.from({ length: 32 }, (_, i) => i);

const KAT_INPUT = {
  callId: "call-0001",
  handle: "alice",
  audio: new Uint8Array([...WEBM_MAGIC, ...utf8.encode("opus")]),
  mime: "audio/webm;codecs=opus",
  durationMs: 1234,
  name: "Ada L",
};
const KAT_TESTING: SealTesting = {
  contentKey: KAT_CK,
  iv: Uint8Array.fromHex("101112131415161718191a1b"),
  recipients: [
    {
      iv: Uint8Array.fromHex("202122232425262728292a2b"),
      ephemeralPrivateKey: ALICE_PRIV,
    },
    {
      iv: Uint8Array.fromHex("303132333435363738393a3b"),
      ephemeralPrivateKey: EPH2_PRIV,
    },
  ],
};
const katKeys = (): Promise<InboxKey[]> =>
  Promise.resolve([
    {
      keyId: "bob-laptop",
      publicKey: x25519.getPublicKey(BOB_PRIV).toBase64(),
    },
    {
      keyId: "carol-phone",
      publicKey: x25519.getPublicKey(CAROL_PRIV).toBase64(),
    },
  ]);

// Computed once with sealVoicemail and the fixed inputs above, and checked
// independently below with @noble/curves x25519 and node:crypto.
const KAT_ENVELOPE: Envelope = {
  v: 1,
  callId: "call-0001",
  handle: "alice",
  iv: "EBESExQVFhcYGRob",
  ct:
    "ff6YVDLrV9qnEConLRgcN74/YXl+oDqKhJaGAj0nabQgnCQh2YQKmgxX5jjl9l5oMYZ2QdC/ddDSf1dU0a2GKmGZH29rwxFxsiNajq2yEgGMPvdaZHDoy9+zyLBnTQ==",
  recipients: [
    {
      keyId: "bob-laptop",
      epk: "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=",
      iv: "ICEiIyQlJicoKSor",
      wrapped:
        "HIge7h06eJJFKGFEaTiOyBE0sS2finsBwsaCdnJ4SPNCP7PPPPtGPe6LfpuQIIS6",
    },
    {
      keyId: "carol-phone",
      epk: "BLzS4NAPLM5f6PHGwvvsXAf6VuOqXIilaJl12Is/zgU=",
      iv: "MDEyMzQ1Njc4OTo7",
      wrapped:
        "jVjeejq2nlv3ARKEHWjH5EqBLQF8wB5vin0jl7lCB9b5QUYIWBW/I9OuXPKN8l3e",
    },
  ],
};

Deno.test("voicemail: known answer", async () => {
  const env = await sealVoicemail(KAT_INPUT, await katKeys(), KAT_TESTING);
  assert.deepEqual(env, KAT_ENVELOPE);
  const { callId, handle, ...vm } = KAT_INPUT;
  for (
    const [keyId, priv] of [["bob-laptop", BOB_PRIV], [
      "carol-phone",
      CAROL_PRIV,
    ]] as const
  ) {
    const privateKey = await importInboxPrivate(priv);
    assert.deepEqual(
      await openVoicemail(KAT_ENVELOPE, { keyId, privateKey }, {
        callId,
        handle,
      }),
      vm,
    );
  }
});

Deno.test("voicemail: known answer, checked with @noble/curves and node:crypto", () => {
  const env = KAT_ENVELOPE;
  const { callId, handle } = env;
  const recipients: [Uint8Array, Uint8Array][] = [
    [ALICE_PRIV, BOB_PRIV],
    [EPH2_PRIV, CAROL_PRIV],
  ];
  env.recipients.forEach((r, i) => {
    const [ephPriv, recipPriv] = recipients[i];
    const epk = x25519.getPublicKey(ephPriv);
    const recipPub = x25519.getPublicKey(recipPriv);
    assert.equal(r.epk, epk.toBase64());
    const shared = x25519.getSharedSecret(ephPriv, recipPub);
    // Either side computes the same secret.
    assert.deepEqual(x25519.getSharedSecret(recipPriv, epk), shared);
    if (i === 0) assert.equal(shared.toHex(), RFC7748_SHARED);
    const info = utf8.encode(
      `reach-vm-v1 wrap\0${callId}\0${handle}\0${r.keyId}`,
    );
    const kek = new Uint8Array(
      hkdfSync(
        "sha256",
        shared,
        new Uint8Array([...epk, ...recipPub]),
        info,
        32,
      ),
    );
    const wrapped = Uint8Array.fromBase64(r.wrapped);
    const d = createDecipheriv(
      "aes-256-gcm",
      kek,
      Uint8Array.fromBase64(r.iv),
    );
    d.setAAD(info);
    d.setAuthTag(wrapped.subarray(32));
    const ck = new Uint8Array([
      ...d.update(wrapped.subarray(0, 32)),
      ...d.final(),
    ]);
    assert.deepEqual(ck, KAT_CK);
  });

  // The content: length-prefixed JSON header, then the audio.
  const pt = voicemailPlaintext(
    `{"mime":"audio/webm;codecs=opus","durationMs":1234,"name":"Ada L"}`,
    KAT_INPUT.audio,
  );
  const aad = utf8.encode(`reach-vm-v1\0${callId}\0${handle}`);
  const c = createCipheriv(
    "aes-256-gcm",
    KAT_CK,
    Uint8Array.fromBase64(env.iv),
  );
  c.setAAD(aad);
  const node = new Uint8Array([
    ...c.update(pt),
    ...c.final(),
    ...c.getAuthTag(),
  ]);
  assert.equal(node.toBase64(), env.ct);
});

Deno.test("voicemail: authenticated but malformed plaintext is malformed", async () => {
  // Anyone with the public keys can seal, so a valid tag does not make the
  // plaintext well formed. Re-encrypt chosen plaintexts under the KAT content
  // key, which Bob's entry wraps.
  const { callId, handle } = KAT_ENVELOPE;
  const bob = {
    keyId: "bob-laptop",
    privateKey: await importInboxPrivate(BOB_PRIV),
  };
  const aad = utf8.encode(`reach-vm-v1\0${callId}\0${handle}`);
  const withPlaintext = (pt: Uint8Array): Envelope => {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const c = createCipheriv("aes-256-gcm", KAT_CK, iv);
    c.setAAD(aad);
    const ct = new Uint8Array([
      ...c.update(pt),
      ...c.final(),
      ...c.getAuthTag(),
    ]);
    return { ...KAT_ENVELOPE, iv: iv.toBase64(), ct: ct.toBase64() };
  };
  const framed = (json: string | Uint8Array) =>
    voicemailPlaintext(json, [1, 2, 3]);
  // Sanity: a well-formed chosen plaintext opens.
  assert.deepEqual(
    await openVoicemail(
      withPlaintext(framed(`{"mime":"audio/ogg","durationMs":5}`)),
      bob,
      { callId, handle },
    ),
    { audio: new Uint8Array([1, 2, 3]), mime: "audio/ogg", durationMs: 5 },
  );
  const longName = `{"mime":"a","durationMs":1,"name":"${"n".repeat(61)}"}`;
  const bigHeader = `{"mime":"a","durationMs":1,"x":"${"p".repeat(1000)}"}`;
  const cases: [string, Uint8Array][] = [
    ["under 4 bytes", new Uint8Array(3)],
    ["length past end", new Uint8Array([0, 0, 0, 9, 123, 125])],
    ["length over 1 KiB", framed(`{"mime":"a","durationMs":1}`.padEnd(1025))],
    ["huge length", new Uint8Array([0xff, 0xff, 0xff, 0xff, 0])],
    ["big header", framed(bigHeader)],
    ["not JSON", framed("{mime")],
    ["not UTF-8", framed(new Uint8Array([0x22, 0xff, 0x22]))],
    ["array", framed("[]")],
    ["null", framed("null")],
    ["unknown field", framed(`{"mime":"a","durationMs":1,"extra":1}`)],
    ["no mime", framed(`{"durationMs":1}`)],
    ["negative duration", framed(`{"mime":"a","durationMs":-1}`)],
    ["name too long", framed(longName)],
    ["name control", framed(`{"mime":"a","durationMs":1,"name":"\\u001b["}`)],
    ["name null", framed(`{"mime":"a","durationMs":1,"name":null}`)],
  ];
  for (const [what, pt] of cases) {
    await rejectsWith(
      openVoicemail(withPlaintext(pt), bob, { callId, handle }),
      "malformed",
      what,
    );
  }
});
