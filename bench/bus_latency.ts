/**
 * Publish → deliver latency of the signaling bus, p50/p99/max, per kind:
 * - "own bus": a subscriber on the publishing bus (direct local delivery);
 * - "other bus, same isolate": a second bus object in the same isolate (kv: through KV);
 * - "other worker": a subscriber in a Web Worker (tests/_helpers/bus_worker.ts), timed with
 *   the worker's clock (`performance.timeOrigin + now()`, shared by the threads of a process).
 * Messages go one at a time (the next is published after the previous is delivered), so
 * this is latency, not throughput. The kv kind uses a temporary SQLite file.
 *
 * Then **under load**: two Web Workers (this module, run as a worker), each one instance of
 * the bus holding one side of `calls` calls (a topic per call side, like a socket's
 * `conn:` topic), the other side on the other worker. Every round, each worker publishes one
 * ~250 B message to the other side of every call at once (like a candidate per call), so
 * every message crosses workers; rounds are `intervalMs` apart. Messages go as the hub sends
 * them: `publishText` to a sole topic. Latency is publish →
 * handler on the receiving worker (shared process clock), after three warm-up rounds (each
 * topic's instance is looked up, the JIT warms up) have been delivered; a message not
 * delivered within 5 s of the last round counts as lost, and one delivered twice (or out of
 * order) as a duplicate.
 *
 * Run: `deno run -A bench/bus_latency.ts [messages=2000] [calls=1000] [rounds=50]
 * [intervalMs=100]`
 */

import type { Bus } from "../signaling/bus.ts";
import { createBus } from "../signaling/bus_factory.ts";
import type { WorkerEvent } from "../tests/_helpers/bus_worker.ts";

const N = Number(Deno.args[0] ?? 2000);
const CALLS = Number(Deno.args[1] ?? 1000);
const ROUNDS = Number(Deno.args[2] ?? 50);
const INTERVAL_MS = Number(Deno.args[3] ?? 100);
const WARMUP = 50;
const LOAD_WORKER = "bus-load";
/**
 * Rounds under load run first and not timed: each topic's instance is looked up once, and
 * the JIT warms up.
 */
const LOAD_WARMUP = 3;
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

/** One message at a time, on each path. */
async function latency(): Promise<void> {
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
}

// ---- under load: two workers, `CALLS` calls across them -----------------------

type LoadCommand =
  | {
    cmd: "start";
    kind: "broadcast" | "kv";
    kvPath: string;
    /** This worker's call sides (topics) and the other worker's. */
    mine: string[];
    theirs: string[];
  }
  | { cmd: "round"; r: number }
  | { cmd: "report" }
  | { cmd: "close" };

type LoadEvent =
  | { ev: "ready" }
  | { ev: "report"; lat: number[]; got: number; dup: number; errors: number }
  | { ev: "closed" }
  | { ev: "error"; error: string };

/** The worker side: one bus, `mine` subscribed, one message to each of `theirs` a round. */
function loadWorker(): void {
  const post = (e: LoadEvent) => self.postMessage(e);
  let bus: Bus | undefined, kv: Deno.Kv | undefined;
  let theirs: string[] = [];
  const lat: number[] = [];
  /** The last round heard on each topic (one message a round each). */
  let last = new Int32Array(0);
  let got = 0, dup = 0, errors = 0;
  const pad = "x".repeat(200);
  self.onmessage = async (e: MessageEvent<LoadCommand>) => {
    const c = e.data;
    try {
      if (c.cmd === "start") {
        kv = c.kind === "kv" ? await Deno.openKv(c.kvPath) : undefined;
        bus = createBus(c.kind, { kv });
        theirs = c.theirs;
        last = new Int32Array(c.mine.length).fill(-1);
        // As the hub takes a socket's messages: the text, handed on unparsed
        // (here only the round and send time are read from it).
        c.mine.forEach((topic, i) =>
          bus!.subscribeText(topic, (json) => {
            const at = now();
            const r = parseInt(json.slice(5), 10);
            if (r <= last[i]) return void dup++;
            last[i] = r;
            got++;
            // The first rounds also find each topic's instance and warm the
            // JIT up: not timed.
            if (r >= LOAD_WARMUP) {
              lat.push(at - parseFloat(json.slice(json.indexOf('"t0":') + 5)));
            }
          })
        );
        await ready(bus);
        post({ ev: "ready" });
      } else if (c.cmd === "round") {
        // As the hub relays: the JSON made once, to a socket's own (sole) topic.
        for (const topic of theirs) {
          bus!.publishText(
            topic,
            `{"r":${c.r},"t0":${now()},"pad":"${pad}"}`,
            { sole: true },
          ).catch(() => errors++);
        }
      } else if (c.cmd === "report") {
        post({ ev: "report", lat, got, dup, errors });
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

class LoadPeer {
  readonly worker = new Worker(import.meta.url, {
    type: "module",
    name: LOAD_WORKER,
  });
  #waiting: ((e: LoadEvent) => void) | null = null;
  constructor() {
    this.worker.onmessage = (e: MessageEvent<LoadEvent>) =>
      this.#waiting?.(e.data);
  }
  ask<E extends LoadEvent["ev"]>(
    cmd: LoadCommand,
    ev: E,
  ): Promise<Extract<LoadEvent, { ev: E }>> {
    const p = new Promise<Extract<LoadEvent, { ev: E }>>((resolve, reject) => {
      this.#waiting = (e) => {
        if (e.ev === "error") reject(new Error(e.error));
        else if (e.ev === ev) resolve(e as Extract<LoadEvent, { ev: E }>);
      };
    });
    this.worker.postMessage(cmd);
    return p;
  }
}

async function load(): Promise<void> {
  const loadRows: Record<string, string | number>[] = [];
  for (const kind of ["broadcast", "kv"] as const) {
    const dir = await Deno.makeTempDir();
    const kvPath = `${dir}/kv.sqlite3`;
    // Create the file first: two workers creating one SQLite file at the
    // same moment can be told "database is locked".
    (await Deno.openKv(kvPath)).close();
    const run = crypto.randomUUID().slice(0, 8);
    const sides = [0, 1].map((w) =>
      Array.from({ length: CALLS }, (_, i) => `conn:${run}:${i}:${w}`)
    );
    const peers = [new LoadPeer(), new LoadPeer()];
    try {
      await Promise.all(peers.map((p, w) =>
        p.ask({
          cmd: "start",
          kind,
          kvPath,
          mine: sides[w],
          theirs: sides[1 - w],
        }, "ready")
      ));
      /** Every peer's report once each has `n` messages (or 5 s have passed). */
      const delivered = async (n: number) => {
        const deadline = performance.now() + 5000;
        while (true) {
          const reports = await Promise.all(
            peers.map((p) => p.ask({ cmd: "report" }, "report")),
          );
          if (
            reports.every((x) => x.got >= n) || performance.now() > deadline
          ) return reports;
          await new Promise((ok) => setTimeout(ok, 20));
        }
      };
      const rounds = async (from: number, to: number) => {
        for (let r = from; r < to; r++) {
          for (const p of peers) p.worker.postMessage({ cmd: "round", r });
          await new Promise((ok) => setTimeout(ok, INTERVAL_MS));
        }
      };
      // Warm-up rounds, delivered before the timed ones start.
      await rounds(0, LOAD_WARMUP);
      await delivered(LOAD_WARMUP * CALLS);
      const t0 = performance.now();
      await rounds(LOAD_WARMUP, LOAD_WARMUP + ROUNDS);
      const expected = (LOAD_WARMUP + ROUNDS) * CALLS;
      const reports = await delivered(expected);
      const seconds = (performance.now() - t0) / 1000;
      const lat = reports.flatMap((x) => x.lat);
      const { p50 = NaN, p99 = NaN, max = NaN } = lat.length ? stats(lat) : {};
      loadRows.push({
        kind,
        calls: CALLS,
        "msgs/round": 2 * CALLS,
        rounds: ROUNDS,
        "interval ms": INTERVAL_MS,
        "msg/s offered": Math.round((2 * CALLS * 1000) / INTERVAL_MS),
        delivered: reports.reduce((n, x) => n + x.got, 0),
        timed: lat.length,
        lost: 2 * expected - reports.reduce((n, x) => n + x.got, 0),
        duplicates: reports.reduce((n, x) => n + x.dup, 0),
        "publish errors": reports.reduce((n, x) => n + x.errors, 0),
        "p50 ms": +p50.toFixed(2),
        "p99 ms": +p99.toFixed(2),
        "max ms": +max.toFixed(2),
        "s total": +seconds.toFixed(1),
      });
    } finally {
      for (const p of peers) {
        await p.ask({ cmd: "close" }, "closed").catch(() => {});
        p.worker.terminate();
      }
      await Deno.remove(dir, { recursive: true });
    }
  }
  console.log(
    `bus under load: ${CALLS} calls across two workers, each side publishing one ~250 B message per call per round (${Deno.build.os}, Deno ${Deno.version.deno})`,
  );
  console.table(loadRows);
}

const inWorker = typeof (globalThis as { WorkerGlobalScope?: unknown })
  .WorkerGlobalScope !== "undefined";
if (inWorker && self.name === LOAD_WORKER) loadWorker();
else if (import.meta.main) {
  if (!Deno.env.get("BUS_LOAD_ONLY")) await latency();
  await load();
}
