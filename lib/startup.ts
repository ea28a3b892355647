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
