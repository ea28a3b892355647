/** The public view of a handle: what anyone may see. Never a phone number. */
import { isOnline } from "./store/presence.ts";
import { getProfile } from "./store/profiles.ts";

export interface PublicProfile {
  handle: string;
  displayName: string;
  walletPubkey: string;
  accentColor: string;
  greeting: string;
  online: boolean;
}

export async function publicProfile(
  kv: Deno.Kv,
  handle: string,
): Promise<PublicProfile | null> {
  const p = await getProfile(kv, handle);
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
