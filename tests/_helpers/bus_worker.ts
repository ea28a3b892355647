/**
 * A bus participant for multi-isolate tests and benchmarks.
 *
 * As a Web Worker (`new Worker(url, { type: "module" })`) it takes commands by postMessage:
 * - `{ cmd: "start", kind, kvPath?, name, topics, pollMs? }`: create a bus (kv kind: open the
 *   KV file at kvPath), subscribe to each topic, answer `{ ev: "ready" }` once the
 *   subscriptions are visible. Every delivery is reported as `{ ev: "msg", topic, msg,
 *   at }` (`at`: wall-clock ms with sub-ms precision); a message with a string `echoTo` is
 *   also published to that topic as `{ echo: msg, by: name }`.
 * - `{ cmd: "publish", topic, msgs }`: publish msgs in order (without awaiting each), answer
 *   `{ ev: "published" }`.
 * - `{ cmd: "close" }`: close the bus (and KV), answer `{ ev: "closed" }`.
 *
 * As a process (`deno run -A bus_worker.ts --kv PATH --name NAME --peers a,b --count N
 * [--poll MS]`): a kv bus on topic "all"; prints `ready`, waits for a `go` line on stdin,
 * publishes `{ from: NAME, i }` for i < N and then `{ from: NAME, fin: true }`, waits for
 * every peer's fin, prints one JSON line `{ name, got: { [from]: i[] }, extra }` and exits.
 *
 * @module
 */

import type { Bus, BusMessage } from "@/signaling/bus.ts";
import { createBus } from "@/signaling/bus_factory.ts";
import { KvBus } from "@/signaling/bus_kv.ts";

export type WorkerCommand =
  | {
    cmd: "start";
    kind: "broadcast" | "kv";
    kvPath?: string;
    name: string;
    topics: string[];
    pollMs?: number;
  }
  | { cmd: "publish"; topic: string; msgs: BusMessage[] }
  | { cmd: "close" };

export type WorkerEvent =
  | { ev: "ready" }
  | { ev: "msg"; topic: string; msg: BusMessage; at: number }
  | { ev: "published" }
  | { ev: "closed" }
  | { ev: "error"; error: string };

const now = () => performance.timeOrigin + performance.now();

async function openBus(
  kind: "broadcast" | "kv",
  kvPath: string | undefined,
  pollMs: number | undefined,
): Promise<{ bus: Bus & { ready(): Promise<void> }; kv?: Deno.Kv }> {
  if (kind === "broadcast") {
    const bus = createBus("broadcast", {}) as Bus & {
      ready(): Promise<void>;
    };
    return { bus };
  }
  if (!kvPath) throw new Error("kv bus needs kvPath");
  const kv = await Deno.openKv(kvPath);
  return { bus: new KvBus(kv, { pollMs }), kv };
}

function runAsWorker(): void {
  const post = (e: WorkerEvent) => self.postMessage(e);
  let bus: (Bus & { ready(): Promise<void> }) | undefined;
  let kv: Deno.Kv | undefined;
  let name = "";
  self.onmessage = async (e: MessageEvent<WorkerCommand>) => {
    const c = e.data;
    try {
      if (c.cmd === "start") {
        name = c.name;
        ({ bus, kv } = await openBus(c.kind, c.kvPath, c.pollMs));
        for (const topic of c.topics) {
          bus.subscribe(topic, (msg) => {
            post({ ev: "msg", topic, msg, at: now() });
            if (typeof msg.echoTo === "string") {
              bus!.publish(msg.echoTo, { echo: msg, by: name }).catch((err) =>
                post({ ev: "error", error: String(err) })
              );
            }
          });
        }
        await bus.ready();
        post({ ev: "ready" });
      } else if (c.cmd === "publish") {
        await Promise.all(c.msgs.map((m) => bus!.publish(c.topic, m)));
        post({ ev: "published" });
      } else if (c.cmd === "close") {
        await bus?.close();
        kv?.close();
        post({ ev: "closed" });
      }
    } catch (err) {
      post({ ev: "error", error: String(err) });
    }
  };
}

function arg(name: string): string | undefined {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}

async function runAsProcess(): Promise<void> {
  const kvPath = arg("kv"), name = arg("name") ?? "p";
  const peers = (arg("peers") ?? name).split(",");
  const count = Number(arg("count") ?? "10");
  const pollMs = arg("poll") ? Number(arg("poll")) : undefined;
  const { bus, kv } = await openBus("kv", kvPath, pollMs);
  const got: Record<string, number[]> = {};
  let extra = 0;
  const fins = new Set<string>();
  const { promise: allFins, resolve } = Promise.withResolvers<void>();
  bus.subscribe("all", (msg) => {
    const from = String(msg.from);
    if (msg.fin === true) {
      if (fins.has(from)) extra++;
      fins.add(from);
      if (peers.every((p) => fins.has(p))) resolve();
    } else if (typeof msg.i === "number") (got[from] ??= []).push(msg.i);
    else extra++;
  });
  await bus.ready();
  const out = Deno.stdout.writable.getWriter();
  const enc = new TextEncoder();
  await out.write(enc.encode("ready\n"));
  // Wait for "go" on stdin.
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream())
    .getReader();
  let buf = "";
  while (!buf.includes("go\n")) {
    const { value, done } = await lines.read();
    if (done) break;
    buf += value;
  }
  await lines.cancel();
  const sends: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    sends.push(bus.publish("all", { from: name, i }));
  }
  sends.push(bus.publish("all", { from: name, fin: true }));
  await Promise.all(sends);
  await allFins;
  await out.write(enc.encode(JSON.stringify({ name, got, extra }) + "\n"));
  out.releaseLock();
  await bus.close();
  kv?.close();
}

const inWorker = typeof (globalThis as { WorkerGlobalScope?: unknown })
  .WorkerGlobalScope !== "undefined";
if (inWorker) runAsWorker();
else if (import.meta.main) await runAsProcess();
