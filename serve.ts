/// <reference lib="deno.unstable" />
/**
 * Production entry for every core: `deno serve --parallel serve.ts` (see
 * `deno task serve`). Each worker of `deno serve` imports this module, so
 * each runs the same start-up as main.ts (config check, KV, its own hub)
 * and serves with the default export; sockets of different workers reach
 * each other through the signaling bus. `deno run main.ts` is the
 * single-isolate entry; both need only --allow-net --allow-env --allow-read
 * (plus --allow-write for a local KV file).
 *
 * The workers must share one KV: a file (REACH_KV_PATH, with --allow-write
 * for its folder) or the platform's; `:memory:` would give each worker its
 * own. The bus must reach every worker: `broadcast` (the default) spans the
 * workers of one process; `kv` spans processes too.
 *
 * A WebSocket upgrade answers with `x-reach-worker`, an id this worker drew
 * at random when it started: which worker holds a socket (tests, operators
 * following a relay across workers). It names nothing else.
 */
import { createHandler } from "$fresh/server.ts";
import config from "./fresh.config.ts";
import manifest from "./fresh.gen.ts";
import { checkConfigOrExit, openKvOrExit } from "./lib/startup.ts";
import { startSignaling } from "./signaling/instance.ts";

const settings = checkConfigOrExit();
await openKvOrExit(settings);
// The hub's sweep ends calls whose isolate died, even before any socket opens.
await startSignaling();
const handler = await createHandler(manifest, config);

// `deno serve` meets SIGTERM and SIGINT by closing its listeners and then
// waiting for the event loop to empty, which the hub's timers never let
// happen: exit instead (as `deno run main.ts` does on these signals).
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  try {
    Deno.addSignalListener(signal, () => Deno.exit(0));
  } catch {
    // No signals here (e.g. Deno Deploy).
  }
}

/** This worker's id, drawn at start-up. */
export const WORKER_ID = crypto.getRandomValues(new Uint8Array(6)).toHex();

export default {
  async fetch(req, info) {
    const res = await handler(req, info);
    if (res.status === 101) res.headers.set("x-reach-worker", WORKER_ID);
    return res;
  },
} satisfies Deno.ServeDefaultExport;
