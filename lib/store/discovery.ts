/**
 * The contact-discovery directory in KV (lib/phone/DISCOVERY.md): one entry
 * per bound, findable number, under the discovery key that made it.
 *
 * KV layout (lib/store/keys.ts):
 * - `["discovery_entry", kid, tag, handle]` -> the sealed handle (nonce and
 *   AES-256-GCM ciphertext, lib/phone/directory.ts). The tag is a key part,
 *   so a range read returns a chunk's entries already sorted by tag.
 * - `["discovery_count", kid]` -> KvU64, entries under `kid`.
 * - `["discovery_rev", kid, byte]` -> KvU64, changes to entries whose tag
 *   starts with `byte`.
 *
 * Entries are only ever written by {@link replaceEntry}, inside the atomic
 * that writes their PhoneRecord (lib/store/phones.ts, lib/store/rotation.ts),
 * which keeps a pointer to its entry (`dir`). So a record is findable in the
 * directory exactly when its atomic said so, and the count and revisions,
 * summed in the same atomics (sums never conflict), move with the entries.
 */
import { chunkRange, type SealedEntry, sealEntry } from "../phone/directory.ts";
import {
  discoveryKey,
  type DiscoverySeed,
  oprfInput,
  voprf,
} from "../phone/oprf.ts";
import { keys } from "./keys.ts";

/** Where a record's directory entry is (kept in the PhoneRecord). */
export interface DirectoryPointer {
  kid: string;
  tag: Uint8Array;
}

/** An entry ready to be written under the key `kid`. */
export interface NewEntry extends SealedEntry {
  kid: string;
}

/** The OPRF output of a number under a discovery key (server side). */
export function outputFor(seed: DiscoverySeed, e164: string): Uint8Array {
  return voprf.evaluate(discoveryKey(seed).secretKey, oprfInput(e164));
}

/** The directory entry that lets people with `e164` find `handle`. */
export async function makeEntry(
  seed: DiscoverySeed,
  e164: string,
  handle: string,
): Promise<NewEntry> {
  return { kid: seed.kid, ...(await sealEntry(outputFor(seed, e164), handle)) };
}

const U64 = 1n << 64n;

function sameTag(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Adds to `op` the mutations that replace `handle`'s entry `from` (none when
 * undefined) by `to` (none when null), with their count and revision sums;
 * returns the pointer the record must keep. The caller's atomic checks the
 * record, so `from` is the entry that exists.
 */
export function replaceEntry(
  op: Deno.AtomicOperation,
  handle: string,
  from: DirectoryPointer | undefined,
  to: NewEntry | null,
): DirectoryPointer | undefined {
  const sums = new Map<string, { key: Deno.KvKey; n: bigint }>();
  const add = (key: Deno.KvKey, n: bigint) => {
    const id = JSON.stringify(key);
    const s = sums.get(id) ?? { key, n: 0n };
    s.n += n;
    sums.set(id, s);
  };
  if (from) {
    const overwritten = to && to.kid === from.kid && sameTag(to.tag, from.tag);
    if (!overwritten) {
      op.delete(keys.discoveryEntry(from.kid, from.tag, handle));
    }
    add(keys.discoveryCount(from.kid), -1n);
    add(keys.discoveryRev(from.kid, from.tag[0]), 1n);
  }
  if (to) {
    op.set(keys.discoveryEntry(to.kid, to.tag, handle), to.box);
    add(keys.discoveryCount(to.kid), 1n);
    add(keys.discoveryRev(to.kid, to.tag[0]), 1n);
  }
  for (const { key, n } of sums.values()) {
    // KvU64 sums wrap: adding 2^64 - 1 subtracts one.
    if (n !== 0n) op.sum(key, ((n % U64) + U64) % U64);
  }
  return to ? { kid: to.kid, tag: to.tag } : undefined;
}

/** How many entries the directory under `kid` holds. */
export async function entryCount(kv: Deno.Kv, kid: string): Promise<number> {
  const v = (await kv.get<Deno.KvU64>(keys.discoveryCount(kid))).value;
  return v ? Number(v.value) : 0;
}

/**
 * A number that changes whenever an entry of the chunk does: the sum of the
 * revisions of its first bytes (each only ever grows).
 */
export async function chunkRevision(
  kv: Deno.Kv,
  kid: string,
  bits: number,
  chunk: number,
): Promise<bigint> {
  const [from, to] = chunkRange(bits, chunk);
  let sum = 0n;
  for await (
    const e of kv.list<Deno.KvU64>({
      start: keys.discoveryRev(kid, from),
      end: keys.discoveryRev(kid, to),
    })
  ) {
    sum += e.value.value;
  }
  return sum;
}

/** A chunk's entries, sorted by tag (KV key order). */
export async function listChunk(
  kv: Deno.Kv,
  kid: string,
  bits: number,
  chunk: number,
): Promise<SealedEntry[]> {
  const [from, to] = chunkRange(bits, chunk);
  const prefix = keys.discoveryEntries(kid);
  const selector: Deno.KvListSelector = to >= 256
    ? from === 0 ? { prefix } : {
      prefix,
      start: keys.discoveryEntriesFrom(kid, from),
    }
    : {
      start: keys.discoveryEntriesFrom(kid, from),
      end: keys.discoveryEntriesFrom(kid, to),
    };
  const out: SealedEntry[] = [];
  for await (
    const e of kv.list<Uint8Array>(selector, { batchSize: 1000 })
  ) {
    out.push({ tag: e.key[2] as Uint8Array, box: e.value });
  }
  return out;
}
