/**
 * Start-up checks: read and validate the configuration once, refuse to start
 * on a bad one (naming each variable), and warn about development secrets.
 */
import {
  type Config,
  ConfigError,
  DEV_SECRETS_FILE,
  getConfig,
} from "./config.ts";
import { log } from "./log.ts";
import { openKv } from "./store/kv.ts";

export function checkConfigOrExit(): Config {
  let config: Config;
  try {
    config = getConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      Deno.exit(1);
    }
    throw e;
  }
  if (config.secretsSource === "dev-file") {
    console.warn(
      `Reach: WARNING using development secrets from ${DEV_SECRETS_FILE}; set REACH_HMAC_KEY and REACH_DATA_KEYS for anything real.`,
    );
  } else if (config.secretsSource === "generated") {
    console.warn(
      "Reach: WARNING no secrets configured; generated throw-away secrets for this process only.",
    );
  }
  log("start", { env: config.env, port: config.port });
  return config;
}

/**
 * Opens the KV store once at start-up, so a store the process cannot open
 * (no write permission for a local file, a bad path) stops it with a message
 * instead of answering 500 to every request.
 */
export async function openKvOrExit(config: Config): Promise<void> {
  try {
    await openKv(config);
  } catch (e) {
    const where = config.kvPath
      ? `the file ${config.kvPath}`
      : "the platform's KV (Deno.openKv())";
    console.error(
      `Reach cannot start: it cannot open its Deno KV, ${where}: ${
        (e as Error).message
      }\nGive the process write access to that folder (e.g. --allow-write=.reach), or set REACH_KV_PATH to a writable file or :memory:.`,
    );
    Deno.exit(1);
  }
}
