/**
 * Signaling relay latency and memory per idle connection, on loopback.
 *
 * Servers are real Reach apps in Web Workers of this process
 * (tests/_helpers/app_worker.ts), all on one temporary KV file per bus kind;
 * clients are real WebSockets from the main thread (SignalClient).
 *
 * 1. Relay latency of a small `candidate` from the caller's socket to the
 *    callee's socket, for 1, 100 and 1000 answered calls up at once, with the
 *    caller and the callee (a) on the same worker, (b) on two workers; for each
 *    bus kind. In each round every call sends one candidate at the same moment
 *    (as ICE gathering does); latency is send → receipt on the main thread's
 *    clock, so it includes both client sockets. Rounds: 150 for 1 call (one at
 *    a time), 10 for 100, 3 for 1000 (the per-socket flood limit is a burst of
 *    200, then 50/s).
 *    Ring limits (10/min per caller token, 30/min per callee handle) are met by
 *    giving every call its own caller socket (its own random caller token) and
 *    its own callee handle; handles and sessions are written to KV before the
 *    workers start (lib/store: claimHandle, createSession), not signed up over
 *    HTTP. No limits were raised.
 * 2. Memory per idle signaling connection: a child process opens idle caller
 *    sockets (hello, welcome) to one worker; the worker reports
 *    `Deno.memoryUsage()` before and after (after a forced GC when run with
 *    `--v8-flags=--expose-gc`; V8 flags are process-wide, so workers have `gc`).
 *    heap = that worker's V8 heap; rss = the whole server process (the clients
 *    are in the child process, so not counted).
 *
 * A message not delivered within 5 s counts as lost: that call leaves the run
 * and is listed under "failures" with the reason (see the report printed).
 *
 * Run: `deno run -A bench/signal_latency.ts` (add `--v8-flags=--expose-gc` for
 * the GC before each memory reading). Takes well under two minutes.
 *
 * @module
 */
import { TEST_ENV } from "../tests/_helpers/app.ts";
import { AppWorker } from "../tests/_helpers/app_worker.ts";
import {
  caller,
  device,
  SignalClient,
} from "../tests/_helpers/signal_client.ts";
import { loadConfig } from "../lib/config.ts";
import { claimHandle } from "../lib/store/profiles.ts";
import { createSession } from "../lib/store/sessions.ts";
import { ORIGIN } from "../tests/_helpers/app.ts";

const SIZES = (Deno.env.get("BENCH_SIZES") ?? "1,100,1000").split(",").map(
  Number,
);
const ROUNDS: Record<number, number> = { 1: 150, 100: 10, 1000: 3 };
/** Rounds run first and not counted (JIT warm-up, first-message paths). */
const WARMUP: Record<number, number> = { 1: 10, 100: 1, 1000: 1 };
const IDLE = 1000;
const CANDIDATE = {
  candidate: "candidate:1 1 udp 2122260223 192.0.2.7 54321 typ host",
  sdpMid: "0",
  sdpMLineIndex: 0,
};

// ---- child process: idle caller sockets --------------------------------------
if (Deno.args[0] === "--idle-clients") {
  const n = Number(Deno.args[1]), base = Deno.args[2];
  const socks: SignalClient[] = [];
  for (let i = 0; i < n; i += 100) {
    socks.push(
      ...await Promise.all(
        Array.from({ length: Math.min(100, n - i) }, () => caller(base)),
      ),
    );
  }
  console.log("ready");
  // Stay until the parent closes stdin.
  for await (const _ of Deno.stdin.readable) { /* wait */ }
  await Promise.all(socks.map((s) => s.close()));
  Deno.exit(0);
}

// ---- helpers ------------------------------------------------------------------
function stats(ms: number[]) {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { p50: q(0.5), p99: q(0.99), max: s[s.length - 1] };
}

/** p, or a rejection as soon as one of these sockets closes. */
function orClosed<T>(p: Promise<T>, ...cs: SignalClient[]): Promise<T> {
  return Promise.race([
    p,
    ...cs.map((c) =>
      c.closed.then(({ code, reason }) => {
        throw new Error(`socket closed ${code} ${reason}`);
      })
    ),
  ]);
}

/**
 * p, or a rejection after ms. Benchmark only: a message the server loses must
 * not stall the run (the heartbeat sweep would close the socket after 45 s).
 */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${what}: not delivered within ${ms} ms`)),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
const DEADLINE_MS = 5000;

/** Runs fn over items, at most `width` at a time. */
async function pool<T, R>(
  items: T[],
  width: number,
  fn: (t: T, i: number) => Promise<R>,
): Promise<PromiseSettledResult<R>[]> {
  const out: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        try {
          out[i] = { status: "fulfilled", value: await fn(items[i], i) };
        } catch (reason) {
          out[i] = { status: "rejected", reason };
        }
      }
    }),
  );
  return out;
}

interface Owner {
  handle: string;
  cookie: string;
}

/** Handles with sessions, written straight to the KV file (before any worker runs). */
async function seedOwners(kvPath: string, n: number): Promise<Owner[]> {
  const config = loadConfig(TEST_ENV);
  const kv = await Deno.openKv(kvPath);
  const owners: Owner[] = [];
  for (let i = 0; i < n; i++) {
    const publicKey = `bench${i}`.padEnd(32, "x");
    const handle = `bench_${i}`;
    const claimed = await claimHandle(kv, handle, publicKey);
    if (!claimed.ok) throw new Error(`claim ${handle}: ${claimed.code}`);
    const { id } = await createSession(kv, publicKey, config.sessionTtlMs);
    owners.push({ handle, cookie: `${config.sessionCookie.name}=${id}` });
  }
  kv.close();
  return owners;
}

/** A device socket signed in as this owner (the cookie a browser would send). */
async function ownerDevice(base: string, o: Owner): Promise<SignalClient> {
  const [name, value] = o.cookie.split("=");
  const fake = { cookies: new Map([[name, value]]) };
  return await device(
    base,
    fake as unknown as Parameters<typeof device>[1],
  );
}

interface Call {
  callId: string;
  from: SignalClient;
  to: SignalClient;
}

/** Sets up n answered calls: callees' devices on devBase, callers on callBase. */
async function answeredCalls(
  n: number,
  owners: Owner[],
  devBase: string,
  callBase: string,
): Promise<{ calls: Call[]; failed: string[] }> {
  const failed: string[] = [];
  const setups = await pool(owners.slice(0, n), 50, async (o) => {
    const to = await ownerDevice(devBase, o);
    const from = await caller(callBase);
    const callId = crypto.randomUUID();
    const call = { callId, from, to };
    try {
      from.send({ type: "ring", callId, to: o.handle });
      await within(
        orClosed(
          Promise.all([
            from.next("ringing", (m) => m.callId === callId),
            to.next("incoming", (m) => m.callId === callId),
          ]),
          from,
          to,
        ),
        DEADLINE_MS,
        "ring",
      );
      to.send({ type: "accept", callId });
      await within(
        orClosed(
          Promise.all([
            to.next("connected-call", (m) => m.callId === callId),
            from.next("accepted", (m) => m.callId === callId),
          ]),
          from,
          to,
        ),
        DEADLINE_MS,
        "accept",
      );
      return call;
    } catch (err) {
      await Promise.all([from.close(), to.close()]);
      throw err;
    }
  });
  const calls: Call[] = [];
  for (const s of setups) {
    if (s.status === "fulfilled") calls.push(s.value);
    else failed.push(String((s.reason as Error).message ?? s.reason));
  }
  return { calls, failed };
}

/** Rounds of one candidate per call, all calls at once; latencies in ms. */
async function relay(
  calls: Call[],
  rounds: number,
  warmup: number,
): Promise<{ ms: number[]; lost: string[] }> {
  const ms: number[] = [], lost: string[] = [];
  let live = calls;
  for (let r = -warmup; r < rounds; r++) {
    const res = await Promise.allSettled(live.map(async (c) => {
      const got = c.to.next("candidate", (m) => m.callId === c.callId);
      const t0 = performance.now();
      c.from.send({
        type: "candidate",
        callId: c.callId,
        candidate: CANDIDATE,
      });
      await within(orClosed(got, c.from, c.to), DEADLINE_MS, "candidate");
      if (r >= 0) ms.push(performance.now() - t0);
    }));
    const next: Call[] = [];
    res.forEach((x, i) => {
      if (x.status === "fulfilled") next.push(live[i]);
      else lost.push(String((x.reason as Error).message ?? x.reason));
    });
    live = next;
  }
  return { ms, lost };
}

async function hangUp(calls: Call[]): Promise<void> {
  await Promise.allSettled(calls.map(async (c) => {
    c.from.send({ type: "hangup", callId: c.callId, reason: "normal" });
    await within(
      orClosed(
        c.to.next("hangup", (m) => m.callId === c.callId),
        c.from,
        c.to,
      ),
      DEADLINE_MS,
      "hangup",
    ).catch(() => {});
    await Promise.all([c.from.close(), c.to.close()]);
  }));
}

/** Memory per idle caller socket, on a fresh worker (before any call traffic). */
async function idleMemory(): Promise<Record<string, string | number>> {
  const dir = await Deno.makeTempDir({ prefix: "reach-bench-" });
  const w1 = await AppWorker.start(
    "mem",
    { ...TEST_ENV, REACH_BUS: "broadcast" },
    `${dir}/kv.sqlite3`,
  );
  let memoryRow: Record<string, string | number>;
  try {
    // Warm the route and hub paths first, so one-time allocations are not counted.
    const warm = await Promise.all(
      Array.from({ length: 20 }, () => caller(w1.base)),
    );
    await Promise.all(warm.map((c) => c.close()));
    const before = await w1.memory();
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL(import.meta.url).pathname,
        "--idle-clients",
        String(IDLE),
        w1.base,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const out = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let text = "";
    while (!text.includes("ready")) {
      const { value, done } = await out.read();
      if (done) throw new Error("idle client process ended early");
      text += value;
    }
    const after = await w1.memory();
    await child.stdin.close();
    await out.cancel();
    await child.status;
    const per = (a: number, b: number) => +((b - a) / IDLE / 1024).toFixed(2);
    memoryRow = {
      "idle callers": after.stats.callers - before.stats.callers,
      "heap KiB/conn": per(before.usage.heapUsed, after.usage.heapUsed),
      "heap+external KiB/conn": per(
        before.usage.heapUsed + before.usage.external,
        after.usage.heapUsed + after.usage.external,
      ),
      "rss KiB/conn (process)": per(before.usage.rss, after.usage.rss),
      "forced GC": after.gc ? "yes" : "no (run with --v8-flags=--expose-gc)",
    };
  } finally {
    await w1.stop();
    await Deno.remove(dir, { recursive: true });
  }
  return memoryRow;
}

// ---- main ---------------------------------------------------------------------
if (import.meta.main) {
  const started = performance.now();
  const rows: Record<string, string | number>[] = [];
  const problems: string[] = [];
  const memoryRow = await idleMemory();

  for (const kind of ["broadcast", "kv"] as const) {
    const dir = await Deno.makeTempDir({ prefix: "reach-bench-" });
    const kvPath = `${dir}/kv.sqlite3`;
    const owners = await seedOwners(kvPath, Math.max(...SIZES));
    const env = { ...TEST_ENV, REACH_BUS: kind };
    const w1 = await AppWorker.start("w1", env, kvPath);
    const w2 = await AppWorker.start("w2", env, kvPath);
    try {
      for (
        const [path, devW, callW] of [
          ["same worker", w1, w1],
          ["two workers", w1, w2],
        ] as const
      ) {
        for (const n of SIZES) {
          const t = performance.now();
          const { calls, failed } = await answeredCalls(
            n,
            owners,
            devW.base,
            callW.base,
          );
          const setupMs = performance.now() - t;
          // One call at a time would give 150 samples from one socket pair; with
          // n calls each round gives n samples.
          const { ms, lost } = await relay(calls, ROUNDS[n], WARMUP[n]);
          await hangUp(calls);
          const { p50 = NaN, p99 = NaN, max = NaN } = ms.length
            ? stats(ms)
            : {};
          rows.push({
            bus: kind,
            path,
            calls: n,
            "set up": calls.length,
            "setup s": +(setupMs / 1000).toFixed(2),
            samples: ms.length,
            "p50 ms": +p50.toFixed(3),
            "p99 ms": +p99.toFixed(3),
            "max ms": +max.toFixed(3),
          });
          if (Deno.env.get("BENCH_VERBOSE")) {
            console.error(kind, path, n, failed.slice(0, 3), lost.slice(0, 3));
          }
          for (const f of [...failed, ...lost]) {
            problems.push(`${kind}, ${path}, ${n} calls: ${f}`);
          }
        }
      }
    } finally {
      await w1.stop();
      await w2.stop();
      await Deno.remove(dir, { recursive: true });
    }
  }

  console.log(
    `signaling relay latency, caller socket → callee socket, one candidate per call per round (${Deno.build.os}, Deno ${Deno.version.deno}, origin ${ORIGIN})`,
  );
  console.table(rows);
  console.log(
    `memory per idle caller connection (${IDLE} sockets, one worker)`,
  );
  console.table([memoryRow]);
  if (problems.length) {
    const counts = new Map<string, number>();
    for (const p of problems) counts.set(p, (counts.get(p) ?? 0) + 1);
    console.log("failures (calls not set up or lost mid-run):");
    for (const [p, c] of counts) console.log(`  ${c} × ${p}`);
  }
  console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
