/**
 * The discovery directory's entries and chunks (lib/phone/DISCOVERY.md), in
 * the server and, loaded lazily, in the browser. WebCrypto only.
 *
 * An entry is made from a number's OPRF output `y` (64 bytes): a tag, the
 * first 8 bytes of HKDF-SHA-256(y, info "reach tag"), and the handle sealed
 * with AES-256-GCM under HKDF-SHA-256(y, info "reach seal") (32 bytes), the
 * tag as associated data. Whoever holds `y` can find the entry by its tag
 * and open it; nobody else can do either.
 */

export const TAG_BYTES = 8;
export const NONCE_BYTES = 12;
/** The handle, padded: a length byte, the handle (3-30 ASCII), zeros. */
export const PLAIN_BYTES = 32;
/** Nonce, then ciphertext with its 16-byte GCM tag. */
export const BOX_BYTES = NONCE_BYTES + PLAIN_BYTES + 16;
export const ENTRY_BYTES = TAG_BYTES + BOX_BYTES;
/** "RDR1": a chunk's first four bytes. */
export const MAGIC = Uint8Array.of(0x52, 0x44, 0x52, 0x31);
/** Entries a chunk holds before the directory splits into more chunks. */
export const CHUNK_TARGET = 8192;
/** At most 2^8 = 256 chunks, one per first byte of the tag. */
export const MAX_BITS = 8;

const TAG_INFO = new TextEncoder().encode("reach tag");
const SEAL_INFO = new TextEncoder().encode("reach seal");
const HANDLE = /^[a-z0-9_]{1,31}$/;

export interface SealedEntry {
  tag: Uint8Array;
  /** NONCE_BYTES of nonce, then the ciphertext and GCM tag. */
  box: Uint8Array;
}

/** How many chunks (as a power of two) a directory of `count` entries has. */
export function chunkBits(count: number): number {
  let bits = 0;
  while (bits < MAX_BITS && count > CHUNK_TARGET << bits) bits++;
  return bits;
}

/** The chunk a tag belongs to: its first byte's top `bits` bits. */
export function chunkOf(tag: Uint8Array, bits: number): number {
  return bits === 0 ? 0 : tag[0] >> (8 - bits);
}

/** The first bytes of tags a chunk holds: [from, to). */
export function chunkRange(bits: number, chunk: number): [number, number] {
  const width = 256 >> bits;
  return [chunk * width, (chunk + 1) * width];
}

async function hkdf(
  y: Uint8Array,
  info: Uint8Array,
  bytes: number,
): Promise<Uint8Array> {
  const ikm = await crypto.subtle.importKey(
    "raw",
    y as BufferSource,
    "HKDF",
    false,
    ["deriveBits"],
  );
  const bits = await crypto.subtle.deriveBits(
    {
      name: "HKDF",
      hash: "SHA-256",
      salt: new Uint8Array(0),
      info: info as BufferSource,
    },
    ikm,
    bytes * 8,
  );
  return new Uint8Array(bits);
}

function sealKey(y: Uint8Array, use: KeyUsage): Promise<CryptoKey> {
  return hkdf(y, SEAL_INFO, 32).then((raw) =>
    crypto.subtle.importKey("raw", raw as BufferSource, "AES-GCM", false, [
      use,
    ])
  );
}

/** The entry's tag for an output. */
export function tagOf(y: Uint8Array): Promise<Uint8Array> {
  return hkdf(y, TAG_INFO, TAG_BYTES);
}

/** The directory entry of `handle` for the number whose output is `y`. */
export async function sealEntry(
  y: Uint8Array,
  handle: string,
): Promise<SealedEntry> {
  if (!HANDLE.test(handle) || handle.length >= PLAIN_BYTES) {
    throw new TypeError("not a handle");
  }
  const plain = new Uint8Array(PLAIN_BYTES);
  plain[0] = handle.length;
  plain.set(new TextEncoder().encode(handle), 1);
  const tag = await tagOf(y);
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  const ct = await crypto.subtle.encrypt(
    {
      name: "AES-GCM",
      iv: nonce as BufferSource,
      additionalData: tag as BufferSource,
    },
    await sealKey(y, "encrypt"),
    plain as BufferSource,
  );
  const box = new Uint8Array(BOX_BYTES);
  box.set(nonce);
  box.set(new Uint8Array(ct), NONCE_BYTES);
  return { tag, box };
}

/** The handle an entry holds, or null when `y` does not open it. */
export async function openEntry(
  y: Uint8Array,
  entry: SealedEntry,
): Promise<string | null> {
  if (entry.box.length !== BOX_BYTES) return null;
  let plain: Uint8Array;
  try {
    plain = new Uint8Array(
      await crypto.subtle.decrypt(
        {
          name: "AES-GCM",
          iv: entry.box.subarray(0, NONCE_BYTES) as BufferSource,
          additionalData: entry.tag as BufferSource,
        },
        await sealKey(y, "decrypt"),
        entry.box.subarray(NONCE_BYTES) as BufferSource,
      ),
    );
  } catch {
    return null;
  }
  const n = plain[0];
  if (n < 1 || n >= PLAIN_BYTES || plain.subarray(1 + n).some((b) => b)) {
    return null;
  }
  const handle = new TextDecoder().decode(plain.subarray(1, 1 + n));
  return HANDLE.test(handle) ? handle : null;
}

// ------------------------------------------------------------ chunks

export interface Chunk {
  keyId: string;
  /** The directory has 2^bits chunks. */
  bits: number;
  chunk: number;
  /** `count` entries of ENTRY_BYTES, ascending by tag. */
  entries: Uint8Array;
  count: number;
}

function compare(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length && i < b.length; i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return a.length - b.length;
}

/** A chunk's bytes; `entries` must be sorted by tag (KV key order is). */
export function encodeChunk(
  c: { keyId: string; bits: number; chunk: number },
  entries: readonly SealedEntry[],
): Uint8Array {
  const id = new TextEncoder().encode(c.keyId);
  if (id.length < 1 || id.length > 32) throw new TypeError("bad key id");
  const head = MAGIC.length + 1 + id.length + 1 + 1 + 4;
  const out = new Uint8Array(head + entries.length * ENTRY_BYTES);
  const view = new DataView(out.buffer);
  let at = 0;
  out.set(MAGIC, at);
  at += MAGIC.length;
  out[at++] = id.length;
  out.set(id, at);
  at += id.length;
  out[at++] = c.bits;
  out[at++] = c.chunk;
  view.setUint32(at, entries.length);
  at += 4;
  for (const e of entries) {
    if (e.tag.length !== TAG_BYTES || e.box.length !== BOX_BYTES) {
      throw new TypeError("malformed entry");
    }
    out.set(e.tag, at);
    out.set(e.box, at + TAG_BYTES);
    at += ENTRY_BYTES;
  }
  return out;
}

/** A chunk's fields, or null when the bytes are not one. */
export function decodeChunk(bytes: Uint8Array): Chunk | null {
  if (bytes.length < MAGIC.length + 7) return null;
  if (MAGIC.some((b, i) => bytes[i] !== b)) return null;
  let at = MAGIC.length;
  const idLen = bytes[at++];
  if (idLen < 1 || idLen > 32 || bytes.length < at + idLen + 6) return null;
  const keyId = new TextDecoder().decode(bytes.subarray(at, at + idLen));
  at += idLen;
  const bits = bytes[at++];
  const chunk = bytes[at++];
  const count = new DataView(bytes.buffer, bytes.byteOffset).getUint32(at);
  at += 4;
  if (bits > MAX_BITS || chunk >= 1 << bits) return null;
  if (bytes.length !== at + count * ENTRY_BYTES) return null;
  const entries = bytes.subarray(at);
  // Sorted, and each tag in this chunk's range: what lookups rely on.
  for (let i = 0; i < count; i++) {
    const tag = entries.subarray(i * ENTRY_BYTES, i * ENTRY_BYTES + TAG_BYTES);
    if (chunkOf(tag, bits) !== chunk) return null;
    if (i > 0) {
      const prev = entries.subarray(
        (i - 1) * ENTRY_BYTES,
        (i - 1) * ENTRY_BYTES + TAG_BYTES,
      );
      if (compare(prev, tag) > 0) return null;
    }
  }
  return { keyId, bits, chunk, entries, count };
}

function entryAt(c: Chunk, i: number): SealedEntry {
  const at = i * ENTRY_BYTES;
  return {
    tag: c.entries.subarray(at, at + TAG_BYTES),
    box: c.entries.subarray(at + TAG_BYTES, at + ENTRY_BYTES),
  };
}

/** Every entry of the chunk with this tag (binary search; almost always 0 or 1). */
export function entriesWithTag(c: Chunk, tag: Uint8Array): SealedEntry[] {
  let lo = 0;
  let hi = c.count;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compare(entryAt(c, mid).tag, tag) < 0) lo = mid + 1;
    else hi = mid;
  }
  const out: SealedEntry[] = [];
  for (let i = lo; i < c.count; i++) {
    const e = entryAt(c, i);
    if (compare(e.tag, tag) !== 0) break;
    out.push(e);
  }
  return out;
}
