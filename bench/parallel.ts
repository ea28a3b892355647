/**
 * Relay throughput on one core and on two: the production entry under
 * `deno serve --parallel serve.ts` with DENO_JOBS=1 and with DENO_JOBS=2,
 * both running at once (production mode, one KV file each, the broadcast bus,
 * every configurable limit raised).
 *
 * On each server: PAIRS answered calls, each between its own caller socket
 * and its own callee's device socket (handles signed up over HTTP). The
 * kernel places every connection on a worker, so with two workers about half
 * of the calls have their two sockets on different workers and every message
 * of theirs crosses the bus. Load: each socket sends `candidate` messages to
 * its peer, at most WINDOW unanswered at a time and at most 40 a second (the
 * hub's per-socket flood limit, 50/s, is fixed), so the offered load is up
 * to 80 × PAIRS messages a second and the server's own speed caps what
 * arrives. Rounds of SECONDS alternate 1 worker / 2 workers so that other
 * work on the machine hits both alike. Printed per server: messages relayed
 * per second (received by the far socket), median over the rounds, the
 * server process's CPU time per relayed message (all its workers, from
 * /proc), and the ratio 2 workers / 1 worker.
 *
 * The clients run in this process, on the same 2 cores as the servers: with
 * two workers busy, the load generator competes with them for the cores, so
 * the msg/s ratio is a floor of what two cores give a server that has them
 * to itself; the CPU per message shows what a message costs either way.
 *
 * Run: `deno run -A bench/parallel.ts` (env: PARALLEL_PAIRS,
 * PARALLEL_SECONDS, PARALLEL_ROUNDS, PARALLEL_WINDOW).
 */
import { GENEROUS_LIMITS } from "../tests/_helpers/limits.ts";
import {
  type ParallelServer,
  startParallelServer,
} from "../tests/_helpers/serve_parallel.ts";
import { seedHandles } from "./_seed.ts";
import { serverPermissions } from "../tests/_helpers/server.ts";
import { SUBPROTOCOL } from "../signaling/protocol.ts";

const PAIRS = Number(Deno.env.get("PARALLEL_PAIRS") ?? 300);
const SECONDS = Number(Deno.env.get("PARALLEL_SECONDS") ?? 4);
const ROUNDS = Number(Deno.env.get("PARALLEL_ROUNDS") ?? 3);
const WINDOW = Number(Deno.env.get("PARALLEL_WINDOW") ?? 4);
/** Sends per socket per tick of TICK_MS: 2 per 50 ms is 40 a second. */
const PER_TICK = 2;
const TICK_MS = 50;
const TICKS = 100; // USER_HZ on Linux
const ORIGIN = "https://reach.example";
const key = (n: number) => new Uint8Array(32).fill(n).toBase64();

function socket(base: string, cookie?: string): Promise<WebSocket> {
  const ws = new WebSocket(`${base.replace("http", "ws")}/api/signal`, {
    protocols: [SUBPROTOCOL],
    headers: { origin: ORIGIN, ...(cookie ? { cookie } : {}) },
  } as unknown as string[]);
  return new Promise((resolve, reject) => {
    ws.onopen = () => {
      ws.onclose = (e) => {
        if (!closing) console.error(`a socket closed: ${e.code} ${e.reason}`);
      };
      resolve(ws);
    };
    ws.onerror = () => reject(new Error("ws error"));
  });
}

/** The next message of `type` on ws (setup only: parses every message). */
function next(
  ws: WebSocket,
  type: string,
): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.type === type) resolve(m);
    };
  });
}

interface Call {
  caller: WebSocket;
  device: WebSocket;
  toDevice: string;
  toCaller: string;
}

interface Setup {
  workers: number;
  server: ParallelServer;
  calls: Call[];
  dir: string;
}

const ENV = {
  REACH_ENV: "production",
  REACH_ORIGIN: ORIGIN,
  REACH_HMAC_KEY: key(1),
  REACH_DATA_KEYS: `k1:${key(2)}`,
  REACH_BUS: "broadcast",
  ...GENEROUS_LIMITS,
};

async function setUp(workers: number): Promise<Setup> {
  const dir = await Deno.makeTempDir({ prefix: "reach-bench-parallel-" });
  const prefix = `par${workers}`;
  const cookies = await seedHandles(`${dir}/kv.sqlite3`, PAIRS, prefix, ENV);
  const server = await startParallelServer({
    workers,
    permissions: serverPermissions(dir),
    env: { ...ENV, REACH_KV_PATH: `${dir}/kv.sqlite3` },
  });
  const calls: Call[] = [];
  const setUpCall = async (i: number) => {
    const handle = `${prefix}_${i}`;
    const device = await socket(server.base, cookies[i]);
    let w = next(device, "welcome");
    device.send(JSON.stringify({
      type: "hello",
      role: "device",
      deviceId: crypto.randomUUID(),
      whenBusy: "busy",
    }));
    await w;
    const caller = await socket(server.base);
    w = next(caller, "welcome");
    caller.send(JSON.stringify({
      type: "hello",
      role: "caller",
      callerToken: crypto.getRandomValues(new Uint8Array(16)).toHex(),
    }));
    await w;
    const callId = crypto.randomUUID();
    const incoming = next(device, "incoming");
    caller.send(JSON.stringify({ type: "ring", callId, to: handle }));
    await incoming;
    const accepted = next(caller, "accepted");
    device.send(JSON.stringify({ type: "accept", callId }));
    await accepted;
    const candidate = (n: number) =>
      JSON.stringify({
        type: "candidate",
        callId,
        candidate: {
          candidate:
            `candidate:${n} 1 udp 2122260223 192.0.2.${n} 5432${n} typ host`,
          sdpMid: "0",
          sdpMLineIndex: 0,
        },
      });
    calls.push({
      caller,
      device,
      toDevice: candidate(1),
      toCaller: candidate(2),
    });
  };
  // Every socket heard from while the others are set up.
  const beat = setInterval(() => {
    for (const c of calls) {
      c.caller.send('{"type":"heartbeat"}');
      c.device.send('{"type":"heartbeat"}');
    }
  }, 10_000);
  try {
    for (let i = 0; i < PAIRS; i += 8) {
      await Promise.all(
        Array.from(
          { length: Math.min(8, PAIRS - i) },
          (_, k) => setUpCall(i + k),
        ),
      );
    }
  } finally {
    clearInterval(beat);
  }
  return { workers, server, calls, dir };
}

/** utime + stime of a process (all its threads), in ms. */
async function cpuMs(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) * 1000 / TICKS;
}

let closing = false;

interface Round {
  rate: number;
  /** Server CPU time per relayed message, µs. */
  cpuUs: number;
  /** Cores the server and this process (the clients) kept busy. */
  cores: number;
  clientCores: number;
}

interface Flow {
  from: WebSocket;
  msg: string;
  inFlight: number;
}

/**
 * One round: messages relayed per second over `seconds`, and the server's
 * CPU time per relayed message in µs.
 */
async function round(
  s: Setup,
  seconds: number,
): Promise<Round> {
  let received = 0;
  const flows: Flow[] = [];
  for (const c of s.calls) {
    for (
      const [from, to, msg] of [
        [c.caller, c.device, c.toDevice],
        [c.device, c.caller, c.toCaller],
      ] as const
    ) {
      const flow: Flow = { from, msg, inFlight: 0 };
      flows.push(flow);
      to.onmessage = (e) => {
        if ((e.data as string).startsWith('{"type":"candidate"')) {
          received++;
          flow.inFlight--;
        }
      };
    }
  }
  let sending = true;
  const tick = () => {
    if (!sending) return;
    for (const f of flows) {
      const n = Math.min(PER_TICK, WINDOW - f.inFlight);
      for (let i = 0; i < n; i++) f.from.send(f.msg);
      if (n > 0) f.inFlight += n;
    }
  };
  const timer = setInterval(tick, TICK_MS);
  tick();
  // Counted after a first second, once the flows run steadily.
  await new Promise((r) => setTimeout(r, 1000));
  const cpu0 = await cpuMs(s.server.pid);
  const own0 = await cpuMs(Deno.pid);
  const r0 = received;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const n = received - r0;
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = await cpuMs(s.server.pid) - cpu0;
  const own = await cpuMs(Deno.pid) - own0;
  sending = false;
  clearInterval(timer);
  // Let what is in flight arrive, and keep every socket heard from.
  await new Promise((r) => setTimeout(r, 1000));
  for (const c of s.calls) {
    c.caller.send('{"type":"heartbeat"}');
    c.device.send('{"type":"heartbeat"}');
  }
  return {
    rate: n / elapsed,
    cpuUs: cpu * 1000 / n,
    cores: cpu / 1000 / elapsed,
    clientCores: own / 1000 / elapsed,
  };
}

const median = (xs: number[]) =>
  [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

const one = await setUp(1);
const two = await setUp(2);
try {
  console.log(
    `relay: ${PAIRS} answered calls per server (${PAIRS * 2} sockets), up to ` +
      `${WINDOW} candidates in flight and ${
        PER_TICK * 1000 / TICK_MS
      }/s per socket (${
        PAIRS * 2 * PER_TICK * 1000 / TICK_MS
      } msg/s offered); ` +
      `${ROUNDS} rounds of ${SECONDS} s`,
  );
  const r1: Round[] = [];
  const r2: typeof r1 = [];
  for (let r = 0; r < ROUNDS; r++) {
    r1.push(await round(one, SECONDS));
    r2.push(await round(two, SECONDS));
  }
  const row = (name: string, rs: typeof r1) => {
    const rate = median(rs.map((x) => x.rate));
    const cpu = median(rs.map((x) => x.cpuUs));
    const cores = median(rs.map((x) => x.cores));
    const client = median(rs.map((x) => x.clientCores));
    console.log(
      `  ${name}: ${rate.toFixed(0).padStart(6)} msg/s, ` +
        `${cpu.toFixed(1)} µs server CPU per message; server busy ` +
        `${cores.toFixed(2)} cores, load generator ${client.toFixed(2)} ` +
        `(rounds: ${rs.map((x) => x.rate.toFixed(0)).join(", ")})`,
    );
    return { rate, cpu };
  };
  const a = row("1 worker ", r1);
  const b = row("2 workers", r2);
  console.log(
    `  ratio 2 workers / 1 worker: ${(b.rate / a.rate).toFixed(2)}× msg/s; ` +
      `server CPU per message ${(b.cpu / a.cpu).toFixed(2)}× ` +
      `(the calls whose sockets sit on different workers cross the bus); ` +
      `with ${navigator.hardwareConcurrency} cores to itself, ` +
      `2 workers could relay ${(b.cpu > 0 ? 2e6 / b.cpu : 0).toFixed(0)} ` +
      `msg/s, 1 worker ${(a.cpu > 0 ? 1e6 / a.cpu : 0).toFixed(0)} ` +
      `(${(a.cpu / b.cpu * 2).toFixed(2)}×)`,
  );
} finally {
  closing = true;
  for (const s of [one, two]) {
    for (const c of s.calls) {
      c.caller.close();
      c.device.close();
    }
    await s.server.stop();
    await Deno.remove(s.dir, { recursive: true });
  }
}
