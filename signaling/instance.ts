/** This isolate's one hub, with the bus the configuration chooses. */
import { app } from "../lib/app.ts";
import { createBus } from "./bus.ts";
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
