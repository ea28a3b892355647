/** Single-use SIWS nonces with an expiry. */
import { keys } from "./keys.ts";

interface NonceRecord {
  expiresAt: number;
}

export function newNonce(): string {
  // 128 bits, alphanumeric (SIWS nonces must be at least 8 alphanumerics).
  return crypto.getRandomValues(new Uint8Array(16)).toHex();
}

export async function storeNonce(
  kv: Deno.Kv,
  nonce: string,
  ttlMs: number,
  now = Date.now(),
): Promise<void> {
  await kv.set(keys.nonce(nonce), { expiresAt: now + ttlMs } as NonceRecord, {
    expireIn: ttlMs,
  });
}

/**
 * Consumes a nonce atomically: true exactly once for a stored, unexpired
 * nonce; every later or parallel attempt gets false.
 */
export async function consumeNonce(
  kv: Deno.Kv,
  nonce: string,
  now = Date.now(),
): Promise<boolean> {
  const entry = await kv.get<NonceRecord>(keys.nonce(nonce));
  if (!entry.value) return false;
  const res = await kv.atomic().check(entry).delete(entry.key).commit();
  return res.ok && entry.value.expiresAt > now;
}
