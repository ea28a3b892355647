/**
 * Fixed-window rate limits shared by every isolate through KV: an atomic
 * counter per (scope, subject, window) that expires with its window.
 */
import { keys } from "./keys.ts";

export async function hitRate(
  kv: Deno.Kv,
  scope: string,
  subject: string,
  limit: number,
  windowMs: number,
  now = Date.now(),
): Promise<{ ok: boolean; retryAfterMs: number }> {
  const window = Math.floor(now / windowMs);
  const key = keys.rate(scope, subject, window);
  await kv.atomic().sum(key, 1n).commit();
  // sum() cannot set an expiry; re-set it with one when first seen.
  const entry = await kv.get<Deno.KvU64>(key);
  const count = Number(entry.value?.value ?? 0n);
  if (count === 1) {
    await kv.atomic().check(entry).set(key, entry.value!, {
      expireIn: windowMs * 2,
    }).commit();
  }
  return {
    ok: count <= limit,
    retryAfterMs: (window + 1) * windowMs - now,
  };
}
