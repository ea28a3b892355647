/**
 * Voicemail inbox keys: each browser of a handle registers the public half of
 * its X25519 key pair so callers can seal voicemails to it. At most
 * MAX_INBOX_KEYS per handle; the cap holds under concurrent adds because every
 * add and remove rewrites a per-handle marker the add's atomic checks.
 */
import { keys } from "./keys.ts";

export const MAX_INBOX_KEYS = 10;

export interface InboxKeyRecord {
  /** Raw 32-byte X25519 public key, standard base64. */
  publicKey: string;
  createdAt: number;
}

export interface InboxKey {
  keyId: string;
  publicKey: string;
}

export type AddInboxKeyResult =
  | { ok: true; created: boolean }
  | { ok: false; code: "too_many_keys" | "key_id_taken" };

export async function addInboxKey(
  kv: Deno.Kv,
  handle: string,
  keyId: string,
  publicKey: string,
  now = Date.now(),
): Promise<AddInboxKeyResult> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const rev = await kv.get(keys.inboxKeyRev(handle));
    const existing = await kv.get<InboxKeyRecord>(keys.inboxKey(handle, keyId));
    if (existing.value) {
      return existing.value.publicKey === publicKey
        ? { ok: true, created: false }
        : { ok: false, code: "key_id_taken" };
    }
    let count = 0;
    for await (const _ of kv.list({ prefix: keys.inboxKeyPrefix(handle) })) {
      count++;
    }
    if (count >= MAX_INBOX_KEYS) return { ok: false, code: "too_many_keys" };
    const rec: InboxKeyRecord = { publicKey, createdAt: now };
    const res = await kv.atomic()
      .check(rev)
      .check(existing)
      .set(keys.inboxKey(handle, keyId), rec)
      .set(keys.inboxKeyRev(handle), crypto.randomUUID())
      .commit();
    if (res.ok) return { ok: true, created: true };
  }
  throw new Error("inbox key add kept conflicting");
}

/** Removes a key; true when it existed. */
export async function removeInboxKey(
  kv: Deno.Kv,
  handle: string,
  keyId: string,
): Promise<boolean> {
  const existing = await kv.get(keys.inboxKey(handle, keyId));
  if (!existing.value) return false;
  await kv.atomic()
    .delete(keys.inboxKey(handle, keyId))
    .set(keys.inboxKeyRev(handle), crypto.randomUUID())
    .commit();
  return true;
}

/** The handle's inbox keys, oldest first. */
export async function listInboxKeys(
  kv: Deno.Kv,
  handle: string,
): Promise<InboxKey[]> {
  const out: (InboxKey & { createdAt: number })[] = [];
  for await (
    const e of kv.list<InboxKeyRecord>({ prefix: keys.inboxKeyPrefix(handle) })
  ) {
    out.push({
      keyId: String(e.key[2]),
      publicKey: e.value.publicKey,
      createdAt: e.value.createdAt,
    });
  }
  out.sort((a, b) => a.createdAt - b.createdAt);
  return out.map(({ keyId, publicKey }) => ({ keyId, publicKey }));
}

export async function hasInboxKeys(
  kv: Deno.Kv,
  handle: string,
): Promise<boolean> {
  for await (
    const _ of kv.list({ prefix: keys.inboxKeyPrefix(handle) }, { limit: 1 })
  ) {
    return true;
  }
  return false;
}
