/**
 * Development secrets: generated once, kept in the git-ignored `.reach/`
 * folder, so a newcomer's sessions and hashes survive restarts. Only the dev
 * entry point (`dev.ts`) writes them; the server itself only reads.
 */
import { DEV_SECRETS_FILE, generateDevSecrets } from "./config.ts";

export async function ensureDevSecrets(): Promise<void> {
  if (Deno.env.get("REACH_ENV") === "production") return;
  try {
    await Deno.stat(DEV_SECRETS_FILE);
    return;
  } catch {
    // Not there yet: make it below.
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
