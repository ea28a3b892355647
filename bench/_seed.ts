/**
 * Handles with sessions, written straight to a server's KV file before it
 * starts (signing hundreds of people up over HTTP takes longer than a socket
 * may stay silent): `<prefix>_<i>` for i < n, each with a session under the
 * cookie name and lifetime `env` configures; returns each one's cookie.
 */
import { loadConfig } from "../lib/config.ts";
import { claimHandle } from "../lib/store/profiles.ts";
import { createSession } from "../lib/store/sessions.ts";

export async function seedHandles(
  kvPath: string,
  n: number,
  prefix: string,
  env: Record<string, string>,
): Promise<string[]> {
  const config = loadConfig({ ...env, REACH_KV_PATH: kvPath });
  const kv = await Deno.openKv(kvPath);
  try {
    const cookies: string[] = [];
    for (let i = 0; i < n; i++) {
      const publicKey = `${prefix}${i}`.padEnd(32, "x");
      const claimed = await claimHandle(kv, `${prefix}_${i}`, publicKey);
      if (!claimed.ok) throw new Error(`claim: ${claimed.code}`);
      const { id } = await createSession(kv, publicKey, config.sessionTtlMs);
      cookies.push(`${config.sessionCookie.name}=${id}`);
    }
    return cookies;
  } finally {
    kv.close();
  }
}
