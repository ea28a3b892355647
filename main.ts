/// <reference lib="deno.unstable" />
/**
 * Production entry point. Needs only --allow-net --allow-env --allow-read:
 * it serves the ahead-of-time build in `_fresh/` (from `deno task build`),
 * writes no files and starts no subprocesses.
 */
import { start } from "$fresh/server.ts";
import config from "./fresh.config.ts";
import manifest from "./fresh.gen.ts";
import { checkConfigOrExit, openKvOrExit } from "./lib/startup.ts";
import { startSignaling } from "./signaling/instance.ts";

const settings = checkConfigOrExit();
await openKvOrExit(settings);
// The hub's sweep ends calls whose isolate died, even before any socket opens.
await startSignaling();
await start(manifest, config);
