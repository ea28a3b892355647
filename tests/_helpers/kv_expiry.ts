/**
 * Reads a Deno KV SQLite file directly to find the keys that never expire
 * (the KV API does not show a key's expiry). Decodes the key parts Reach
 * uses: strings, byte arrays, numbers, bigints and booleans.
 */
import { DatabaseSync } from "node:sqlite";

export type KeyPart = string | number | bigint | boolean | Uint8Array;

function decodeKey(b: Uint8Array): KeyPart[] {
  const out: KeyPart[] = [];
  let i = 0;
  const readEscaped = () => {
    const bytes: number[] = [];
    while (i < b.length) {
      if (b[i] === 0x00) {
        if (b[i + 1] === 0xff) {
          bytes.push(0);
          i += 2;
          continue;
        }
        i++;
        break;
      }
      bytes.push(b[i++]);
    }
    return new Uint8Array(bytes);
  };
  while (i < b.length) {
    const tag = b[i++];
    if (tag === 0x01) out.push(readEscaped());
    else if (tag === 0x02) out.push(new TextDecoder().decode(readEscaped()));
    else if (tag === 0x21) {
      const raw = b.slice(i, i + 8);
      i += 8;
      // Order-preserving double: flip back the bits that were flipped.
      if (raw[0] & 0x80) raw[0] ^= 0x80;
      else for (let k = 0; k < 8; k++) raw[k] ^= 0xff;
      out.push(new DataView(raw.buffer).getFloat64(0));
    } else if (tag === 0x26) out.push(false);
    else if (tag === 0x27) out.push(true);
    else if (tag >= 0x0b && tag <= 0x1d) {
      // Integers (bigint): tag 0x14 is zero, 0x14+n positive n bytes.
      const n = Math.abs(tag - 0x14);
      let v = 0n;
      for (let k = 0; k < n; k++) v = (v << 8n) | BigInt(b[i + k]);
      i += n;
      out.push(tag >= 0x14 ? v : -v);
    } else {
      out.push(`<tag ${tag}>`);
      break;
    }
  }
  return out;
}

/** Every key in the KV file at `path` that has no expiry. */
export function keysWithoutExpiry(path: string): KeyPart[][] {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const rows = db.prepare("select k from kv where expiration_ms < 0").all();
    return rows.map((r) => decodeKey(r.k as Uint8Array));
  } finally {
    db.close();
  }
}

/** Every key in the KV file with its expiry (ms since the epoch, or -1). */
export function keysWithExpiry(
  path: string,
): { key: KeyPart[]; expiresAt: number }[] {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return db.prepare("select k, expiration_ms from kv").all().map((r) => ({
      key: decodeKey(r.k as Uint8Array),
      expiresAt: Number(r.expiration_ms),
    }));
  } finally {
    db.close();
  }
}
