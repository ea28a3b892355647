/**
 * A Bloom filter of handles: the pure data structure, shared by the server
 * (lib/store/bloom.ts keeps one in Deno KV and serves it at `GET
 * /handles/bloom`) and the browser (lib/client/handle_taken.ts tests
 * membership locally). No Deno APIs; the same inserts give the same bytes
 * everywhere.
 *
 * ## Scheme `fnv1a32-double-blocked-v1`
 *
 * Parameters: `m` bits (`X-Bloom-Bits`), `k` hashes (`X-Bloom-Hashes`) and `B`
 * blocks (`X-Bloom-Blocks`). `m` is a multiple of `8·B`; each block holds
 * `s = m / B` bits and is stored as its own KV chunk, so adding an element
 * rewrites one chunk. For an element (a case-folded handle):
 *
 * 1. `bytes` = the UTF-8 encoding of the handle.
 * 2. `a` = FNV-1a-32 of `bytes` with offset basis `0x811c9dc5`; `b` = FNV-1a-32
 *    of `bytes` with offset basis `0x9e3779b9`. FNV-1a-32: `h = basis`; for
 *    each byte `h = ((h XOR byte) × 0x01000193) mod 2^32`.
 * 3. `h1 = fmix32(a)`, `h2 = fmix32(b)`, where fmix32 is MurmurHash3's
 *    finalizer on unsigned 32-bit values: `h ^= h >>> 16; h = (h ×
 *    0x85ebca6b) mod 2^32; h ^= h >>> 13; h = (h × 0xc2b2ae35) mod 2^32; h ^= h
 *    >>> 16`.
 * 4. Block `j = floor(h1 × B / 2^32)`.
 * 5. For `i = 0 … k−1`: bit `j·s + ((h1 + i·h2) mod s)`, computed in exact
 *    integer arithmetic (the sum is below 2^37: use 64-bit integers, or
 *    JavaScript numbers as here).
 * 6. Bit `n` is byte `n >> 3`, mask `1 << (n & 7)` (least significant bit
 *    first). The serialized filter is those `m / 8` bytes, nothing else.
 *
 * An element is "maybe present" when all its `k` bits are set, and certainly
 * absent otherwise.
 *
 * ## Sizing
 *
 * A filter is made for a capacity `n`: `k = 7`, and `10·n` bits rounded up to
 * whole blocks of at most 8 KiB (65 536 bits) each a multiple of 8 bits. At
 * its capacity the false-positive rate is `(1 − e^(−7/10))^7 ≈ 0.82%`; below
 * it, less. (Blocks of 8 KiB hold thousands of elements each, so blocking
 * costs a negligible amount over a classic filter.)
 */

export const BLOOM_SCHEME = "fnv1a32-double-blocked-v1";
export const BLOOM_HASHES = 7;
export const BITS_PER_ELEMENT = 10;
/** Largest block: 8 KiB, one KV value (KV allows 64 KiB). */
export const MAX_BLOCK_BITS = 8 * 1024 * 8;

export interface BloomParams {
  /** Total bits `m`; a multiple of 8 × blocks. */
  bits: number;
  /** Hash count `k`. */
  hashes: number;
  /** Block count `B`; each block is `bits / blocks` bits. */
  blocks: number;
}

export interface BloomFilter {
  params: BloomParams;
  /** `bits / 8` bytes, block after block. */
  bytes: Uint8Array;
}

/** Parameters for at most 1% false positives with up to `capacity` elements. */
export function paramsFor(capacity: number): BloomParams {
  const target = Math.max(8, Math.ceil(capacity * BITS_PER_ELEMENT));
  const blocks = Math.ceil(target / MAX_BLOCK_BITS);
  const blockBits = Math.ceil(target / blocks / 8) * 8;
  return { bits: blocks * blockBits, hashes: BLOOM_HASHES, blocks };
}

/** Bytes in one block. */
export function blockBytes(p: BloomParams): number {
  return p.bits / p.blocks / 8;
}

/** Throws unless `p` describes a filter this module can read. */
export function checkParams(p: BloomParams): BloomParams {
  const ok = [p.bits, p.hashes, p.blocks].every(Number.isSafeInteger) &&
    p.blocks >= 1 && p.hashes >= 1 && p.hashes <= 64 && p.bits > 0 &&
    p.bits % (8 * p.blocks) === 0 && p.bits / p.blocks <= 2 ** 32;
  if (!ok) throw new Error(`bad Bloom parameters ${JSON.stringify(p)}`);
  return p;
}

export function createFilter(
  params: BloomParams,
  bytes?: Uint8Array,
): BloomFilter {
  checkParams(params);
  if (bytes && bytes.length !== params.bits / 8) {
    throw new Error(`a ${params.bits}-bit filter is ${params.bits / 8} bytes`);
  }
  return { params, bytes: bytes ?? new Uint8Array(params.bits / 8) };
}

const encoder = new TextEncoder();

function fnv1a32(bytes: Uint8Array, basis: number): number {
  let h = basis;
  for (const c of bytes) h = Math.imul(h ^ c, 0x01000193);
  return h >>> 0;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Where `element` lives: its block, and its k bit offsets inside that block. */
export function locate(
  params: BloomParams,
  element: string,
): { block: number; offsets: number[] } {
  const bytes = encoder.encode(element);
  const h1 = fmix32(fnv1a32(bytes, 0x811c9dc5));
  const h2 = fmix32(fnv1a32(bytes, 0x9e3779b9));
  const s = params.bits / params.blocks;
  const block = Math.floor(h1 * params.blocks / 2 ** 32);
  const offsets: number[] = [];
  for (let i = 0; i < params.hashes; i++) offsets.push((h1 + i * h2) % s);
  return { block, offsets };
}

/** Sets `offsets` in one block's bytes (in place). */
export function setBits(block: Uint8Array, offsets: number[]): void {
  for (const n of offsets) block[n >> 3] |= 1 << (n & 7);
}

export function add(filter: BloomFilter, element: string): void {
  const { block, offsets } = locate(filter.params, element);
  const size = blockBytes(filter.params);
  setBits(filter.bytes.subarray(block * size, (block + 1) * size), offsets);
}

/** False: certainly absent. True: present, or a false positive. */
export function has(filter: BloomFilter, element: string): boolean {
  const { block, offsets } = locate(filter.params, element);
  const base = block * blockBytes(filter.params);
  return offsets.every((n) =>
    (filter.bytes[base + (n >> 3)] & (1 << (n & 7))) !== 0
  );
}

/** The wire form: the bit array itself (parameters travel in headers). */
export function serialize(filter: BloomFilter): Uint8Array {
  return filter.bytes.slice();
}

export function deserialize(
  params: BloomParams,
  bytes: Uint8Array,
): BloomFilter {
  return createFilter(params, bytes.slice());
}

/** Theoretical false-positive rate with `count` elements. */
export function expectedFpr(params: BloomParams, count: number): number {
  return (1 - Math.exp(-params.hashes * count / params.bits)) ** params.hashes;
}

/** The documented response headers of `GET /handles/bloom`. */
export function bloomHeaders(
  params: BloomParams,
  count: number,
  capacity: number,
): Record<string, string> {
  return {
    "x-bloom-scheme": BLOOM_SCHEME,
    "x-bloom-bits": String(params.bits),
    "x-bloom-hashes": String(params.hashes),
    "x-bloom-blocks": String(params.blocks),
    "x-bloom-count": String(count),
    "x-bloom-capacity": String(capacity),
  };
}

/** Reads the parameters back from those headers; null if not this scheme. */
export function paramsFromHeaders(headers: Headers): BloomParams | null {
  if (headers.get("x-bloom-scheme") !== BLOOM_SCHEME) return null;
  const p = {
    bits: Number(headers.get("x-bloom-bits")),
    hashes: Number(headers.get("x-bloom-hashes")),
    blocks: Number(headers.get("x-bloom-blocks")),
  };
  try {
    return checkParams(p);
  } catch {
    return null;
  }
}
