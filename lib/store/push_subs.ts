/**
 * Web Push subscriptions ("Ring anywhere"): the browsers an owner asked to
 * be rung through their push service when no Reach tab is open.
 *
 * KV layout (lib/store/keys.ts):
 * - `["push_sub", handle, id]` -> PushSubRecord: the endpoint and the
 *   browser's keys, sealed together with AES-256-GCM under a data key with
 *   `push-sub`, the handle and the id as associated data (an envelope copied
 *   onto another record does not open), the owner's name for the device, when
 *   it was added and when a ring last reached its push service.
 * - `["push_endpoint", hmac]` -> `{handle, id}`: HMAC-SHA-256 of the endpoint
 *   under the server key, so the same endpoint subscribed again replaces its
 *   record instead of adding one, and one endpoint (one browser profile)
 *   rings one handle only. Written and deleted in the record's atomic.
 * - `["push_sub_rev", handle]`: rewritten by every add and remove, checked by
 *   every add, so the cap holds under concurrent adds.
 *
 * Records do not expire: the owner made them and removes them; the push
 * service's 404/410 (the browser unsubscribed, or the subscription lapsed)
 * removes them too (lib/push/ring.ts).
 */
import type { Config } from "../config.ts";
import {
  type DataKey,
  type Envelope,
  openString,
  sealString,
} from "../crypto/envelope.ts";
import { hmacHex, randomHex } from "../crypto/hash.ts";
import { keys } from "./keys.ts";

export interface PushSubRecord {
  id: string;
  /** `{endpoint, p256dh, auth}` as JSON, sealed (see aadOf). */
  enc: Envelope;
  /** Hex HMAC-SHA-256 of the endpoint: the `push_endpoint` index key. */
  endpointHash: string;
  name: string | null;
  createdAt: number;
  lastRungAt: number | null;
}

/** What a subscription's envelope holds: all a sender needs. */
export interface PushSubSecret {
  endpoint: string;
  /** base64url, as the browser gave them. */
  p256dh: string;
  auth: string;
}

/** What the owner sees: never the endpoint or the keys. */
export interface PushSubView {
  id: string;
  name: string | null;
  createdAt: number;
  lastRungAt: number | null;
}

interface EndpointIndex {
  handle: string;
  id: string;
}

/** The secrets subscriptions need: `Config` itself will do. */
export type PushSubSecrets = Pick<Config, "dataKeys" | "hmacKey">;

export type AddPushSubResult =
  | { ok: true; id: string; created: boolean }
  | { ok: false; code: "too_many_push_devices"; max: number };

const ATTEMPTS = 20;

/** Associated data: the envelope opens only on this handle's record `id`. */
function aadOf(handle: string, id: string): string {
  return `push-sub\0${handle}\0${id}`;
}

export function endpointHash(
  hmacKey: Uint8Array,
  endpoint: string,
): Promise<string> {
  return hmacHex(hmacKey, "push-endpoint", endpoint);
}

/**
 * Stores a subscription for `handle` (the caller has validated it). The same
 * endpoint again replaces its record (same id, new keys and name); an
 * endpoint another handle held moves to this one. At most `max` per handle.
 */
export async function addPushSub(
  kv: Deno.Kv,
  secrets: PushSubSecrets,
  handle: string,
  sub: PushSubSecret & { name: string | null },
  max: number,
  now: number = Date.now(),
): Promise<AddPushSubResult> {
  const hash = await endpointHash(secrets.hmacKey, sub.endpoint);
  const secret = JSON.stringify(
    {
      endpoint: sub.endpoint,
      p256dh: sub.p256dh,
      auth: sub.auth,
    } satisfies PushSubSecret,
  );
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const [rev, index] = await kv.getMany<[string, EndpointIndex]>([
      keys.pushSubRev(handle),
      keys.pushEndpoint(hash),
    ]);
    const op = kv.atomic().check(rev).check(index);
    const mine = index.value?.handle === handle ? index.value.id : null;
    let id: string;
    let createdAt = now;
    let lastRungAt: number | null = null;
    if (mine) {
      const old = await kv.get<PushSubRecord>(keys.pushSub(handle, mine));
      op.check(old);
      id = mine;
      if (old.value) {
        createdAt = old.value.createdAt;
        lastRungAt = old.value.lastRungAt;
      }
    } else {
      let count = 0;
      for await (const _ of kv.list({ prefix: keys.pushSubPrefix(handle) })) {
        count++;
      }
      if (count >= max) {
        return { ok: false, code: "too_many_push_devices", max };
      }
      id = randomHex(16);
      if (index.value) {
        // This browser rang another handle (signed in as someone else
        // before): it rings only for the handle that subscribed it last.
        const other = index.value;
        const prev = await kv.get(keys.pushSub(other.handle, other.id));
        op.check(prev).delete(prev.key)
          .set(keys.pushSubRev(other.handle), randomHex(8));
      }
    }
    const record: PushSubRecord = {
      id,
      enc: await sealString(secrets.dataKeys, secret, aadOf(handle, id)),
      endpointHash: hash,
      name: sub.name,
      createdAt,
      lastRungAt,
    };
    op.set(keys.pushSub(handle, id), record)
      .set(keys.pushEndpoint(hash), { handle, id } satisfies EndpointIndex)
      .set(keys.pushSubRev(handle), randomHex(8));
    if ((await op.commit()).ok) return { ok: true, id, created: !mine };
  }
  throw new Error("push subscription add kept conflicting");
}

/**
 * Removes a subscription and its endpoint index; false when there was none.
 * With `onlyIf`, only while the record still has that endpoint hash (a 410
 * for an endpoint the browser has since replaced leaves the new one alone).
 */
export async function removePushSub(
  kv: Deno.Kv,
  handle: string,
  id: string,
  onlyIf?: { endpointHash: string },
): Promise<boolean> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const rec = await kv.get<PushSubRecord>(keys.pushSub(handle, id));
    if (!rec.value) return false;
    if (onlyIf && rec.value.endpointHash !== onlyIf.endpointHash) return false;
    const index = await kv.get<EndpointIndex>(
      keys.pushEndpoint(rec.value.endpointHash),
    );
    const op = kv.atomic().check(rec).check(index).delete(rec.key)
      .set(keys.pushSubRev(handle), randomHex(8));
    if (index.value?.handle === handle && index.value.id === id) {
      op.delete(index.key);
    }
    if ((await op.commit()).ok) return true;
  }
  throw new Error("push subscription removal kept conflicting");
}

/** The handle's subscriptions as stored (sealed), oldest first. */
export async function listPushSubRecords(
  kv: Deno.Kv,
  handle: string,
): Promise<PushSubRecord[]> {
  const out: PushSubRecord[] = [];
  for await (
    const e of kv.list<PushSubRecord>({ prefix: keys.pushSubPrefix(handle) })
  ) out.push(e.value);
  return out.sort((a, b) => a.createdAt - b.createdAt);
}

/** What the owner's settings list: no endpoint, no keys. */
export async function listPushSubs(
  kv: Deno.Kv,
  handle: string,
): Promise<PushSubView[]> {
  return (await listPushSubRecords(kv, handle)).map((r) => ({
    id: r.id,
    name: r.name,
    createdAt: r.createdAt,
    lastRungAt: r.lastRungAt,
  }));
}

/** Does the handle have any subscription? */
export async function hasPushSubs(
  kv: Deno.Kv,
  handle: string,
): Promise<boolean> {
  for await (
    const _ of kv.list({ prefix: keys.pushSubPrefix(handle) }, { limit: 1 })
  ) return true;
  return false;
}

/** A record's endpoint and keys, decrypted (for sending only). */
export async function openPushSub(
  dataKeys: readonly DataKey[],
  handle: string,
  rec: PushSubRecord,
): Promise<PushSubSecret> {
  return JSON.parse(
    await openString(dataKeys, rec.enc, aadOf(handle, rec.id)),
  ) as PushSubSecret;
}

/** A ring reached the push service: note when, if the record is still there. */
export async function markPushSubRung(
  kv: Deno.Kv,
  handle: string,
  id: string,
  now: number = Date.now(),
): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const rec = await kv.get<PushSubRecord>(keys.pushSub(handle, id));
    if (!rec.value || (rec.value.lastRungAt ?? 0) >= now) return;
    const res = await kv.atomic().check(rec)
      .set(rec.key, { ...rec.value, lastRungAt: now })
      .commit();
    if (res.ok) return;
  }
}

/**
 * Reseals every subscription not under the newest data key (for key
 * rotation); returns how many it resealed. Records it cannot open are left.
 */
export async function resealPushSubs(
  kv: Deno.Kv,
  dataKeys: readonly DataKey[],
): Promise<{ resealed: number; failed: number }> {
  let resealed = 0, failed = 0;
  for await (
    const e of kv.list<PushSubRecord>({ prefix: keys.pushSubAll() })
  ) {
    if (e.value.enc.kid === dataKeys[0]?.kid) continue;
    const handle = String(e.key[1]);
    const aad = aadOf(handle, e.value.id);
    let plain: string;
    try {
      plain = await openString(dataKeys, e.value.enc, aad);
    } catch {
      failed++;
      continue;
    }
    const enc = await sealString(dataKeys, plain, aad);
    const res = await kv.atomic().check(e).set(e.key, { ...e.value, enc })
      .commit();
    if (res.ok) resealed++;
  }
  return { resealed, failed };
}
