/** Presence: which devices of a handle are online (written by signaling). */
import { keys } from "./keys.ts";

export interface PresenceRecord {
  expiresAt: number;
}

export async function isOnline(
  kv: Deno.Kv,
  handle: string,
  now = Date.now(),
): Promise<boolean> {
  const iter = kv.list<PresenceRecord>({
    prefix: keys.presencePrefix(handle),
  });
  for await (const entry of iter) {
    // KV deletes expired keys lazily; the record's own expiry decides.
    if (entry.value.expiresAt > now) return true;
  }
  return false;
}
