/** This isolate's one hub, with the bus the configuration chooses. */
import { app } from "../lib/app.ts";
import { createBus } from "./bus_factory.ts";
import { Hub } from "./hub.ts";

let current: Promise<Hub> | undefined;

export function getHub(): Promise<Hub> {
  current ??= (async () => {
    const { config, kv } = await app();
    const bus = createBus(config.bus, { kv });
    return new Hub({ kv, bus, config });
  })();
  return current;
}

/** Closes and forgets the hub (tests, shutdown). */
export async function resetHub(): Promise<void> {
  const hub = await current;
  current = undefined;
  await hub?.shutdown();
}

/**
 * Starts this instance's hub now (not at its first socket), so its sweep of
 * calls past their deadlines runs from start-up on. On Deno Deploy, where an
 * isolate with no open socket may not be running at all, a `Deno.cron` job
 * also sweeps once a minute; it must be registered at start-up, as here.
 */
export async function startSignaling(): Promise<void> {
  const cron = (Deno as { cron?: typeof Deno.cron }).cron;
  if (Deno.env.get("DENO_DEPLOYMENT_ID") && typeof cron === "function") {
    cron("reach-sweep-calls", "* * * * *", async () => {
      await (await getHub()).sweeper.sweep();
    });
  }
  await getHub();
}
