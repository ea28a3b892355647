/**
 * Publish → deliver latency of the signaling bus, p50/p99/max, per kind:
 * - "own bus": a subscriber on the publishing bus (direct local delivery);
 * - "other bus, same isolate": a second bus object in the same isolate (kv: through KV);
 * - "other worker": a subscriber in a Web Worker (tests/_helpers/bus_worker.ts), timed with
 *   the worker's clock (`performance.timeOrigin + now()`, shared by the threads of a process).
 * Messages go one at a time (the next is published after the previous is delivered), so
 * this is latency, not throughput. The kv kind uses a temporary SQLite file.
 *
 * Run: `deno run -A bench/bus_latency.ts [messages=2000]`
 */

import type { Bus } from "../signaling/bus.ts";
import { createBus } from "../signaling/bus_factory.ts";
import type { WorkerEvent } from "../tests/_helpers/bus_worker.ts";

const N = Number(Deno.args[0] ?? 2000);
const WARMUP = 50;
const now = () => performance.timeOrigin + performance.now();
const ready = (bus: Bus) =>
  (bus as unknown as { ready(): Promise<void> }).ready();

function stats(ms: number[]) {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { p50: q(0.5), p99: q(0.99), max: s[s.length - 1] };
}

/** Publishes N+WARMUP messages one by one; `delivered` resolves with the delivery time. */
async function run(
  publisher: Bus,
  topic: string,
  delivered: () => Promise<number>,
): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < N + WARMUP; i++) {
    const got = delivered();
    const t0 = now();
    await publisher.publish(topic, { i, t0, pad: "x".repeat(200) });
    const t1 = await got;
    if (i >= WARMUP) out.push(t1 - t0);
  }
  return out;
}

/** A promise per message delivered on bus/topic, resolved with the delivery time. */
function deliveries(bus: Bus, topic: string): () => Promise<number> {
  let next = Promise.withResolvers<number>();
  bus.subscribe(topic, () => next.resolve(now()));
  return () => {
    next = Promise.withResolvers<number>();
    return next.promise;
  };
}

const rows: Record<string, string | number>[] = [];
function record(kind: string, path: string, ms: number[]) {
  const { p50, p99, max } = stats(ms);
  rows.push({
    kind,
    path,
    messages: ms.length,
    "p50 ms": +p50.toFixed(3),
    "p99 ms": +p99.toFixed(3),
    "max ms": +max.toFixed(3),
  });
}

for (const kind of ["broadcast", "kv"] as const) {
  const dir = await Deno.makeTempDir();
  const kvPath = `${dir}/kv.sqlite3`;
  const kv = kind === "kv" ? await Deno.openKv(kvPath) : undefined;
  const a = createBus(kind, { kv }), b = createBus(kind, { kv });

  record(kind, "own bus", await run(a, "own", deliveries(a, "own")));

  const other = deliveries(b, "other");
  await ready(b);
  record(kind, "other bus, same isolate", await run(a, "other", other));

  const worker = new Worker(
    new URL("../tests/_helpers/bus_worker.ts", import.meta.url),
    { type: "module" },
  );
  let waiting: ((e: WorkerEvent) => void) | null = null;
  worker.onmessage = (e: MessageEvent<WorkerEvent>) => waiting?.(e.data);
  const next = (ev: WorkerEvent["ev"]) =>
    new Promise<WorkerEvent>((resolve, reject) => {
      waiting = (e) => {
        if (e.ev === "error") reject(new Error(e.error));
        else if (e.ev === ev) resolve(e);
      };
    });
  let ev = next("ready");
  worker.postMessage({
    cmd: "start",
    kind,
    kvPath,
    name: "w",
    topics: ["worker"],
  });
  await ev;
  record(
    kind,
    "other worker",
    await run(a, "worker", async () => {
      const e = await next("msg");
      return (e as { at: number }).at;
    }),
  );
  ev = next("closed");
  worker.postMessage({ cmd: "close" });
  await ev;
  worker.terminate();

  await a.close();
  await b.close();
  kv?.close();
  await Deno.remove(dir, { recursive: true });
}

console.log(
  `bus publish→deliver latency, ${N} messages each (${Deno.build.os}, Deno ${Deno.version.deno})`,
);
console.table(rows);
