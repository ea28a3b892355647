/**
 * Chooses the bus implementation the configuration names. Kept apart from
 * signaling/bus.ts (the interface and the helpers both implementations
 * share), so the interface module imports no implementation.
 */
import type { Bus } from "./bus.ts";
import { BroadcastBus } from "./bus_broadcast.ts";
import { KvBus } from "./bus_kv.ts";

export function createBus(
  kind: "broadcast" | "kv",
  opts: { kv?: Deno.Kv; instanceId?: string },
): Bus {
  if (kind === "broadcast") return new BroadcastBus(opts);
  if (kind === "kv") {
    if (!opts.kv) throw new TypeError('createBus("kv") needs opts.kv');
    return new KvBus(opts.kv, opts);
  }
  throw new TypeError(`unknown bus kind: ${String(kind)}`);
}
