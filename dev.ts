#!/usr/bin/env -S deno run -A --watch=static/,routes/,islands/,lib/
/**
 * Development entry point: makes dev secrets once, regenerates the manifest,
 * builds the islands and serves. `dev.ts build` writes the ahead-of-time
 * build to `_fresh/`; `dev.ts manifest` only regenerates `fresh.gen.ts`.
 */
import dev from "$fresh/dev.ts";
import config from "./fresh.config.ts";
import { ensureDevSecrets } from "./lib/dev_secrets.ts";

if (!Deno.args.includes("build") && !Deno.args.includes("manifest")) {
  await ensureDevSecrets();
}
await dev(import.meta.url, "./main.ts", config);
