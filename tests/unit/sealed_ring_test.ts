import assert from "node:assert/strict";
import {
  type InboxKey,
  openBox,
  sealBox,
  type SealedBox,
  SealedBoxError,
} from "@/lib/crypto/sealed_box.ts";
import { certText } from "@/lib/identity/device_cert.ts";
import {
  attestationPublicKey,
  attestationSeed,
  attestationText,
  signAttestation,
} from "@/lib/identity/handle_attestation.ts";
import {
  MAX_SEALED_CHARS,
  openRing,
  RING_LABEL,
  ringStatementText,
  type RingVerdict,
  sealRing,
} from "@/lib/identity/sealed_ring.ts";
import {
  CERT_DATES,
  type EdKey,
  edKey,
  edVerify,
  flip,
  inboxKeyPairs,
  makeCert,
  pub,
  ringCaller,
  signWithSeed,
  withFirst,
} from "@/tests/_helpers/ring_identity.ts";

const enc = new TextEncoder();
const now = new Date("2026-11-26T08:00:00.000Z");
const DAY = 86_400_000;
const CALL = "0b7c5a8e-8c1b-4f7e-9a51-3f1b0c2d4e6f";
const OTHER_CALL = "11111111-1111-4111-8111-111111111111";
const RING_MS = 60_000;
const fp = (hex: string) => "sha-256 " + Array(32).fill(hex).join(":");
const ALICE_FP = fp("CD");
const MALLORY_FP = fp("EF");

// ---------------------------------------------------------------- people

const serverSeed = await attestationSeed(
  crypto.getRandomValues(new Uint8Array(32)),
);
const serverKey = await attestationPublicKey(serverSeed);
const rogueSeed = await attestationSeed(
  crypto.getRandomValues(new Uint8Array(32)),
);

function makeAtt(
  handle: string,
  wallet: EdKey,
  o: { seed?: Uint8Array; issued?: Date; days?: number } = {},
) {
  return signAttestation(o.seed ?? serverSeed, {
    handle,
    wallet: wallet.pub,
    issued: o.issued ?? new Date(now.getTime() - DAY),
    days: o.days,
  });
}

/** A caller with a device certificate and an attestation of yesterday. */
const person = (handle: string) =>
  ringCaller(handle, serverSeed, { attIssued: new Date(now.getTime() - DAY) });

const alice = await person("alice");
const mallory = await person("mallory");
const bobDevices = await inboxKeyPairs(11);
const [bob1, bob2] = bobDevices;
const [carol1] = await inboxKeyPairs(1);

/** An unsigned attestation naming Alice's wallet for `handle`. */
const attFor = (handle: string, issued = now, expires = now) =>
  attestationText({
    handle,
    wallet: alice.wallet.pub,
    issued: issued.toISOString(),
    expires: expires.toISOString(),
  });
/** The characters of Alice's attestation and certificate but the handle. */
const ATT_BASE = attFor("").length;
const CERT_BASE = certText({
  handle: "",
  device: alice.device.pub,
  wallet: alice.wallet.pub,
  ...CERT_DATES,
}).length;

type Caller = Pick<typeof alice, "identity" | "attestation">;

function ring(
  o: Partial<Parameters<typeof sealRing>[0]> = {},
  keys: InboxKey[] = [pub(bob1)],
  from: Caller = alice,
) {
  return sealRing({
    callId: CALL,
    to: "bob",
    fingerprint: ALICE_FP,
    time: now,
    identity: from.identity,
    attestation: from.attestation,
    ...o,
  }, keys);
}

const expect = {
  callId: CALL,
  handle: "bob",
  ringMs: RING_MS,
  attestationKey: serverKey,
  now,
};

function open(
  box: unknown,
  o: Partial<Parameters<typeof openRing>[2]> = {},
  dev: { keyId: string; privateKey: CryptoKey } = bob1,
): Promise<RingVerdict> {
  return openRing(box, dev, { ...expect, ...o });
}

/** What the UI may never show: who claims to call. */
const SECRETS = [
  "alice",
  "mallory",
  "@",
  alice.wallet.pub,
  mallory.wallet.pub,
  alice.device.pub,
  mallory.device.pub,
];

function refused(v: RingVerdict, reason: RegExp, what: string) {
  assert.equal(v.ok, false, `${what}: ${JSON.stringify(v)}`);
  if (v.ok) return;
  assert.match(v.reason, reason, what);
  assert.ok(v.reason.length <= 80, `${what}: a short reason`);
  for (const s of SECRETS) {
    assert.equal(
      v.reason.toLowerCase().includes(s.toLowerCase()),
      false,
      `${what}: the reason names ${s}`,
    );
  }
}

function verified(v: RingVerdict, who: typeof alice, what = "verified") {
  assert.deepEqual(v, {
    ok: true,
    handle: who.handle,
    wallet: who.wallet.pub,
    fingerprint: who === alice ? ALICE_FP : MALLORY_FP,
  }, what);
}

const MOVED = /sealed for another call or changed on the way/;
const MALFORMED = /^the caller's identity is malformed$/;

/** The plaintext of a ring to Bob as his first device reads it. */
function bob1Reads(box: SealedBox): Promise<Uint8Array> {
  return openBox(RING_LABEL, box, bob1, { callId: CALL, handle: "bob" });
}

/** The fields of a ring to Bob, as his first device reads them. */
async function plaintextOf(box: SealedBox): Promise<Record<string, string>> {
  return JSON.parse(new TextDecoder().decode(await bob1Reads(box)));
}

/** Anyone with Bob's inbox public keys can seal any bytes to him. */
function sealRaw(
  plaintext: string | Uint8Array,
  ids = { callId: CALL, handle: "bob" },
  keys: InboxKey[] = [pub(bob1)],
): Promise<SealedBox> {
  return sealBox(
    RING_LABEL,
    ids,
    typeof plaintext === "string" ? enc.encode(plaintext) : plaintext,
    keys,
  );
}

/** The plaintext's keys, in the documented order. */
const FIELDS = [
  "cert",
  "certSig",
  "att",
  "attSig",
  "fingerprint",
  "time",
  "sig",
];

/** Fields in the documented order (JSON.stringify keeps insertion order). */
const encode = (f: Record<string, string>) =>
  JSON.stringify(Object.fromEntries(FIELDS.map((k) => [k, f[k]])));

/** `f` encoded, sealed by hand to Bob's first device and opened there. */
async function openFields(f: Record<string, string>): Promise<RingVerdict> {
  return await open(await sealRaw(encode(f)));
}

/**
 * The honest fields of `who` (Alice) with `over` changed, re-signed by
 * their device for CALL to bob (unless `over` has a `sig`).
 */
async function ringFields(
  over: Partial<Record<string, string>> = {},
  who: typeof alice = alice,
): Promise<Record<string, string>> {
  const f: Record<string, string> = {
    cert: who.identity.cert,
    certSig: who.identity.certSig,
    att: who.attestation.text,
    attSig: who.attestation.sig,
    fingerprint: ALICE_FP,
    time: now.toISOString(),
    ...over,
  };
  const handle = /^handle: (.*)$/m.exec(f.cert)?.[1] ?? "";
  f.sig = over.sig ?? await who.device.sign(ringStatementText({
    callId: CALL,
    to: "bob",
    from: handle,
    fingerprint: f.fingerprint,
    time: f.time,
  }));
  return f;
}

// ----------------------------------------------------------------- tests

Deno.test("sealed ring: Alice to one device of Bob; nothing of her in the clear", async () => {
  const box = await ring();
  verified(await open(JSON.parse(JSON.stringify(box))), alice);
  assert.equal(box.callId, CALL);
  assert.equal(box.handle, "bob");
  const clear = JSON.stringify(box);
  for (
    const s of [
      alice.wallet.pub,
      alice.device.pub,
      ALICE_FP.slice(8),
      "alice",
      alice.attestation.sig,
      alice.identity.certSig,
    ]
  ) {
    assert.equal(clear.includes(s), false, s);
  }
  // The plaintext is exactly the documented JSON, and `sig` is the device's
  // signature over the documented statement.
  const pt = new TextDecoder().decode(await bob1Reads(box));
  const f = JSON.parse(pt);
  assert.deepEqual(Object.keys(f), FIELDS);
  assert.equal(pt, encode(f));
  assert.equal(f.cert, alice.identity.cert);
  assert.equal(f.att, alice.attestation.text);
  assert.equal(f.time, "2026-11-26T08:00:00.000Z");
  const statement = ringStatementText({
    callId: CALL,
    to: "bob",
    from: "alice",
    fingerprint: ALICE_FP,
    time: f.time,
  });
  assert.equal(
    statement,
    `Reach ring v1\ncall: ${CALL}\nto: bob\nfrom: alice\n` +
      `fingerprint: ${ALICE_FP}\ntime: 2026-11-26T08:00:00.000Z`,
  );
  assert.ok(await edVerify(alice.device.pub, f.sig, statement));
  // The sealing time defaults to the clock.
  const t0 = Date.now();
  const fresh = await ring({ time: undefined });
  const t = Date.parse((await plaintextOf(fresh)).time);
  assert.ok(t >= t0 && t <= Date.now());
});

Deno.test("sealed ring: to 10 devices, each opens its own copy", async () => {
  const ten = bobDevices.slice(0, 10);
  const box = await ring({}, ten.map(pub));
  assert.equal(box.recipients.length, 10);
  for (const d of ten) verified(await open(box, {}, d), alice, d.keyId);
  refused(
    await open(box, {}, bobDevices[10]),
    /^this device was not among those the caller sealed to$/,
    "an eleventh device",
  );
  refused(
    await open(box, {}, { keyId: ten[0].keyId, privateKey: ten[1].privateKey }),
    MOVED,
    "another device's key under this keyId",
  );
  // Sealing refuses 0 and 11 keys.
  await assert.rejects(
    ring({}, []),
    (e) => e instanceof SealedBoxError && e.code === "no_recipients",
  );
  await assert.rejects(
    ring({}, bobDevices.map(pub)),
    (e) => e instanceof SealedBoxError && e.code === "malformed",
  );
});

Deno.test("sealed ring: replayed into another call or to another callee is unverified", async () => {
  const box = await ring();
  // Delivered as is for another call, or to another handle.
  refused(await open(box, { callId: OTHER_CALL }), MOVED, "other call");
  refused(await open(box, { handle: "carol" }), MOVED, "other handle");
  // The clear callId and handle rewritten to match: the AAD still says
  // the original call.
  refused(
    await open({ ...box, callId: OTHER_CALL }, { callId: OTHER_CALL }),
    MOVED,
    "rewritten callId",
  );
  refused(
    await open({ ...box, handle: "carol" }, { handle: "carol" }),
    MOVED,
    "rewritten handle",
  );
  // Anyone can seal, so whoever holds the plaintext (here Bob, who opened
  // it) can reseal it for another call or to another callee: the device's
  // signature names the call and the callee.
  const pt = await bob1Reads(box);
  const replayed = await sealRaw(pt, { callId: OTHER_CALL, handle: "bob" });
  refused(
    await open(replayed, { callId: OTHER_CALL }),
    /did not sign this ring/,
    "resealed for another call",
  );
  const toCarol = await sealRaw(pt, { callId: CALL, handle: "carol" }, [
    pub(carol1),
  ]);
  refused(
    await open(toCarol, { handle: "carol" }, carol1),
    /did not sign this ring/,
    "resealed to Carol",
  );
  refused(
    await open(toCarol, {}, bob1),
    MOVED,
    "Carol's box at Bob",
  );
  // And resealed for the same call and callee it is what it was.
  verified(await open(await sealRaw(pt)), alice, "resealed as it was");
});

Deno.test("sealed ring: Mallory cannot ring as Alice", async () => {
  // Mallory's own ring is fine, as Mallory.
  const own = await ring({ fingerprint: MALLORY_FP }, [pub(bob1)], mallory);
  verified(await open(own), mallory, "Mallory as herself");

  // 1. A certificate for "alice" signed by Mallory's wallet, with Mallory's
  //    own attestation (for "mallory"). An honest sealer refuses the
  //    mismatch; Mallory seals by hand.
  const fakeCert = await makeCert("alice", mallory.device, mallory.wallet);
  await assert.rejects(
    ring({
      fingerprint: MALLORY_FP,
      identity: { ...mallory.identity, ...fakeCert },
      attestation: mallory.attestation,
    }),
    (e) => e instanceof SealedBoxError && e.code === "malformed",
  );
  // Mallory seals by hand what her device signs, with her fingerprint.
  const forged = async (
    papers: { cert: string; certSig: string },
    att: { text: string; sig: string },
  ) =>
    openFields(
      await ringFields({
        fingerprint: MALLORY_FP,
        cert: papers.cert,
        certSig: papers.certSig,
        att: att.text,
        attSig: att.sig,
      }, mallory),
    );
  const MISMATCH = /does not match the caller's device certificate/;
  const BAD_ATT_SIG = /attestation's signature is not valid/;
  const cases: [string, typeof fakeCert, typeof alice.attestation, RegExp][] = [
    // 1., sealed by hand: the callee refuses it too.
    [
      "cert for alice, Mallory's attestation, properly signed ring",
      fakeCert,
      mallory.attestation,
      MISMATCH,
    ],
    // 2. The same certificate with Alice's attestation copied: the
    //    attestation names Alice's wallet, not Mallory's.
    [
      "cert for alice, Alice's attestation copied",
      fakeCert,
      alice.attestation,
      MISMATCH,
    ],
    // 3. A certificate naming Alice's wallet and Mallory's device, signed
    //    by Mallory's wallet.
    [
      "Alice's wallet named, Mallory's signature",
      await makeCert("alice", mallory.device, alice.wallet, {
        by: mallory.wallet,
      }),
      alice.attestation,
      /not signed by their wallet/,
    ],
    // 4. All of Alice's certificate and attestation copied, the ring signed
    //    by Mallory's device (with Mallory's fingerprint).
    [
      "Alice's papers, Mallory's device",
      alice.identity,
      alice.attestation,
      /did not sign this ring/,
    ],
    // 5. An attestation for alice with Mallory's wallet from another server
    //    key (Mallory's own).
    [
      "attestation by another server key",
      fakeCert,
      await makeAtt("alice", mallory.wallet, { seed: rogueSeed }),
      BAD_ATT_SIG,
    ],
    // 6. Mallory's attestation edited to say alice.
    [
      "attestation edited",
      fakeCert,
      {
        text: mallory.attestation.text.replace("mallory", "alice"),
        sig: mallory.attestation.sig,
      },
      BAD_ATT_SIG,
    ],
  ];
  for (const [what, papers, att, reason] of cases) {
    refused(await forged(papers, att), reason, what);
  }
  // 4. again, with Alice's real signature kept and the fingerprint swapped.
  const real = await plaintextOf(await ring());
  refused(
    await openFields({ ...real, fingerprint: MALLORY_FP }),
    /did not sign this ring/,
    "fingerprint swapped",
  );
  // 7. The attestation key is the one the page trusts, not the ring's.
  refused(
    await open(await ring(), { attestationKey: mallory.wallet.pub }),
    /attestation's signature is not valid/,
    "another trusted key",
  );
});

Deno.test("sealed ring: a flipped bit in ct, iv, wrapped or epk is unverified", async () => {
  const box = await ring({}, [pub(bob1), pub(bob2)]);
  const r = box.recipients[0];
  const withR = (patch: Partial<typeof r>) => withFirst(box, patch);
  const ctLen = Uint8Array.fromBase64(box.ct).length;
  for (let i = 0; i < ctLen; i++) {
    refused(await open({ ...box, ct: flip(box.ct, i) }), MOVED, `ct ${i}`);
  }
  for (let i = 0; i < 48; i++) {
    refused(
      await open(withR({ wrapped: flip(r.wrapped, i) })),
      MOVED,
      `wrapped ${i}`,
    );
  }
  for (let i = 0; i < 32; i++) {
    refused(await open(withR({ epk: flip(r.epk, i) })), MOVED, `epk ${i}`);
  }
  refused(
    await open(withR({ epk: flip(r.epk, 31, 0x80) })),
    MOVED,
    "epk bit 255",
  );
  for (let i = 0; i < 12; i++) {
    refused(await open({ ...box, iv: flip(box.iv, i) }), MOVED, `iv ${i}`);
    refused(await open(withR({ iv: flip(r.iv, i) })), MOVED, `wrap iv ${i}`);
  }
  verified(await open(box), alice, "untouched");
  verified(await open(box, {}, bob2), alice, "the other device");
});

Deno.test("sealed ring: too old, from the future, expired papers, pinned key", async () => {
  const at = (ms: number) => ring({ time: new Date(now.getTime() + ms) });
  const oldest = -RING_MS - 30_000;
  verified(await open(await at(oldest)), alice, "as old as the ring allows");
  refused(
    await open(await at(oldest - 1)),
    /^the caller's identity is older than this ring$/,
    "older",
  );
  // A ring that has rung longer accepts an older identity.
  verified(await open(await at(oldest - 1), { ringMs: RING_MS + 1 }), alice);
  verified(await open(await at(30_000)), alice, "30 s ahead");
  refused(
    await open(await at(30_001)),
    /^the caller's identity is from the future$/,
    "future",
  );
  // A broken clock or ring length fails closed.
  refused(await open(await at(0), { ringMs: NaN }), /older/, "NaN ringMs");
  refused(
    await open(await at(0), { now: new Date(NaN) }),
    /not current/,
    "no clock",
  );

  // Expired certificate; certificate issued more than 10 minutes ahead.
  for (
    const o of [
      { expires: "2026-11-26T08:00:00.000Z" },
      { issued: "2026-11-26T08:10:00.001Z" },
    ]
  ) {
    const papers = await makeCert("alice", alice.device, alice.wallet, o);
    refused(
      await open(await ring({ identity: { ...alice.identity, ...papers } })),
      /^the caller's device certificate is not current$/,
      JSON.stringify(o),
    );
  }
  const edge = await makeCert("alice", alice.device, alice.wallet, {
    issued: "2026-11-26T08:10:00.000Z",
  });
  verified(
    await open(await ring({ identity: { ...alice.identity, ...edge } })),
    alice,
    "certificate issued 10 minutes ahead",
  );
  // Expired attestation, and one issued more than 10 minutes ahead.
  for (
    const o of [
      { issued: new Date(now.getTime() - 30 * DAY) },
      { issued: new Date(now.getTime() - 2 * DAY), days: 1 },
      { issued: new Date(now.getTime() + 600_001) },
    ]
  ) {
    refused(
      await open(
        await ring({ attestation: await makeAtt("alice", alice.wallet, o) }),
      ),
      /attestation is not current/,
      JSON.stringify(o),
    );
  }

  // Pinned: a browser that knows Alice's wallet.
  const asked: string[] = [];
  const box = await ring();
  const pins: Record<string, string> = { alice: alice.wallet.pub };
  verified(
    await open(box, {
      pinned: (h) => {
        asked.push(h);
        return pins[h];
      },
    }),
    alice,
    "pinned, same key",
  );
  assert.deepEqual(asked, ["alice"]);
  verified(await open(box, { pinned: () => undefined }), alice, "not pinned");
  refused(
    await open(box, { pinned: () => mallory.wallet.pub }),
    /^the caller's key is not the one this browser knows for them$/,
    "pinned to another key",
  );
  // A new wallet for alice (validly certified and attested) is refused
  // where the old one is pinned.
  const newWallet = await edKey();
  const rekeyed = {
    identity: {
      ...alice.identity,
      ...await makeCert("alice", alice.device, newWallet),
    },
    attestation: await makeAtt("alice", newWallet),
  };
  const rebox = await ring({}, undefined, rekeyed);
  assert.equal((await open(rebox)).ok, true, "unpinned, the new key is fine");
  refused(
    await open(rebox, { pinned: () => alice.wallet.pub }),
    /not the one this browser knows/,
    "pinned to the old key",
  );
});

Deno.test("sealed ring: the plaintext's shape: keys, types, forms", async () => {
  const f = await ringFields();
  verified(await openFields(f), alice, "the honest fields");
  const without = (k: string) => {
    const g = { ...f };
    delete g[k];
    return JSON.stringify(g);
  };
  const json = encode(f);
  const cases: [string, string | Uint8Array][] = [
    ["extra key", JSON.stringify({ ...f, name: "Alice" })],
    ["extra key at the front", JSON.stringify({ name: "Alice", ...f })],
    ...FIELDS.map((k): [string, string] => [`no ${k}`, without(k)]),
    ["keys reordered", JSON.stringify({ sig: f.sig, ...f })],
    ["whitespace", JSON.stringify(f, null, 1)],
    ["trailing space", json + " "],
    ["duplicate key", json.replace('{"cert":', `{"cert":"x","cert":`)],
    ["a number", json.replace(`"time":"${f.time}"`, `"time":${now.getTime()}`)],
    ["a null", json.replace(`"sig":"${f.sig}"`, `"sig":null`)],
    ["an array", json.replace(`"sig":"${f.sig}"`, `"sig":["${f.sig}"]`)],
    ["a JSON array", `[${json}]`],
    ["a JSON string", JSON.stringify(json)],
    ["not JSON", json.slice(0, -1)],
    ["empty", ""],
    ["not UTF-8", new Uint8Array([...enc.encode(json.slice(0, -2)), 0xff])],
    ["__proto__", JSON.stringify({ ...f, ["__proto__"]: "x" })],
  ];
  // Fields out of their forms, each otherwise validly signed.
  const fieldCases: [string, Partial<Record<string, string>>][] = [
    ["fingerprint lowercase", { fingerprint: ALICE_FP.toLowerCase() }],
    ["fingerprint SHA-256", { fingerprint: "SHA-256" + ALICE_FP.slice(7) }],
    ["fingerprint sha-1", { fingerprint: "sha-1" + ALICE_FP.slice(7) }],
    ["fingerprint 31 bytes", { fingerprint: ALICE_FP.slice(0, -3) }],
    ["fingerprint 33 bytes", { fingerprint: ALICE_FP + ":CD" }],
    ["fingerprint trailing space", { fingerprint: ALICE_FP + " " }],
    ["fingerprint 161 chars", { fingerprint: ALICE_FP.padEnd(161, ":") }],
    ["fingerprint empty", { fingerprint: "" }],
    ["time without ms", { time: "2026-11-26T08:00:00Z" }],
    ["time with space", { time: "2026-11-26 08:00:00.000Z" }],
    ["time with offset", { time: "2026-11-26T09:00:00.000+01:00" }],
    ["time Feb 30", { time: "2026-02-30T08:00:00.000Z" }],
    ["time in ms", { time: String(now.getTime()) }],
    ["time extended year", { time: "+002026-11-26T08:00:00.000Z" }],
    ["cert with a quote", {
      cert: alice.identity.cert.replace("v1", 'v1"'),
    }],
    ["cert with a backslash", {
      cert: alice.identity.cert.replace("v1", "v1\\"),
    }],
    ["cert with CR", { cert: alice.identity.cert.replaceAll("\n", "\r\n") }],
    ["cert with a tab", { cert: alice.identity.cert.replace(" ", "\t") }],
    ["cert not ASCII", { cert: alice.identity.cert.replace("alice", "alicé") }],
    ["cert empty", { cert: "" }],
    ["cert does not parse", {
      cert: alice.identity.cert + "\nextra: line",
    }],
    ["att with a quote", { att: alice.attestation.text + '"' }],
    ["certSig not base58", { certSig: "0OIl" }],
    ["attSig not base58", { attSig: alice.attestation.sig + "0" }],
    ["sig not base58", { sig: "not base58!" }],
    ["sig empty", { sig: "" }],
  ];
  for (const [what, over] of fieldCases) {
    cases.push([what, encode(await ringFields(over))]);
  }
  for (const [what, pt] of cases) {
    refused(await open(await sealRaw(pt)), MALFORMED, what);
  }
  // An attestation that does not parse is found when it is checked.
  refused(
    await openFields(
      await ringFields({
        att: alice.attestation.text.replace("Reach", "Rich"),
      }),
    ),
    /^the handle attestation is malformed$/,
    "att does not parse",
  );
});

Deno.test("sealed ring: each field's length limit, exactly", async () => {
  const f = await ringFields();
  // Signatures: 128 base58 characters pass the shape check (and fail their
  // signature); 129 are malformed.
  const pad = (sig: string, n: number) => "1".repeat(n - sig.length) + sig;
  const sigs: [string, RegExp][] = [
    ["certSig", /not signed by their wallet/],
    ["attSig", /attestation's signature is not valid/],
    ["sig", /did not sign this ring/],
  ];
  for (const [k, reason] of sigs) {
    for (const [n, why] of [[128, reason], [129, MALFORMED]] as const) {
      refused(
        await openFields({ ...f, [k]: pad(f[k], n) }),
        why,
        `${k} of ${n}`,
      );
    }
  }

  // The attestation: a handle long enough to make it exactly 512 characters
  // still makes a valid ring (with a certificate for it); one more is
  // malformed.
  for (const [n, ok] of [[512, true], [513, false]] as const) {
    const handle = "a".repeat(n - ATT_BASE);
    // The server's signAttestation refuses to sign over 512: sign by hand.
    const text = attFor(
      handle,
      new Date(now.getTime() - DAY),
      new Date(now.getTime() + DAY),
    );
    assert.equal(text.length, n);
    const papers = await makeCert(handle, alice.device, alice.wallet);
    const v = await openFields(
      await ringFields({
        ...papers,
        att: text,
        attSig: await signWithSeed(serverSeed, text),
      }),
    );
    if (ok) {
      assert.deepEqual(v, {
        ok: true,
        handle,
        wallet: alice.wallet.pub,
        fingerprint: ALICE_FP,
      });
    } else refused(v, MALFORMED, `attestation of ${n}`);
  }
  await assert.rejects(
    makeAtt("a".repeat(513 - ATT_BASE), alice.wallet),
    TypeError,
  );

  // The certificate: 1024 characters pass the shape check (a validly signed
  // certificate whose handle no attestation of 512 can name), 1025 are
  // malformed.
  for (
    const [n, reason] of [[1024, /does not match/], [1025, MALFORMED]] as const
  ) {
    const papers = await makeCert(
      "a".repeat(n - CERT_BASE),
      alice.device,
      alice.wallet,
    );
    assert.equal(papers.cert.length, n);
    refused(
      await openFields(await ringFields(papers)),
      reason,
      `certificate of ${n}`,
    );
  }

  // Sealing checks the same limits, so a caller never sends what the callee
  // refuses.
  const bad: [string, Partial<Parameters<typeof sealRing>[0]>][] = [
    ["lowercase fingerprint", { fingerprint: ALICE_FP.toLowerCase() }],
    ["no fingerprint", { fingerprint: "" }],
    ["callId with a line feed", { callId: `${CALL}\nto: carol` }],
    ["to with a space", { to: "bob carol" }],
    ["a certificate that does not parse", {
      identity: { ...alice.identity, cert: "Reach device certificate v1" },
    }],
    ["an attestation for someone else", { attestation: mallory.attestation }],
    ["an oversized certificate signature", {
      identity: { ...alice.identity, certSig: "1".repeat(129) },
    }],
    ["a device that signs junk", {
      identity: { ...alice.identity, sign: () => Promise.resolve("0OIl") },
    }],
    ["an invalid time", { time: new Date(NaN) }],
  ];
  for (const [what, o] of bad) {
    await assert.rejects(
      ring(o),
      (e) => e instanceof SealedBoxError && e.code === "malformed",
      what,
    );
  }
});

Deno.test("sealed ring: MAX_SEALED_CHARS bounds the biggest ring, tightly", async () => {
  // The biggest real ring: 30-character handles both sides, UUID call id
  // and keyIds, 10 devices.
  const caller = await person("a".repeat(30));
  const callee = "b".repeat(30);
  const keys = bobDevices.slice(0, 10);
  let biggest = 0;
  for (let i = 0; i < 5; i++) {
    const box = await ring(
      { callId: crypto.randomUUID(), to: callee },
      keys.map(pub),
      caller,
    );
    biggest = Math.max(biggest, JSON.stringify(box).length);
    const v = await open(box, { callId: box.callId, handle: callee }, keys[9]);
    assert.equal(v.ok, true);
  }
  assert.ok(biggest <= MAX_SEALED_CHARS, `${biggest} > ${MAX_SEALED_CHARS}`);
  // Not absurdly loose: the limit allows every field at its maximum, which
  // real rings do not come near, but stays within 1.6 times a real one.
  assert.ok(
    MAX_SEALED_CHARS <= 1.6 * biggest,
    `${MAX_SEALED_CHARS} vs ${biggest}`,
  );

  // Attained: every field at its limit (a parseable certificate of 1024 and
  // attestation of 512, 128-character signatures), sealed by hand to 10
  // keys, is exactly MAX_SEALED_CHARS long, and the opener does not call it
  // malformed (it fails a signature): so the server must relay it.
  const papers = await makeCert(
    "c".repeat(1024 - CERT_BASE),
    alice.device,
    alice.wallet,
  );
  const fields = {
    cert: papers.cert,
    certSig: "2".repeat(128),
    att: attFor("h".repeat(512 - ATT_BASE)),
    attSig: "2".repeat(128),
    fingerprint: ALICE_FP,
    time: now.toISOString(),
    sig: "2".repeat(128),
  };
  assert.equal(fields.att.length, 512);
  const ids = { callId: crypto.randomUUID(), handle: callee };
  const max = await sealRaw(encode(fields), ids, keys.map(pub));
  assert.equal(JSON.stringify(max).length, MAX_SEALED_CHARS);
  const v = await open(max, ids, keys[0]);
  refused(v, /not signed by their wallet/, "every field at its limit");
  // One character more anywhere is malformed.
  const over = await sealRaw(
    encode({ ...fields, sig: "2".repeat(129) }),
    ids,
    keys.map(pub),
  );
  assert.ok(JSON.stringify(over).length >= MAX_SEALED_CHARS);
  refused(
    await open(over, ids, keys[0]),
    MALFORMED,
    "one over",
  );
});

Deno.test("sealed ring: never throws, whatever arrives", async () => {
  const box = await ring({}, [pub(bob1), pub(bob2)]);
  const r = box.recipients[0];
  const junk: unknown[] = [
    undefined,
    null,
    0,
    "sealed",
    [],
    [box],
    {},
    { v: 1 },
    { ...box, v: 2 },
    { ...box, recipients: "all" },
    { ...box, recipients: [null] },
    { ...box, recipients: [{ ...r, epk: 5 }] },
    { ...box, recipients: [{ ...r, epk: "!!" }] },
    { ...box, recipients: [r, r] },
    { ...box, ct: "" },
    { ...box, ct: { toString: () => box.ct } },
    { ...box, iv: null },
    { ...box, callId: `${CALL}\0x` },
  ];
  for (const j of junk) {
    const v = await open(j);
    refused(v, /caller|device/, JSON.stringify(j) ?? String(j));
  }
  // The reasons, once more, for a ring that claims to be Alice's but fails
  // at each step, never name her.
  verified(await open(box), alice);
});
