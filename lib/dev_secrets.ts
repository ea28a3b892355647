/**
 * Development secrets: generated once, kept in the git-ignored `.reach/`
 * folder, so a newcomer's sessions and hashes survive restarts. Only the dev
 * entry point (`dev.ts`) writes them; the server itself only reads.
 *
 * A file written before Web Push existed lacks the VAPID key pair: it is
 * added to the file (the other secrets kept as they are), so browsers'
 * push subscriptions, which are bound to the public key, survive restarts too.
 */
import {
  DEV_SECRETS_FILE,
  type DevSecrets,
  generateDevSecrets,
} from "./config.ts";
import { generateVapidKeys } from "./push/vapid.ts";

export async function ensureDevSecrets(): Promise<void> {
  if (Deno.env.get("REACH_ENV") === "production") return;
  let existing: Partial<DevSecrets> | undefined;
  try {
    existing = JSON.parse(await Deno.readTextFile(DEV_SECRETS_FILE));
  } catch (e) {
    // Unreadable or not JSON: left alone, and the config says so.
    if (!(e instanceof Deno.errors.NotFound)) return;
  }
  if (existing !== undefined) {
    if (
      !existing || typeof existing !== "object" ||
      existing.REACH_VAPID_PUBLIC_KEY || existing.REACH_VAPID_PRIVATE_KEY
    ) return;
    const vapid = generateVapidKeys();
    await Deno.writeTextFile(
      DEV_SECRETS_FILE,
      JSON.stringify(
        {
          ...existing,
          REACH_VAPID_PUBLIC_KEY: vapid.publicKey,
          REACH_VAPID_PRIVATE_KEY: vapid.privateKey,
        },
        null,
        2,
      ) + "\n",
      { mode: 0o600 },
    );
    console.warn(
      `Reach: added development VAPID keys (Web Push) to ${DEV_SECRETS_FILE}.`,
    );
    return;
  }
  await Deno.mkdir(DEV_SECRETS_FILE.replace(/\/[^/]*$/, ""), {
    recursive: true,
  });
  await Deno.writeTextFile(
    DEV_SECRETS_FILE,
    JSON.stringify(generateDevSecrets(), null, 2) + "\n",
    { mode: 0o600, createNew: true },
  );
  console.warn(
    `Reach: generated development secrets in ${DEV_SECRETS_FILE} (never use them in production).`,
  );
}
