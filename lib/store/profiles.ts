/**
 * Handles and their public profiles. A profile and the wallet -> handle index
 * are written in one atomic with `versionstamp: null` checks, so a handle is
 * claimed once and a wallet claims at most one handle.
 */
import { addToBloom } from "./bloom.ts";
import { keys } from "./keys.ts";

export interface Profile {
  handle: string;
  walletPubkey: string;
  displayName: string;
  greeting: string;
  accentColor: string;
  createdAt: number;
  updatedAt: number;
}

export const DEFAULT_ACCENT = "#2563eb";

export type ClaimResult =
  | { ok: true; profile: Profile }
  | { ok: false; code: "handle_taken" | "already_has_handle" };

export async function claimHandle(
  kv: Deno.Kv,
  handle: string,
  walletPubkey: string,
  now = Date.now(),
): Promise<ClaimResult> {
  const profile: Profile = {
    handle,
    walletPubkey,
    displayName: handle,
    greeting: "",
    accentColor: DEFAULT_ACCENT,
    createdAt: now,
    updatedAt: now,
  };
  for (let attempt = 1;; attempt++) {
    // Only the filter's count goes in the claim's atomic: a sum never
    // conflicts, so parallel claims of different handles never do either.
    const res = await kv.atomic()
      .check({ key: keys.handle(handle), versionstamp: null })
      .check({ key: keys.walletHandle(walletPubkey), versionstamp: null })
      .set(keys.handle(handle), profile)
      .set(keys.walletHandle(walletPubkey), handle)
      .sum(keys.bloomCount(), 1n)
      .commit();
    if (res.ok) {
      // Its bits, right after (lib/store/bloom.ts). Should that keep failing
      // (logged there), the claim stands and the handle goes in with the
      // next write.
      await addToBloom(kv, handle, now).catch(() => {});
      return { ok: true, profile };
    }
    // Say which rule stopped it: the wallet's own handle wins over "taken".
    const [owned, taken] = await kv.getMany([
      keys.walletHandle(walletPubkey),
      keys.handle(handle),
    ]);
    if (owned.value) return { ok: false, code: "already_has_handle" };
    if (taken.value) return { ok: false, code: "handle_taken" };
    // Both gone again already (a release in between): try once more.
    if (attempt >= 5) throw new Error("handle claim kept conflicting");
  }
}

export async function getProfile(
  kv: Deno.Kv,
  handle: string,
): Promise<Profile | null> {
  return (await kv.get<Profile>(keys.handle(handle))).value;
}

export async function handleOfWallet(
  kv: Deno.Kv,
  walletPubkey: string,
): Promise<string | null> {
  return (await kv.get<string>(keys.walletHandle(walletPubkey))).value;
}

export type ProfilePatch = Partial<
  Pick<Profile, "displayName" | "greeting" | "accentColor">
>;

/** Applies a validated patch; retries when a parallel edit got there first. */
export async function updateProfile(
  kv: Deno.Kv,
  handle: string,
  patch: ProfilePatch,
  now = Date.now(),
): Promise<Profile | null> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const entry = await kv.get<Profile>(keys.handle(handle));
    if (!entry.value) return null;
    const next = { ...entry.value, ...patch, updatedAt: now };
    const res = await kv.atomic().check(entry).set(entry.key, next).commit();
    if (res.ok) return next;
  }
  throw new Error("profile update kept conflicting");
}
