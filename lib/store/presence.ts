/** Presence: which devices of a handle are online, kept alive by heartbeats. */
import { keys } from "./keys.ts";

export interface PresenceRecord {
  expiresAt: number;
  /** What this device wants when a new call rings while the handle is in a call. */
  whenBusy?: "busy" | "ring";
}

/** How long a device counts as online after its last heartbeat. */
export const PRESENCE_TTL_MS = 45_000;

export async function markOnline(
  kv: Deno.Kv,
  handle: string,
  deviceId: string,
  whenBusy: "busy" | "ring" = "busy",
  now = Date.now(),
): Promise<void> {
  await markOnlineMany(kv, [{ handle, deviceId, whenBusy }], now);
}

/**
 * `markOnline` for many devices at once (a heartbeat tick): up to 100 writes
 * per atomic step instead of one commit each.
 */
export async function markOnlineMany(
  kv: Deno.Kv,
  devices: { handle: string; deviceId: string; whenBusy: "busy" | "ring" }[],
  now = Date.now(),
): Promise<void> {
  const value = (whenBusy: "busy" | "ring"): PresenceRecord => ({
    expiresAt: now + PRESENCE_TTL_MS,
    whenBusy,
  });
  for (let at = 0; at < devices.length; at += 100) {
    const op = kv.atomic();
    for (const d of devices.slice(at, at + 100)) {
      op.set(keys.presence(d.handle, d.deviceId), value(d.whenBusy), {
        expireIn: PRESENCE_TTL_MS,
      });
    }
    await op.commit();
  }
}

export async function markOffline(
  kv: Deno.Kv,
  handle: string,
  deviceId: string,
): Promise<void> {
  await kv.delete(keys.presence(handle, deviceId));
}

export async function onlineDevices(
  kv: Deno.Kv,
  handle: string,
  now = Date.now(),
): Promise<PresenceRecord[]> {
  const out: PresenceRecord[] = [];
  for await (
    const entry of kv.list<PresenceRecord>({
      prefix: keys.presencePrefix(handle),
    })
  ) {
    // KV deletes expired keys lazily; the record's own expiry decides.
    if (entry.value.expiresAt > now) out.push(entry.value);
  }
  return out;
}

export async function isOnline(
  kv: Deno.Kv,
  handle: string,
  now = Date.now(),
): Promise<boolean> {
  return (await onlineDevices(kv, handle, now)).length > 0;
}
