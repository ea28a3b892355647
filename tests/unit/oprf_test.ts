/**
 * Contact discovery's OPRF (lib/phone/oprf.ts, lib/phone/directory.ts,
 * lib/client/discovery.ts): RFC 9497 Appendix A vectors for
 * ristretto255-SHA512 through the wrappers the app uses, then the browser's
 * side end to end against the real handler, honest and tampered.
 */
import assert from "node:assert/strict";
import {
  DiscoveryError,
  type Fetch,
  findByPhone,
} from "@/lib/client/discovery.ts";
import { memoryStore } from "@/lib/client/oprf_cache.ts";
import {
  decodeChunk,
  openEntry,
  sealEntry,
  tagOf,
} from "@/lib/phone/directory.ts";
import {
  baseOprf,
  discoveryKey,
  fromB64u,
  isElement,
  oprfInput,
  type Rng,
  toB64u,
  voprf,
} from "@/lib/phone/oprf.ts";
import { outputFor } from "@/lib/store/discovery.ts";
import { bindPhone, setDiscoverable } from "@/lib/store/phones.ts";
import { owner, testApp, type TestClient } from "../_helpers/app.ts";
import { through } from "../_helpers/discovery.ts";

const hex = (s: string) => Uint8Array.fromHex(s.replace(/\s+/g, ""));
const toHex = (b: Uint8Array) => b.toHex();

/**
 * An rng that makes @noble/curves' RandomScalar return `scalar` (32 bytes,
 * little-endian): it reduces 48 random bytes mod (n - 1) and adds 1, so
 * hand it scalar - 1.
 */
function fixedScalar(scalar: string): Rng {
  return (n = 48) => {
    const s = hex(scalar);
    let v = 0n;
    for (let i = s.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(s[i]);
    v -= 1n;
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      out[i] = Number(v & 0xffn);
      v >>= 8n;
    }
    return out;
  };
}

// RFC 9497 Appendix A.1 (ristretto255-SHA512), from the RFC text.
const SEED = hex(
  "a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3",
);
const KEY_INFO = hex("74657374206b6579"); // "test key"
const BLIND_1 =
  "64d37aed22a27f5191de1c1d69fadb899d8862b58eb4220029e036ec4c1f6706";
const BLIND_2 =
  "222a5e897cf59db8145db8d16e597e8facb80ae7d4e26d9881aa6f61d645fc0e";
const INPUT_1 = "00";
const INPUT_2 = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

Deno.test("RFC 9497 A.1.1: ristretto255-SHA512, OPRF mode", () => {
  const { secretKey } = baseOprf.deriveKeyPair(SEED, KEY_INFO);
  assert.equal(
    toHex(secretKey),
    "5ebcea5ee37023ccb9fc2d2019f9d7737be85591ae8652ffa9ef0f4d37063b0e",
  );
  const vectors = [
    {
      input: INPUT_1,
      blinded:
        "609a0ae68c15a3cf6903766461307e5c8bb2f95e7e6550e1ffa2dc99e412803c",
      evaluated:
        "7ec6578ae5120958eb2db1745758ff379e77cb64fe77b0b2d8cc917ea0869c7e",
      output:
        "527759c3d9366f277d8c6020418d96bb393ba2afb20ff90df23fb7708264e2f3" +
        "ab9135e3bd69955851de4b1f9fe8a0973396719b7912ba9ee8aa7d0b5e24bcf6",
    },
    {
      input: INPUT_2,
      blinded:
        "da27ef466870f5f15296299850aa088629945a17d1f5b7f5ff043f76b3c06418",
      evaluated:
        "b4cbf5a4f1eeda5a63ce7b77c7d23f461db3fcab0dd28e4e17cecb5c90d02c25",
      output:
        "f4a74c9c592497375e796aa837e907b1a045d34306a749db9f34221f7e750cb4" +
        "f2a6413a6bf6fa5e19ba6348eb673934a722a7ede2e7621306d18951e7cf2c73",
    },
  ];
  for (const v of vectors) {
    const input = hex(v.input);
    const b = baseOprf.blind(input, fixedScalar(BLIND_1));
    assert.equal(toHex(b.blind), BLIND_1);
    assert.equal(toHex(b.blinded), v.blinded);
    const evaluated = baseOprf.blindEvaluate(secretKey, b.blinded);
    assert.equal(toHex(evaluated), v.evaluated);
    assert.equal(toHex(baseOprf.finalize(input, b.blind, evaluated)), v.output);
    assert.equal(toHex(baseOprf.evaluate(secretKey, input)), v.output);
  }
});

Deno.test("RFC 9497 A.1.2: ristretto255-SHA512, VOPRF mode (batches of 1 and 2)", () => {
  const { secretKey, publicKey } = voprf.deriveKeyPair(SEED, KEY_INFO);
  assert.equal(
    toHex(secretKey),
    "e6f73f344b79b379f1a0dd37e07ff62e38d9f71345ce62ae3a9bc60b04ccd909",
  );
  assert.equal(
    toHex(publicKey),
    "c803e2cc6b05fc15064549b5920659ca4a77b2cca6f04f6b357009335476ad4e",
  );
  const OUT_1 =
    "b58cfbe118e0cb94d79b5fd6a6dafb98764dff49c14e1770b566e42402da1a7d" +
    "a4d8527693914139caee5bd03903af43a491351d23b430948dd50cde10d32b3c";
  const OUT_2 =
    "8a9a2f3c7f085b65933594309041fc1898d42d0858e59f90814ae90571a6df60" +
    "356f4610bf816f27afdd84f47719e480906d27ecd994985890e5f539e7ea74b6";
  const vectors = [
    {
      inputs: [INPUT_1],
      blinds: [BLIND_1],
      blinded: [
        "863f330cc1a1259ed5a5998a23acfd37fb4351a793a5b3c090b642ddc439b945",
      ],
      evaluated: [
        "aa8fa048764d5623868679402ff6108d2521884fa138cd7f9c7669a9a014267e",
      ],
      proof:
        "ddef93772692e535d1a53903db24367355cc2cc78de93b3be5a8ffcc6985dd06" +
        "6d4346421d17bf5117a2a1ff0fcb2a759f58a539dfbe857a40bce4cf49ec600d",
      proofRandom: BLIND_2,
      outputs: [OUT_1],
    },
    {
      inputs: [INPUT_2],
      blinds: [BLIND_1],
      blinded: [
        "cc0b2a350101881d8a4cba4c80241d74fb7dcbfde4a61fde2f91443c2bf9ef0c",
      ],
      evaluated: [
        "60a59a57208d48aca71e9e850d22674b611f752bed48b36f7a91b372bd7ad468",
      ],
      proof:
        "401a0da6264f8cf45bb2f5264bc31e109155600babb3cd4e5af7d181a2c9dc0a" +
        "67154fabf031fd936051dec80b0b6ae29c9503493dde7393b722eafdf5a50b02",
      proofRandom: BLIND_2,
      outputs: [OUT_2],
    },
    {
      inputs: [INPUT_1, INPUT_2],
      blinds: [BLIND_1, BLIND_2],
      blinded: [
        "863f330cc1a1259ed5a5998a23acfd37fb4351a793a5b3c090b642ddc439b945",
        "90a0145ea9da29254c3a56be4fe185465ebb3bf2a1801f7124bbbadac751e654",
      ],
      evaluated: [
        "aa8fa048764d5623868679402ff6108d2521884fa138cd7f9c7669a9a014267e",
        "cc5ac221950a49ceaa73c8db41b82c20372a4c8d63e5dded2db920b7eee36a2a",
      ],
      proof:
        "cc203910175d786927eeb44ea847328047892ddf8590e723c37205cb74600b0a" +
        "5ab5337c8eb4ceae0494c2cf89529dcf94572ed267473d567aeed6ab873dee08",
      proofRandom:
        "419c4f4f5052c53c45f3da494d2b67b220d02118e0857cdbcf037f9ea84bbe0c",
      outputs: [OUT_1, OUT_2],
    },
  ];
  for (const v of vectors) {
    const inputs = v.inputs.map(hex);
    const blinds = inputs.map((input, i) =>
      voprf.blind(input, fixedScalar(v.blinds[i]))
    );
    assert.deepEqual(blinds.map((b) => toHex(b.blinded)), v.blinded);
    const res = voprf.blindEvaluateBatch(
      secretKey,
      publicKey,
      blinds.map((b) => b.blinded),
      fixedScalar(v.proofRandom),
    );
    assert.deepEqual(res.evaluated.map(toHex), v.evaluated);
    assert.equal(toHex(res.proof), v.proof);
    const outputs = voprf.finalizeBatch(
      inputs.map((input, i) => ({
        input,
        blind: blinds[i].blind,
        blinded: blinds[i].blinded,
        evaluated: res.evaluated[i],
      })),
      publicKey,
      res.proof,
    );
    assert.deepEqual(outputs.map(toHex), v.outputs);
    // The server's shortcut (directory entries) gives the same outputs.
    assert.deepEqual(
      inputs.map((input) => toHex(voprf.evaluate(secretKey, input))),
      v.outputs,
    );
  }
});

Deno.test("oprf: base64url is canonical; elements are checked", () => {
  const b = crypto.getRandomValues(new Uint8Array(32));
  assert.deepEqual(fromB64u(toB64u(b)), b);
  assert.equal(toB64u(b).length, 43);
  for (const bad of ["a", "ab=", "ab+c", "ab/c", "ab c", toB64u(b) + "="]) {
    assert.equal(fromB64u(bad), null, bad);
  }
  // "AB" and "AC" both decode to 0x00 0x..: only the canonical one is taken.
  assert.deepEqual(fromB64u("AA"), Uint8Array.of(0));
  assert.equal(fromB64u("AB"), null);
  const { publicKey } = voprf.deriveKeyPair(SEED, KEY_INFO);
  assert.ok(isElement(publicKey));
  assert.ok(!isElement(new Uint8Array(32)), "the identity");
  assert.ok(!isElement(new Uint8Array(32).fill(0xff)), "not an encoding");
  assert.ok(!isElement(publicKey.subarray(1)), "too short");
});

// ------------------------------------------------------- end to end

const ANN = "+447911123456"; // bound, findable
const BOB = "+33612345678"; // bound, hidden
const CAROL = "+14155552671"; // not bound

/** Passes every request through `c`, letting `edit` rewrite evaluate answers. */
function tampering(
  c: TestClient,
  edit: (body: { evaluated: string[]; proof: string }) => void,
): Fetch {
  const f = through(c);
  return async (path, init) => {
    const res = await f(path, init);
    if (!path.includes("/discover/evaluate") || !res.ok) return res;
    const body = await res.json();
    edit(body);
    return new Response(JSON.stringify(body), {
      status: res.status,
      headers: res.headers,
    });
  };
}

async function world() {
  const app = await testApp();
  await bindPhone(app.kv, app.config, "ann", ANN);
  await setDiscoverable(app.kv, app.config, "ann", true);
  await bindPhone(app.kv, app.config, "bob", BOB);
  const finder = await owner(app, "finder");
  return { app, finder };
}

Deno.test("discovery round trip: bound and findable is found; hidden or unbound is not; invalid input is named", async () => {
  const { app, finder } = await world();
  await using _ = app;
  const store = memoryStore();
  const r = await findByPhone(
    ["+44 7911 123456", BOB, CAROL, "not a number", "+44 20 7946 0958"],
    { fetch: through(finder), store },
  );
  assert.deepEqual(r.matches, [{ phone: ANN, handle: "ann" }]);
  assert.deepEqual(r.invalid, ["not a number", "+44 20 7946 0958"]);
  assert.equal(r.evaluated, 3);
  assert.equal(r.cached, 0);
  assert.equal(r.problem, undefined);
  // Looking again costs no evaluation: the outputs are kept.
  const again = await findByPhone([ANN, BOB, CAROL], {
    fetch: through(finder),
    store,
  });
  assert.deepEqual(again.matches, [{ phone: ANN, handle: "ann" }]);
  assert.equal(again.evaluated, 0);
  assert.equal(again.cached, 3);
  // Bob lets himself be found: the same kept outputs now find him too.
  await setDiscoverable(app.kv, app.config, "bob", true);
  const third = await findByPhone([ANN, BOB, CAROL], {
    fetch: through(finder),
    store,
  });
  assert.deepEqual(third.matches, [
    { phone: ANN, handle: "ann" },
    { phone: BOB, handle: "bob" },
  ]);
  assert.equal(third.evaluated, 0);
});

Deno.test("discovery: a tampered evaluation or proof, or another key, is refused by the client", async () => {
  const { app, finder } = await world();
  await using _ = app;
  const refused = async (f: Fetch, code: string) => {
    await assert.rejects(
      () => findByPhone([ANN, BOB], { fetch: f, store: memoryStore() }),
      (e) => e instanceof DiscoveryError && e.code === code,
    );
  };
  // One evaluated element swapped for another valid element.
  await refused(
    tampering(finder, (b) => {
      b.evaluated = [b.evaluated[1], b.evaluated[0]];
    }),
    "proof_failed",
  );
  // One bit of the proof flipped.
  await refused(
    tampering(finder, (b) => {
      const p = fromB64u(b.proof)!;
      p[5] ^= 1;
      b.proof = toB64u(p);
    }),
    "proof_failed",
  );
  // An honest-looking answer under a key other than the published one.
  const other = voprf.deriveKeyPair(
    crypto.getRandomValues(new Uint8Array(32)),
    KEY_INFO,
  );
  let blinded: string[] = [];
  const f = through(finder);
  await refused(async (path, init) => {
    if (!path.includes("/discover/evaluate")) return await f(path, init);
    blinded = JSON.parse(String(init!.body)).blinded;
    const res = voprf.blindEvaluateBatch(
      other.secretKey,
      other.publicKey,
      blinded.map((b) => fromB64u(b)!),
    );
    return Response.json({
      keyId: "h1",
      evaluated: res.evaluated.map(toB64u),
      proof: toB64u(res.proof),
    });
  }, "proof_failed");
  assert.equal(blinded.length, 2);
  // Missing or extra elements are refused before any proof check.
  await refused(
    tampering(finder, (b) => {
      b.evaluated.pop();
    }),
    "bad_answer",
  );
  // A key id this browser pinned to another public key.
  const store = memoryStore();
  await store.pin("h1", toB64u(other.publicKey));
  await assert.rejects(
    () => findByPhone([ANN], { fetch: through(finder), store }),
    (e) => e instanceof DiscoveryError && e.code === "key_changed",
  );
});

Deno.test("discovery: a directory entry opens only with its number's output", async () => {
  const { app, finder } = await world();
  await using _ = app;
  const res = await finder.request("/api/discover/directory");
  const chunk = decodeChunk(new Uint8Array(await res.arrayBuffer()))!;
  assert.equal(chunk.count, 1, "ann only: bob is hidden");
  const entry = {
    tag: chunk.entries.subarray(0, 8),
    box: chunk.entries.subarray(8, 68),
  };
  const seed = app.config.discoveryKeys[0];
  const yAnn = outputFor(seed, ANN);
  assert.deepEqual(await tagOf(yAnn), entry.tag);
  assert.equal(await openEntry(yAnn, entry), "ann");
  // Another number's output, a random one, or Ann's under another key: no.
  for (
    const y of [
      outputFor(seed, BOB),
      crypto.getRandomValues(new Uint8Array(64)),
      outputFor({ kid: "x", key: new Uint8Array(32).fill(1) }, ANN),
    ]
  ) {
    assert.notDeepEqual(await tagOf(y), entry.tag);
    assert.equal(await openEntry(y, entry), null);
  }
  // Nor by hashing the number without the server's key.
  const naive = new Uint8Array(
    await crypto.subtle.digest("SHA-512", oprfInput(ANN) as BufferSource),
  );
  assert.equal(await openEntry(naive, entry), null);
  // A changed bit anywhere in the entry, or another tag: no.
  for (let i = 0; i < 60; i += 7) {
    const box = entry.box.slice();
    box[i] ^= 0x80;
    assert.equal(await openEntry(yAnn, { tag: entry.tag, box }), null);
  }
  const tag = entry.tag.slice();
  tag[0] ^= 1;
  assert.equal(await openEntry(yAnn, { tag, box: entry.box }), null);
  // Sealing the same handle twice gives unrelated boxes (random nonce).
  const a = await sealEntry(yAnn, "ann");
  const b = await sealEntry(yAnn, "ann");
  assert.deepEqual(a.tag, b.tag);
  assert.notDeepEqual(a.box, b.box);
  // The key served is the key entries are made with.
  const key = await (await finder.request("/api/discover/key")).json();
  assert.equal(key.publicKey, toB64u(discoveryKey(seed).publicKey));
});
