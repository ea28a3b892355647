import assert from "node:assert/strict";
import {
  add,
  BLOOM_SCHEME,
  bloomHeaders,
  type BloomParams,
  createFilter,
  deserialize,
  expectedFpr,
  has,
  locate,
  MAX_BLOCK_BITS,
  paramsFor,
  paramsFromHeaders,
  serialize,
} from "@/lib/bloom.ts";
import { claimHandle } from "@/lib/store/profiles.ts";
import {
  type BloomMeta,
  capacityFor,
  growBloom,
  newGeneration,
  readBloom,
} from "@/lib/store/bloom.ts";
import { keys } from "@/lib/store/keys.ts";
import { withKv } from "../_helpers/kv.ts";

/** Deterministic pseudo-random handles (mulberry32), so the figures repeat. */
function handles(seed: number, count: number, exclude = new Set<string>()) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789_";
  const out = new Set<string>();
  while (out.size < count) {
    let h = "";
    const len = 5 + Math.floor(next() * 14);
    for (let i = 0; i < len; i++) h += alphabet[Math.floor(next() * 37)];
    if (!exclude.has(h)) out.add(h);
  }
  return out;
}

/** Where "alice" goes in a filter for 100 000 (16 blocks of 62 504 bits). */
const PINNED_ALICE = {
  block: 14,
  offsets: [45254, 43082, 40910, 38738, 36566, 34394, 32222],
};

const M = 2n ** 32n;

/** FNV-1a-32, from its definition, in BigInt arithmetic. */
function refFnv(bytes: Uint8Array, basis: bigint) {
  let h = basis;
  for (const b of bytes) h = ((h ^ BigInt(b)) * 0x01000193n) % M;
  return h;
}

function refFmix(h: bigint) {
  h ^= h >> 16n;
  h = (h * 0x85ebca6bn) % M;
  h ^= h >> 13n;
  h = (h * 0xc2b2ae35n) % M;
  h ^= h >> 16n;
  return h;
}

/**
 * The scheme written again straight from lib/bloom.ts's module doc, as
 * another implementation (a browser's, say) would.
 */
function referenceBytes(p: BloomParams, elements: Iterable<string>) {
  const out = new Uint8Array(p.bits / 8);
  const s = BigInt(p.bits / p.blocks);
  for (const e of elements) {
    const bytes = new TextEncoder().encode(e);
    const h1 = refFmix(refFnv(bytes, 0x811c9dc5n));
    const h2 = refFmix(refFnv(bytes, 0x9e3779b9n));
    const j = (h1 * BigInt(p.blocks)) / M;
    for (let i = 0n; i < BigInt(p.hashes); i++) {
      const n = Number(j * s + (h1 + i * h2) % s);
      out[n >> 3] |= 1 << (n & 7);
    }
  }
  return out;
}

Deno.test("bloom: 100 000 handles, no false negatives, at most 1% false positives", () => {
  const inserted = handles(1, 100_000);
  const probes = handles(2, 100_000, inserted);
  // Sized for exactly 100 000: the worst case the server ever serves.
  const filter = createFilter(paramsFor(100_000));
  for (const h of inserted) add(filter, h);
  for (const h of inserted) assert.ok(has(filter, h), `false negative ${h}`);
  let positives = 0;
  for (const h of probes) if (has(filter, h)) positives++;
  const fpr = positives / probes.size;
  console.log(
    `bloom at capacity: ${filter.bytes.length} bytes, measured FPR ${
      (fpr * 100).toFixed(3)
    }% (theory ${(expectedFpr(filter.params, 100_000) * 100).toFixed(3)}%)`,
  );
  assert.ok(fpr <= 0.01, `false-positive rate ${fpr} is over 1%`);
  // As served at 100 000 handles (capacity doubled to 131 072): lower still.
  const served = createFilter(paramsFor(capacityFor(100_000)));
  for (const h of inserted) add(served, h);
  let servedPositives = 0;
  for (const h of probes) if (has(served, h)) servedPositives++;
  console.log(
    `bloom as served: ${served.bytes.length} bytes, measured FPR ${
      (servedPositives / probes.size * 100).toFixed(3)
    }%`,
  );
  assert.ok(servedPositives / probes.size <= 0.01);
});

Deno.test("bloom: parameters are sound at every size", () => {
  for (const capacity of [1, 1024, 5000, 100_000, 131_072, 10_000_000]) {
    const p = paramsFor(capacity);
    assert.equal(p.hashes, 7);
    assert.ok(p.bits >= capacity * 10, `${capacity}: ${p.bits} bits`);
    assert.equal(p.bits % (8 * p.blocks), 0);
    assert.ok(p.bits / p.blocks <= MAX_BLOCK_BITS);
    assert.ok(expectedFpr(p, capacity) <= 0.0083);
  }
  assert.deepEqual(paramsFor(1024), { bits: 10240, hashes: 7, blocks: 1 });
});

Deno.test("bloom: serialization and header round trip", () => {
  const p = paramsFor(5000);
  const f = createFilter(p);
  for (const h of handles(3, 5000)) add(f, h);
  const wire = serialize(f);
  assert.equal(wire.length, p.bits / 8);
  const back = deserialize(p, wire);
  assert.deepEqual(back.bytes, f.bytes);
  for (const h of handles(3, 5000)) assert.ok(has(back, h));
  wire[0] ^= 0xff;
  assert.notDeepEqual(back.bytes, wire, "deserialize copies");
  const headers = new Headers(bloomHeaders(p, 5000, 5000));
  assert.equal(headers.get("x-bloom-scheme"), BLOOM_SCHEME);
  assert.deepEqual(paramsFromHeaders(headers), p);
  headers.set("x-bloom-scheme", "something-else");
  assert.equal(paramsFromHeaders(headers), null);
  headers.set("x-bloom-scheme", BLOOM_SCHEME);
  headers.set("x-bloom-bits", "12345");
  assert.equal(paramsFromHeaders(headers), null);
  assert.throws(() => createFilter(p, new Uint8Array(3)));
});

Deno.test("bloom: browser and server agree: same bytes from same inserts", async () => {
  // The documented scheme, written independently, gives the same bytes.
  for (const capacity of [1024, 100_000]) {
    const p = paramsFor(capacity);
    const some = handles(4, 3000);
    const f = createFilter(p);
    for (const h of some) add(f, h);
    assert.deepEqual(serialize(f), referenceBytes(p, some));
  }
  // The reference FNV-1a-32 matches the published test vectors.
  const utf8 = (t: string) => new TextEncoder().encode(t);
  assert.equal(refFnv(utf8(""), 0x811c9dc5n), 0x811c9dc5n);
  assert.equal(refFnv(utf8("a"), 0x811c9dc5n), 0xe40c292cn);
  assert.equal(refFnv(utf8("foobar"), 0x811c9dc5n), 0xbf9cf968n);
  // And a pinned answer, so the scheme cannot change by accident.
  assert.deepEqual(locate(paramsFor(100_000), "alice"), PINNED_ALICE);
  // The filter KV builds claim by claim equals one built in memory.
  await withKv(async (kv) => {
    const some = [...handles(5, 1500)];
    for (const [i, h] of some.entries()) {
      const res = await claimHandle(kv, h, `wallet${i}`);
      assert.ok(res.ok);
    }
    const served = await readBloom(kv);
    assert.equal(served.count, 1500);
    assert.equal(served.generation.capacity, 2048);
    const mem = createFilter(served.generation);
    for (const h of some) add(mem, h);
    assert.deepEqual(served.bytes, serialize(mem));
  });
});

Deno.test("bloom store: claims during a build write into both generations", () =>
  withKv(async (kv) => {
    assert.ok((await claimHandle(kv, "first_one", "w0")).ok);
    const meta = (await kv.get<BloomMeta>(keys.bloomMeta())).value!;
    const next = { ...newGeneration(4096), startedAt: Date.now() };
    await kv.set(keys.bloomMeta(), { current: meta.current, next });
    assert.ok((await claimHandle(kv, "during_build", "w1")).ok);
    const chunks = [];
    for await (const e of kv.list<Uint8Array>({ prefix: ["bloom", next.id] })) {
      chunks.push(e);
    }
    const nextFilter = createFilter(next);
    for (const e of chunks) {
      nextFilter.bytes.set(e.value, (e.key[2] as number) * e.value.length);
    }
    assert.ok(has(nextFilter, "during_build"));
    const served = await readBloom(kv);
    assert.equal(served.generation.id, meta.current.id);
    assert.ok(
      has(createFilter(served.generation, served.bytes), "during_build"),
    );
    // A build that stalled is taken over, and the new one holds everything.
    await kv.set(keys.bloomCount(), new Deno.KvU64(5000n));
    await growBloom(kv, next.startedAt + 10 * 60_000);
    const after = await readBloom(kv);
    assert.equal(after.generation.capacity, 8192);
    assert.notEqual(after.generation.id, next.id);
    const f = createFilter(after.generation, after.bytes);
    assert.ok(has(f, "first_one") && has(f, "during_build"));
    const left = new Set<string>();
    for await (const e of kv.list({ prefix: ["bloom"] })) {
      left.add(e.key[1] as string);
    }
    assert.deepEqual([...left], [after.generation.id], "old chunks deleted");
  }));

Deno.test("bloom store: parallel claims across growth keep every handle", () =>
  withKv(async (kv) => {
    const first = [...handles(6, 1000)];
    for (const [i, h] of first.entries()) {
      assert.ok((await claimHandle(kv, h, `a${i}`)).ok);
    }
    const more = [...handles(7, 100, new Set(first))];
    const results = await Promise.all(
      more.map((h, i) => claimHandle(kv, h, `b${i}`)),
    );
    assert.ok(results.every((r) => r.ok));
    const served = await readBloom(kv);
    assert.equal(served.count, 1100);
    assert.equal(served.generation.capacity, 2048);
    const f = createFilter(served.generation, served.bytes);
    for (const h of [...first, ...more]) assert.ok(has(f, h), h);
  }));
