/**
 * One Reach server in a Web Worker, for tests and benchmarks where the caller and
 * the callee sit on different workers of one process (like `deno serve --parallel`).
 *
 * It sets the app up as `testApp` does (tests/_helpers/app.ts): the config from
 * `env`, the KV file at `kvPath` (every worker opens the SAME file), a quiet log
 * sink, the real handler from `createHandler`, served on a loopback port.
 *
 * Messages in (postMessage):
 * - `{ env, kvPath }`: start; answers `{ ev: "listening", port }`.
 * - `"memory"`: answers `{ ev: "memory", usage, gc, stats }`, the isolate's
 *   `Deno.memoryUsage()` after a forced GC when `gc` is exposed
 *   (`--v8-flags=--expose-gc`), and the hub's connection counts.
 * - `"stop"`: closes the hub (every socket with 1001) and its bus, shuts the
 *   server down, closes KV; answers `"stopped"`.
 * Any failure answers `{ ev: "error", error }`.
 *
 * The main-thread side is {@link AppWorker}: `await AppWorker.start(env, kvPath)`,
 * then `base` (ws://) for SignalClient, `client()` for HTTP, `stop()`.
 *
 * @module
 */
import { createHandler } from "$fresh/server.ts";
import freshConfig from "@/fresh.config.ts";
import manifest from "@/fresh.gen.ts";
import { loadConfig, setConfig } from "@/lib/config.ts";
import { setLogSink } from "@/lib/log.ts";
import { setKv } from "@/lib/store/kv.ts";
import { TestClient } from "./app.ts";
import { getHub, resetHub } from "@/signaling/instance.ts";

export interface AppWorkerStart {
  env: Record<string, string>;
  kvPath: string;
}

export type AppWorkerEvent =
  | { ev: "listening"; port: number }
  | {
    ev: "memory";
    usage: Deno.MemoryUsage;
    gc: boolean;
    stats: { connections: number; devices: number; callers: number };
  }
  | { ev: "error"; error: string };

let server: Deno.HttpServer | undefined;
let kv: Deno.Kv | undefined;

const post = (m: AppWorkerEvent | "stopped") => self.postMessage(m);

async function start({ env, kvPath }: AppWorkerStart): Promise<void> {
  setConfig(loadConfig(env));
  kv = await Deno.openKv(kvPath);
  setKv(kv);
  setLogSink(() => {});
  const h = await createHandler(manifest, freshConfig);
  // Create the hub (and its bus) now, so the first socket does not pay for it.
  await getHub();
  const { promise, resolve } = Promise.withResolvers<number>();
  server = Deno.serve(
    {
      hostname: "127.0.0.1",
      port: 0,
      onListen: (addr) => resolve(addr.port),
    },
    (req, info) => h(req, info),
  );
  post({ ev: "listening", port: await promise });
}

async function memory(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    // Two rounds: the first may only queue finalizers.
    gc();
    await new Promise((r) => setTimeout(r, 0));
    gc();
  }
  const hub = await getHub();
  post({
    ev: "memory",
    usage: Deno.memoryUsage(),
    gc: !!gc,
    stats: hub.stats(),
  });
}

async function stop(): Promise<void> {
  await resetHub(); // closes the hub's bus too
  await server?.shutdown();
  setKv(undefined);
  kv?.close();
  post("stopped");
}

// Only as a worker's own module: test files and benchmarks import the class below.
if (import.meta.main) {
  self.onmessage = (e: MessageEvent<AppWorkerStart | "stop" | "memory">) => {
    const m = e.data;
    const run = m === "stop" ? stop() : m === "memory" ? memory() : start(m);
    run.catch((err) => post({ ev: "error", error: String(err?.stack ?? err) }));
  };
}

type Reply = AppWorkerEvent | "stopped";

/** The main-thread handle of one app worker. */
export class AppWorker {
  readonly worker: Worker;
  port = 0;
  #waiters: {
    pred: (m: Reply) => boolean;
    resolve: (m: Reply) => void;
    reject: (e: Error) => void;
  }[] = [];
  #failed: Error | null = null;
  #stopped = false;

  private constructor(readonly name: string) {
    this.worker = new Worker(new URL("./app_worker.ts", import.meta.url), {
      type: "module",
      name,
    });
    this.worker.onmessage = (e: MessageEvent<Reply>) => {
      const m = e.data;
      if (typeof m === "object" && m.ev === "error") {
        return this.#fail(new Error(`worker ${name}: ${m.error}`));
      }
      const i = this.#waiters.findIndex((w) => w.pred(m));
      if (i >= 0) this.#waiters.splice(i, 1)[0].resolve(m);
    };
    this.worker.onerror = (e) => {
      e.preventDefault();
      this.#fail(new Error(`worker ${name}: ${e.message}`));
    };
  }

  #fail(err: Error): void {
    this.#failed = err;
    for (const w of this.#waiters.splice(0)) w.reject(err);
  }

  #ask<T extends Reply>(
    msg: AppWorkerStart | "stop" | "memory",
    pred: (m: Reply) => boolean,
  ): Promise<T> {
    if (this.#failed) return Promise.reject(this.#failed);
    const { promise, resolve, reject } = Promise.withResolvers<T>();
    this.#waiters.push({
      pred,
      resolve: resolve as (m: Reply) => void,
      reject,
    });
    this.worker.postMessage(msg);
    return promise;
  }

  /** Starts a worker serving the app with this env on the KV file at kvPath. */
  static async start(
    name: string,
    env: Record<string, string>,
    kvPath: string,
  ): Promise<AppWorker> {
    const w = new AppWorker(name);
    try {
      const m = await w.#ask<Extract<Reply, { ev: "listening" }>>(
        { env, kvPath },
        (m) => typeof m === "object" && m.ev === "listening",
      );
      w.port = m.port;
    } catch (err) {
      w.worker.terminate();
      throw err;
    }
    return w;
  }

  /** The ws:// base for SignalClient.open / device() / caller(). */
  get base(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  /** A cookie-keeping HTTP client (TestClient) whose requests go to this worker. */
  client(): TestClient {
    const http = `http://127.0.0.1:${this.port}`;
    return new TestClient(async (req) => {
      const u = new URL(req.url);
      const body = req.body ? await req.arrayBuffer() : undefined;
      return await fetch(http + u.pathname + u.search, {
        method: req.method,
        headers: req.headers,
        body,
        redirect: "manual",
      });
    });
  }

  /** The worker isolate's memory (after GC when exposed) and hub counts. */
  memory(): Promise<Extract<Reply, { ev: "memory" }>> {
    return this.#ask(
      "memory",
      (m) => typeof m === "object" && m.ev === "memory",
    );
  }

  /** Stops the server cleanly, then terminates the worker. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    try {
      if (!this.#failed) await this.#ask("stop", (m) => m === "stopped");
    } finally {
      this.worker.terminate();
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
