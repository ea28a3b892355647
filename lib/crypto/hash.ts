/**
 * Keyed hashes (HMAC-SHA-256) for identifiers the server must match but need
 * not know: callers and callees in the call log. Domain-separated by label.
 */
const keys = new Map<Uint8Array, Promise<CryptoKey>>();

function importKey(raw: Uint8Array): Promise<CryptoKey> {
  let k = keys.get(raw);
  if (!k) {
    k = crypto.subtle.importKey(
      "raw",
      raw as BufferSource,
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    keys.set(raw, k);
  }
  return k;
}

export async function hmacHex(key: Uint8Array, label: string, value: string) {
  const mac = await crypto.subtle.sign(
    "HMAC",
    await importKey(key),
    new TextEncoder().encode(`${label}\u0000${value}`),
  );
  return new Uint8Array(mac).toHex();
}

/** SHA-256 hex, for storing bearer tokens (resume tokens) without the token. */
export async function sha256Hex(value: string): Promise<string> {
  const d = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(value),
  );
  return new Uint8Array(d).toHex();
}

export function randomHex(bytes = 32): string {
  return crypto.getRandomValues(new Uint8Array(bytes)).toHex();
}
