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
 * A claim sets the handle's bits in the same atomic as the claim
 * ({@link planBloomAdd} + {@link addBloomToAtomic}): it reads the one chunk the
 * handle maps to (per live generation), checks its versionstamp and the
 * meta's, writes it back with the bits set, and sums the count. Two claims
 * that hit one chunk at once conflict; the loser tries again.
 *
 * Growth: when the count passes the current capacity (1% false positives at
 * most), {@link growBloom} doubles the capacity into a new generation. It first
 * records it as `next`, so every claim from then on writes its bits into both
 * generations; then it scans the handles (which sees every claim before that),
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

/** What one claim must write to keep the filter current. */
export interface BloomPlan {
  meta: Deno.KvEntryMaybe<BloomMeta>;
  count: number;
  chunks: { entry: Deno.KvEntryMaybe<Uint8Array>; bytes: Uint8Array }[];
}

export async function planBloomAdd(
  kv: Deno.Kv,
  handle: string,
): Promise<BloomPlan> {
  const [meta, count] = await kv.getMany<[BloomMeta, Deno.KvU64]>([
    keys.bloomMeta(),
    keys.bloomCount(),
  ]);
  const gens = meta.value
    ? [meta.value.current, meta.value.next].filter((g) => g !== null)
    : [];
  const where = gens.map((g) => locate(g, handle));
  const entries = gens.length
    ? await kv.getMany<Uint8Array[]>(
      gens.map((g, i) => keys.bloomChunk(g.id, where[i].block)),
    )
    : [];
  const chunks = entries.map((entry, i) => {
    const bytes = entry.value?.slice() ?? new Uint8Array(blockBytes(gens[i]));
    setBits(bytes, where[i].offsets);
    return { entry, bytes };
  });
  return { meta, count: countOf(count), chunks };
}

/** Adds the plan's checks and writes to a claim's atomic. */
export function addBloomToAtomic(
  op: Deno.AtomicOperation,
  plan: BloomPlan,
): Deno.AtomicOperation {
  op.check(plan.meta).sum(keys.bloomCount(), 1n);
  for (const c of plan.chunks) op.check(c.entry).set(c.entry.key, c.bytes);
  return op;
}

/** After a committed claim: make the filter if there is none, grow it if full. */
export async function afterBloomAdd(
  kv: Deno.Kv,
  plan: BloomPlan,
  now = Date.now(),
): Promise<void> {
  const meta = plan.meta.value;
  try {
    if (!meta) await ensureBloom(kv);
    else if (needsRebuild(meta, plan.count + 1) && !building(meta, now)) {
      await growBloom(kv, now);
    }
  } catch (e) {
    // The claim stands; the filter still holds the handle (or is made on the
    // next read), and the next claim tries the growth again.
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
