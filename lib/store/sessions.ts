/** Sessions: random 256-bit ids in KV with an expiry. */
import { keys } from "./keys.ts";

export interface Session {
  publicKey: string;
  createdAt: number;
  expiresAt: number;
}

export async function createSession(
  kv: Deno.Kv,
  publicKey: string,
  ttlMs: number,
  now = Date.now(),
): Promise<{ id: string; session: Session }> {
  const id = crypto.getRandomValues(new Uint8Array(32)).toHex();
  const session: Session = {
    publicKey,
    createdAt: now,
    expiresAt: now + ttlMs,
  };
  await kv.set(keys.session(id), session, { expireIn: ttlMs });
  return { id, session };
}

const ID = /^[0-9a-f]{64}$/;

export async function getSession(
  kv: Deno.Kv,
  id: string,
  now = Date.now(),
): Promise<Session | null> {
  if (!ID.test(id)) return null;
  const { value } = await kv.get<Session>(keys.session(id));
  // KV expiry is lazy; the record's own expiry is authoritative.
  return value && value.expiresAt > now ? value : null;
}

export async function deleteSession(kv: Deno.Kv, id: string): Promise<void> {
  if (ID.test(id)) await kv.delete(keys.session(id));
}
