/** The process-wide services routes use: config and KV, opened once. */
import { setCallRefKey } from "./call_ref.ts";
import { type Config, getConfig } from "./config.ts";
import { openKv } from "./store/kv.ts";

export interface App {
  config: Config;
  kv: Deno.Kv;
}

export async function app(): Promise<App> {
  const config = getConfig();
  setCallRefKey(config.hmacKey);
  return { config, kv: await openKv(config) };
}
