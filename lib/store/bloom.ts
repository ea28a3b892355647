/**
 * The Bloom filter of every claimed handle (lib/bloom.ts), kept current in
 * Deno KV and never rebuilt per request.
 *
 * KV layout (lib/store/keys.ts):
 * - `["bloom_meta"]` → {@link BloomMeta}: the generation served (`current`)
 *   and, while the filter grows, the one being built (`next`).
 * - `["bloom", generation, block]` → Uint8Array: one block of a generation's
 *   bits (at most 8 KiB). A generation id is random, so racing builders
 *   never write each other's chunks.
 * - `["bloom_count"]` → KvU64: how many handles the filter holds.
 *
 * A claim only sums the count in its own atomic (a `sum` never conflicts).
 * Its bits are set just after it commits, by {@link addToBloom}, in an atomic
 * of their own, before the claim answers. The filter lags the claim by that
 * moment, which a filter of discovery hints may; it never stays behind. The
 * bits must not go in the claim's atomic: with one chunk per few thousand
 * handles, parallel claims of different handles would all conflict on it.
 * Instead each isolate writes the bits of every handle claimed meanwhile in
 * one atomic (a group commit), which reads the chunks the handles map to (per
 * live generation), checks their versionstamps and the meta's, writes them
 * back with the bits set, and retries on a conflict with whatever has queued
 * up since. Claims in one isolate never conflict with each other on the
 * filter, and isolates at most one atomic each at a time. A write that keeps
 * failing is not lost: its handles stay queued for the isolate's next write,
 * and any growth rescans every handle.
 *
 * Growth: when the count passes the current capacity (1% false positives at
 * most), {@link growBloom} doubles the capacity into a new generation. It first
 * records it as `next`, so every bit write from then on goes into both
 * generations (a write that read the meta before fails its check and reads it
 * again); then it scans the handles (which sees every claim before that),
 * ORs them into the new chunks, and switches `current` in one atomic. Old
 * chunks are deleted after. A builder that dies is taken over after
 * {@link STALE_BUILD_MS}.
 */
import {
  add as addToFilter,
  blockBytes,
  BLOOM_SCHEME,
  type BloomParams,
  createFilter,
  locate,
  paramsFor,
  setBits,
} from "../bloom.ts";
import { log } from "../log.ts";
import { keys } from "./keys.ts";

export interface BloomGeneration extends BloomParams {
  id: string;
  scheme: string;
  /** Elements this generation holds at 1% false positives or fewer. */
  capacity: number;
}

export interface BloomMeta {
  current: BloomGeneration;
  next: (BloomGeneration & { startedAt: number }) | null;
}

export const MIN_CAPACITY = 1024;
export const STALE_BUILD_MS = 2 * 60_000;

/** The smallest capacity, doubling from {@link MIN_CAPACITY}, that holds `count`. */
export function capacityFor(count: number): number {
  let c = MIN_CAPACITY;
  while (c < count) c *= 2;
  return c;
}

export function newGeneration(capacity: number): BloomGeneration {
  return {
    id: crypto.randomUUID(),
    scheme: BLOOM_SCHEME,
    capacity,
    ...paramsFor(capacity),
  };
}

function countOf(entry: Deno.KvEntryMaybe<Deno.KvU64>): number {
  return entry.value ? Number(entry.value.value) : 0;
}

function needsRebuild(meta: BloomMeta, count: number): boolean {
  return count > meta.current.capacity || meta.current.scheme !== BLOOM_SCHEME;
}

function building(meta: BloomMeta, now: number): boolean {
  return meta.next !== null && now - meta.next.startedAt < STALE_BUILD_MS;
}

/** Most distinct chunks one bit write touches (KV allows 100 checks an atomic). */
const MAX_CHUNKS_PER_WRITE = 32;
/** Attempts of one bit write before its handles wait for the next one. */
const MAX_WRITE_ATTEMPTS = 100;

interface Waiter {
  handle: string;
  /** The claim's clock (tests pass their own), for the growth check. */
  now: number;
  /** The claim waiting for these bits; null once told (they may still be queued). */
  done: { resolve: () => void; reject: (e: Error) => void } | null;
}

interface Queue {
  waiting: Waiter[];
  writing: boolean;
}

/** Each KV's handles whose bits are not written yet, in this isolate. */
const queues = new WeakMap<Deno.Kv, Queue>();

/**
 * Sets `handle`'s bits in the filter (making the filter if there is none,
 * growing it if it is full); call it after the claim committed. Resolves once
 * the bits are written, together with those of every handle claimed
 * meanwhile in this isolate. Rejects if the write kept conflicting; the
 * handle then stays queued and goes in with this isolate's next write.
 */
export function addToBloom(
  kv: Deno.Kv,
  handle: string,
  now = Date.now(),
): Promise<void> {
  let queue = queues.get(kv);
  if (!queue) queues.set(kv, queue = { waiting: [], writing: false });
  const { promise, resolve, reject } = Promise.withResolvers<void>();
  queue.waiting.push({ handle, now, done: { resolve, reject } });
  if (!queue.writing) {
    queue.writing = true;
    void writeQueued(kv, queue);
  }
  return promise;
}

/** Writes queued bits until no claim waits (one writer per KV and isolate). */
async function writeQueued(kv: Deno.Kv, queue: Queue): Promise<void> {
  try {
    while (queue.waiting.some((w) => w.done)) {
      const written = await writeSome(kv, queue.waiting);
      for (const w of written) {
        queue.waiting.splice(queue.waiting.indexOf(w), 1);
      }
      await growIfFull(kv, Math.max(...written.map((w) => w.now)));
      for (const w of written) w.done?.resolve();
    }
  } catch (e) {
    // The claims stand; their handles stay queued for the next write.
    log("bloom.add_failed", { reason: (e as Error).message });
    for (const w of queue.waiting) {
      w.done?.reject(e as Error);
      w.done = null;
    }
  } finally {
    queue.writing = false;
  }
}

/**
 * One atomic that sets the bits of as many queued handles as fit; on a
 * conflict it reads again, taking in handles queued since. Returns the
 * handles it wrote.
 */
async function writeSome(kv: Deno.Kv, waiting: Waiter[]): Promise<Waiter[]> {
  for (let attempt = 1;; attempt++) {
    const meta = await kv.get<BloomMeta>(keys.bloomMeta());
    if (!meta.value) {
      // No filter yet: making it scans every claimed handle, queued ones too.
      await ensureBloom(kv);
      continue;
    }
    const gens = [meta.value.current, meta.value.next]
      .filter((g) => g !== null);
    // The handles to write, and the chunks they touch (by generation, block).
    const batch: Waiter[] = [];
    const chunks = new Map<
      string,
      { key: Deno.KvKey; gen: BloomGeneration; offsets: number[][] }
    >();
    for (const w of waiting) {
      const where = gens.map((gen) => ({ gen, ...locate(gen, w.handle) }));
      const id = (p: (typeof where)[number]) => `${p.gen.id}/${p.block}`;
      const added = where.filter((p) => !chunks.has(id(p))).length;
      if (batch.length && chunks.size + added > MAX_CHUNKS_PER_WRITE) break;
      batch.push(w);
      for (const p of where) {
        const c = chunks.get(id(p)) ?? {
          key: keys.bloomChunk(p.gen.id, p.block),
          gen: p.gen,
          offsets: [],
        };
        c.offsets.push(p.offsets);
        chunks.set(id(p), c);
      }
    }
    const list = [...chunks.values()];
    const entries: Deno.KvEntryMaybe<Uint8Array>[] = [];
    for (let i = 0; i < list.length; i += 10) {
      const some = list.slice(i, i + 10).map((c) => c.key);
      entries.push(...await kv.getMany<Uint8Array[]>(some));
    }
    const op = kv.atomic().check(meta);
    for (const [i, c] of list.entries()) {
      const bytes = entries[i].value?.slice() ??
        new Uint8Array(blockBytes(c.gen));
      for (const offsets of c.offsets) setBits(bytes, offsets);
      op.check(entries[i]).set(c.key, bytes);
    }
    if ((await op.commit()).ok) return batch;
    if (attempt >= MAX_WRITE_ATTEMPTS) {
      throw new Error("handle filter write kept conflicting");
    }
    // Another isolate wrote a chunk, or the meta changed: back off, read again.
    await new Promise((r) =>
      setTimeout(r, Math.random() * Math.min(attempt, 10) * 2)
    );
  }
}

/** Grows the filter if the count has passed its capacity and nobody is at it. */
async function growIfFull(kv: Deno.Kv, now: number): Promise<void> {
  try {
    const [meta, count] = await kv.getMany<[BloomMeta, Deno.KvU64]>([
      keys.bloomMeta(),
      keys.bloomCount(),
    ]);
    if (!meta.value) return;
    if (
      needsRebuild(meta.value, countOf(count)) && !building(meta.value, now)
    ) {
      await growBloom(kv, now);
    }
  } catch (e) {
    // The claims stand, the filter holds their handles, and the next write
    // tries the growth again.
    log("bloom.rebuild_failed", { reason: (e as Error).message });
  }
}

async function scanHandles(kv: Deno.Kv): Promise<string[]> {
  const out: string[] = [];
  for await (const e of kv.list({ prefix: keys.handle("").slice(0, 1) })) {
    out.push(e.key[1] as string);
  }
  return out;
}

/** Writes a whole generation's chunks, ORed into what is already there. */
async function mergeChunks(
  kv: Deno.Kv,
  gen: BloomGeneration,
  handles: string[],
): Promise<void> {
  const filter = createFilter(gen);
  for (const h of handles) addToFilter(filter, h);
  const size = blockBytes(gen);
  for (let b = 0; b < gen.blocks; b++) {
    const built = filter.bytes.subarray(b * size, (b + 1) * size);
    for (let attempt = 1;; attempt++) {
      const entry = await kv.get<Uint8Array>(keys.bloomChunk(gen.id, b));
      const bytes = entry.value?.slice() ?? new Uint8Array(size);
      for (let i = 0; i < size; i++) bytes[i] |= built[i];
      const res = await kv.atomic().check(entry).set(entry.key, bytes)
        .commit();
      if (res.ok) break;
      if (attempt >= 100) throw new Error("handle filter chunk kept changing");
    }
  }
}

async function deleteGeneration(kv: Deno.Kv, id: string): Promise<void> {
  for await (const e of kv.list({ prefix: keys.bloomGeneration(id) })) {
    await kv.delete(e.key);
  }
}

/**
 * Makes the first filter (a KV with handles from before the filter, or none)
 * and returns the meta. Claims made meanwhile bump the count, which makes
 * the final atomic fail, and the scan runs again.
 */
export async function ensureBloom(kv: Deno.Kv): Promise<BloomMeta> {
  for (let attempt = 1;; attempt++) {
    const [meta, count] = await kv.getMany<[BloomMeta, Deno.KvU64]>([
      keys.bloomMeta(),
      keys.bloomCount(),
    ]);
    if (meta.value) return meta.value;
    const handles = await scanHandles(kv);
    const gen = newGeneration(capacityFor(handles.length));
    await mergeChunks(kv, gen, handles);
    const next: BloomMeta = { current: gen, next: null };
    const res = await kv.atomic()
      .check(meta)
      .check(count)
      .set(keys.bloomMeta(), next)
      .set(keys.bloomCount(), new Deno.KvU64(BigInt(handles.length)))
      .commit();
    if (res.ok) return next;
    await deleteGeneration(kv, gen.id);
    if (attempt >= 20) throw new Error("could not make the handle filter");
  }
}

/**
 * Rebuilds into a new generation with the capacity doubled until it holds
 * the count, if the count has passed the current capacity, and nobody else is
 * doing it already.
 */
export async function growBloom(kv: Deno.Kv, now = Date.now()): Promise<void> {
  let gen: BloomGeneration & { startedAt: number };
  let stale: string | null = null;
  for (;;) {
    const [meta, count] = await kv.getMany<[BloomMeta, Deno.KvU64]>([
      keys.bloomMeta(),
      keys.bloomCount(),
    ]);
    if (!meta.value) {
      await ensureBloom(kv);
      continue;
    }
    const n = countOf(count);
    if (!needsRebuild(meta.value, n) || building(meta.value, now)) return;
    stale = meta.value.next?.id ?? null;
    gen = { ...newGeneration(capacityFor(n)), startedAt: now };
    const res = await kv.atomic().check(meta)
      .set(keys.bloomMeta(), { current: meta.value.current, next: gen })
      .commit();
    if (res.ok) break;
  }
  if (stale) await deleteGeneration(kv, stale);
  // From here every claim also writes into `gen`; the scan sees all before.
  await mergeChunks(kv, gen, await scanHandles(kv));
  for (;;) {
    const meta = await kv.get<BloomMeta>(keys.bloomMeta());
    if (meta.value?.next?.id !== gen.id) {
      // Taken over as stale: this build is someone else's to finish.
      return;
    }
    const old = meta.value.current.id;
    const { startedAt: _, ...current } = gen;
    const res = await kv.atomic().check(meta)
      .set(keys.bloomMeta(), { current, next: null })
      .commit();
    if (res.ok) {
      await deleteGeneration(kv, old);
      return;
    }
  }
}

/** The filter as served: its generation, count, bytes and an ETag. */
export interface ServedBloom {
  generation: BloomGeneration;
  count: number;
  bytes: Uint8Array;
  etag: string;
}

/** Reads the current generation's chunks (making the filter if there is none). */
export async function readBloom(kv: Deno.Kv): Promise<ServedBloom> {
  for (let attempt = 1;; attempt++) {
    const [meta, count] = await kv.getMany<[BloomMeta, Deno.KvU64]>([
      keys.bloomMeta(),
      keys.bloomCount(),
    ]);
    if (!meta.value) {
      await ensureBloom(kv);
      continue;
    }
    const gen = meta.value.current;
    const size = blockBytes(gen);
    const bytes = new Uint8Array(gen.bits / 8);
    const stamps = [gen.id, count.versionstamp ?? "-"];
    let complete = true;
    for (let b = 0; b < gen.blocks && complete; b += 10) {
      const ks = [];
      for (let i = b; i < Math.min(b + 10, gen.blocks); i++) {
        ks.push(keys.bloomChunk(gen.id, i));
      }
      for (const e of await kv.getMany<Uint8Array[]>(ks)) {
        if (!e.value || e.value.length !== size) complete = false;
        else bytes.set(e.value, (e.key[2] as number) * size);
        stamps.push(e.versionstamp ?? "-");
      }
    }
    // A missing chunk: the generation was just replaced. Read the new one.
    if (!complete) {
      if (attempt >= 10) throw new Error("handle filter chunks are missing");
      continue;
    }
    const digest = await crypto.subtle.digest(
      "SHA-256",
      new TextEncoder().encode(stamps.join(",")),
    );
    const etag = `"${new Uint8Array(digest).subarray(0, 16).toHex()}"`;
    return { generation: gen, count: countOf(count), bytes, etag };
  }
}
