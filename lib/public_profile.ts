/** The public view of a handle: what anyone may see. Never a phone number. */
import { isOnline } from "./store/presence.ts";
import { getProfile, type Profile } from "./store/profiles.ts";
import { hasPushSubs } from "./store/push_subs.ts";

export interface PublicProfile {
  handle: string;
  displayName: string;
  walletPubkey: string;
  accentColor: string;
  greeting: string;
  online: boolean;
}

/**
 * How long `/@handle` may show a profile read earlier by this isolate (name,
 * greeting, colour, key). Presence is never cached: it is read every time.
 */
export const PROFILE_CACHE_MS = 2_000;
const CACHE_MAX = 1_000;

/** Per KV store (tests open many), handle → profile read at `at`. */
const cache = new WeakMap<
  Deno.Kv,
  Map<string, { at: number; profile: Profile }>
>();

async function readProfile(
  kv: Deno.Kv,
  handle: string,
  maxAgeMs: number,
  now: number,
): Promise<Profile | null> {
  if (maxAgeMs <= 0) return await getProfile(kv, handle);
  let byHandle = cache.get(kv);
  if (!byHandle) cache.set(kv, byHandle = new Map());
  const hit = byHandle.get(handle);
  if (hit && now - hit.at < maxAgeMs) return hit.profile;
  const profile = await getProfile(kv, handle);
  byHandle.delete(handle);
  // Only profiles that exist: a handle claimed a moment ago shows at once.
  if (profile) {
    if (byHandle.size >= CACHE_MAX) {
      byHandle.delete(byHandle.keys().next().value!);
    }
    byHandle.set(handle, { at: now, profile });
  }
  return profile;
}

/**
 * The public profile of `handle`, or null. `maxAgeMs` > 0 accepts a profile
 * this isolate read that long ago or less (see {@link PROFILE_CACHE_MS});
 * `online` is always read now.
 */
export async function publicProfile(
  kv: Deno.Kv,
  handle: string,
  opts: { maxAgeMs?: number; now?: number } = {},
): Promise<PublicProfile | null> {
  const p = await readProfile(
    kv,
    handle,
    opts.maxAgeMs ?? 0,
    opts.now ?? Date.now(),
  );
  if (!p) return null;
  return {
    handle: p.handle,
    displayName: p.displayName,
    walletPubkey: p.walletPubkey,
    accentColor: p.accentColor,
    greeting: p.greeting,
    online: await isOnline(kv, p.handle),
  };
}

/**
 * Whether a call to the handle rings a browser through Web Push although no
 * Reach tab of it is online (what `/@handle` says instead of "Offline"). A
 * yes or no only: how many browsers, or which, is never shown.
 */
export async function ringsByPush(
  kv: Deno.Kv,
  pushEnabled: boolean,
  handle: string,
): Promise<boolean> {
  return pushEnabled && await hasPushSubs(kv, handle);
}
