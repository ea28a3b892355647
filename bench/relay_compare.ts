/**
 * Server CPU per relayed message, throughput and latency of three relays
 * driven with the same traffic over N socket pairs:
 *
 * - **minimal**: `Deno.serve` + `Deno.upgradeWebSocket`, each text frame sent
 *   as it is to the other socket of its pair (no parsing, no checks): the
 *   floor for a relay in Deno.
 * - **peerjs**: the PeerJS server (`npm:peer@1.0.2`, express + ws) under Deno:
 *   one JSON.parse and one JSON.stringify per message, no validation.
 * - **reach**: `main.ts` (test mode, its own KV file, the broadcast bus, every
 *   limit as shipped except the per-address ones tests raise; the per-socket
 *   flood limit of 200 a burst, 50/s is untouched), with N answered calls set
 *   up through the protocol (device hello, ring, accept), so every message
 *   goes through validation, the in-call check and the relay.
 * - **reach1**, **reach2** (only when named in RELAY_ONLY): the production
 *   entry (`deno serve --parallel serve.ts`, production mode) on one worker
 *   and on two; with two, the kernel puts each socket on a worker, so about
 *   half the calls cross the broadcast bus.
 *
 * Each server runs as its own process, so its CPU (utime + stime from
 * /proc/<pid>/stat) is its own. The clients are `bench/wsload.c`, compiled
 * here with `cc`: one epoll thread for every socket, a few µs of its own CPU
 * per message (the rest of what it spends is the kernel's loopback TCP), so
 * on a 2-core machine the server under test runs out of CPU before the load
 * generator does (Deno WebSocket clients cost about as much as the server).
 * Traffic: every socket sends at the same pace (`rate` messages a second),
 * 20 % SDP of ~3 KB (offer from the caller side, answer from the callee side)
 * and 80 % ICE candidates of ~250 B, spread evenly over the pairs. Each
 * message carries its send time, read back on receipt for latency.
 *
 * Per server: its sockets first sit idle for `RELAY_IDLE` seconds (15, one
 * Reach heartbeat interval) to measure what it spends with no traffic (Reach
 * writes each call's sign of life and each device's presence every tick);
 * then traffic runs `RELAY_WARMUP` seconds (5) unmeasured, then the window
 * (15 s by default: one heartbeat interval, so Reach's tick falls in it
 * exactly once, as in the idle window); then sending stops and whatever was
 * sent in the window is waited for (3 s at most; what does not arrive counts
 * as lost). "msg/s" is what arrived over the time it took to arrive (a server
 * that falls behind delivers after the window); "µs/msg net of idle" takes
 * the idle share out of the window's CPU.
 *
 * Run: `deno run -A bench/relay_compare.ts [pairs=1000] [rate=15] [seconds=15]`
 * (rate is per socket: 1000 pairs × 2 sockets × 15/s = 30 000 messages a
 * second offered). `RELAY_ONLY=reach,minimal` runs a subset. The PeerJS
 * server is loaded with `--no-lock`, so it never enters deno.lock.
 *
 * @module
 */
import { seedHandles } from "./_seed.ts";
import {
  freePort,
  serverPermissions,
  startAppServer,
} from "../tests/_helpers/server.ts";
import { startParallelServer } from "../tests/_helpers/serve_parallel.ts";
import { GENEROUS_LIMITS } from "../tests/_helpers/limits.ts";

const ORIGIN = "http://localhost:8000";
const PRODUCTION_ORIGIN = "https://reach.example";
const SUBPROTOCOL = "reach-signal.v1";
const PEER_SPEC = "npm:peer@1.0.2";
const THIS = new URL(import.meta.url).pathname;

// ---- traffic ---------------------------------------------------------------
/** A ~3 KB SDP (audio only, like Reach's), with a marker line for timing. */
function sdp(kind: "offer" | "answer", marker: string): string {
  const lines = [
    "v=0",
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
    "s=-",
    "t=0 0",
    "a=group:BUNDLE 0",
    "a=extmap-allow-mixed",
    "a=msid-semantic: WMS 6b1c4a2e-6f55-4b8e-9d0e-3a4f5c6d7e8f",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
    "c=IN IP4 0.0.0.0",
    "a=rtcp:9 IN IP4 0.0.0.0",
    "a=ice-ufrag:Zq3x",
    "a=ice-pwd:8h2Kd9sLq0Wm3Nb5Vc7Xz1Pa",
    "a=ice-options:trickle",
    "a=fingerprint:sha-256 4F:2A:9C:11:7B:3E:D0:58:A6:91:0C:EE:72:1F:B3:44:" +
    "6D:8A:25:C9:50:1E:FA:07:93:B2:6C:4D:E8:35:AF:10",
    `a=setup:${kind === "offer" ? "actpass" : "active"}`,
    "a=mid:0",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=sendrecv",
    "a=msid:6b1c4a2e-6f55-4b8e-9d0e-3a4f5c6d7e8f 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
    "a=rtcp-mux",
    "a=rtcp-rsize",
    "a=rtpmap:111 opus/48000/2",
    "a=rtcp-fb:111 transport-cc",
    "a=fmtp:111 minptime=10;useinbandfec=1",
    "a=rtpmap:63 red/48000/2",
    "a=fmtp:63 111/111",
    "a=rtpmap:9 G722/8000",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:13 CN/8000",
    "a=rtpmap:110 telephone-event/48000",
    "a=rtpmap:126 telephone-event/8000",
    "a=ssrc:1738502119 cname:Qm9uZ2F0ZXN0Y25hbWUx",
    "a=ssrc:1738502119 msid:6b1c4a2e-6f55-4b8e-9d0e-3a4f5c6d7e8f 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
  ];
  // Gathered candidates inline, as a non-trickle offer would carry them.
  for (let i = 0; lines.join("\r\n").length < 2900; i++) {
    lines.push(
      `a=candidate:${1000 + i} 1 udp 2122260223 192.0.2.${i} ${
        50000 + i
      } typ host generation 0 network-id ${i} network-cost 10`,
    );
  }
  lines.push(`a=x-bench:${marker}`);
  return lines.join("\r\n") + "\r\n";
}

/** ~250 B frames once wrapped; the marker carries the send time. */
function candidate(marker: string) {
  return {
    candidate:
      `candidate:842163049 1 udp 1677729535 203.0.113.7 61764 typ srflx raddr 10.0.0.5 rport 61764 generation 0 ufrag Zq3x network-cost 999 x${marker}`,
    sdpMid: "0",
    sdpMLineIndex: 0,
    usernameFragment: "Zq3x",
  };
}

type Side = "a" | "b";
/**
 * Builds the frame a side sends, split where the send time goes (wsload
 * writes `~t<µs>~` there); `a` is the caller (offers), `b` the callee
 * (answers).
 */
type Framer = (side: Side, sdpKind: boolean) => [string, string];
const MARK = "~t=~";
const split = (text: string): [string, string] => {
  const [head, tail] = text.split(MARK);
  return [head, tail];
};

/** One set-up step of a pair, for wsload: open, send, wait for a frame. */
type Step = ["O", number] | ["S", number, string] | ["W", number, string];

/** What wsload needs to drive one relay; the server is running. */
interface Plan {
  name: string;
  pid: number;
  port: number;
  /** Each connection's HTTP upgrade request. */
  requests: string[];
  /** Each pair's set-up, run `width` pairs at a time. */
  pairs: Step[][];
  width: number;
  /** Per traffic socket: its connection and frames. */
  traffic: { conn: number; small: [string, string]; big: [string, string] }[];
  /** Sent every 10 s on every socket during set-up (Reach's heartbeat). */
  heartbeat?: string;
  stop(): Promise<void>;
}

/** An HTTP/1.1 WebSocket upgrade request. */
function upgrade(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): string {
  const key = crypto.getRandomValues(new Uint8Array(16)).toBase64();
  return [
    `GET ${path} HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Key: ${key}`,
    "Sec-WebSocket-Version: 13",
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    "",
    "",
  ].join("\r\n");
}

/** Reads a child's output until it says it listens. */
async function spawnServer(args: string[]): Promise<Deno.ChildProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-lock", THIS, ...args],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!/Listening on/.test(out)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`server exited: ${out}`);
    out += value;
  }
  (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })().catch(() => {});
  return child;
}

async function stopChild(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch { /* gone */ }
  await child.status;
}

const reachFrame: (callId: string) => Framer = (callId) => (side, big) =>
  split(JSON.stringify(
    big
      ? {
        type: side === "a" ? "offer" : "answer",
        callId,
        sdp: sdp(side === "a" ? "offer" : "answer", MARK),
      }
      : { type: "candidate", callId, candidate: candidate(MARK) },
  ));

/** Traffic rows for pair i's two connections (2i: a, 2i + 1: b). */
function trafficOf(frames: Framer[]): Plan["traffic"] {
  return frames.flatMap((frame, i) =>
    (["a", "b"] as const).map((side, k) => ({
      conn: 2 * i + k,
      small: frame(side, false),
      big: frame(side, true),
    }))
  );
}

async function minimal(n: number): Promise<Plan> {
  const port = freePort();
  const child = await spawnServer(["--minimal-server", String(port)]);
  const requests: string[] = [];
  const pairs: Step[][] = [];
  for (let i = 0; i < n; i++) {
    requests.push(upgrade(port, `/?pair=${i}&side=a`));
    requests.push(upgrade(port, `/?pair=${i}&side=b`));
    pairs.push([["O", 2 * i], ["O", 2 * i + 1]]);
  }
  return {
    name: "minimal",
    pid: child.pid,
    port,
    requests,
    pairs,
    width: 100,
    traffic: trafficOf(
      Array.from({ length: n }, () => reachFrame(crypto.randomUUID())),
    ),
    stop: () => stopChild(child),
  };
}

async function peerjs(n: number): Promise<Plan> {
  const port = freePort();
  const child = await spawnServer(["--peerjs-server", String(port)]);
  const requests: string[] = [];
  const pairs: Step[][] = [];
  const frames: Framer[] = [];
  for (let i = 0; i < n; i++) {
    for (const id of [`p${i}a`, `p${i}b`]) {
      requests.push(
        upgrade(port, `/peerjs?key=peerjs&id=${id}&token=t${id}`),
      );
    }
    pairs.push([
      ["O", 2 * i],
      ["O", 2 * i + 1],
      ["W", 2 * i, '"type":"OPEN"'],
      ["W", 2 * i + 1, '"type":"OPEN"'],
    ]);
    const connectionId = `mc_${crypto.randomUUID().slice(0, 12)}`;
    frames.push((side, big) => {
      const dst = side === "a" ? `p${i}b` : `p${i}a`;
      return split(JSON.stringify(
        big
          ? {
            type: side === "a" ? "OFFER" : "ANSWER",
            payload: {
              sdp: {
                type: side === "a" ? "offer" : "answer",
                sdp: sdp(side === "a" ? "offer" : "answer", MARK),
              },
              type: "media",
              connectionId,
            },
            dst,
          }
          : {
            type: "CANDIDATE",
            payload: {
              candidate: candidate(MARK),
              type: "media",
              connectionId,
            },
            dst,
          },
      ));
    });
  }
  return {
    name: "peerjs",
    pid: child.pid,
    port,
    requests,
    pairs,
    width: 100,
    traffic: trafficOf(frames),
    stop: () => stopChild(child),
  };
}

const key = (n: number) => new Uint8Array(32).fill(n).toBase64();

/**
 * Reach: `main.ts` in test mode on one isolate (`workers` absent), or its
 * production entry on `workers` cores (`deno serve --parallel`, DENO_JOBS;
 * production mode, the broadcast bus between its workers: the kernel puts
 * each connection on a worker, so about half the calls cross).
 */
const reach = (workers?: number) => async (n: number): Promise<Plan> => {
  const dir = await Deno.makeTempDir({ prefix: "reach-relay-bench-" });
  const kvPath = `${dir}/kv.sqlite3`;
  const secrets = {
    REACH_HMAC_KEY: key(1),
    REACH_DATA_KEYS: `k1:${key(2)}`,
  };
  const origin = workers ? PRODUCTION_ORIGIN : ORIGIN;
  const env = workers
    ? {
      REACH_ENV: "production",
      REACH_ORIGIN: origin,
      REACH_BUS: "broadcast",
      REACH_KV_PATH: kvPath,
      ...secrets,
      ...GENEROUS_LIMITS,
    }
    : { REACH_ENV: "test", REACH_ORIGIN: origin, ...secrets };
  const cookies = await seedHandles(kvPath, n, "relay", env);
  const server = workers
    ? await startParallelServer({
      workers,
      permissions: serverPermissions(dir),
      env,
    })
    : await startAppServer({ REACH_ORIGIN: origin }, { dir });
  const name = workers
    ? `reach, ${workers} worker${workers > 1 ? "s" : ""}`
    : "reach";
  return reachPlan(
    name,
    origin,
    n,
    server.pid,
    server.port,
    cookies,
    async () => {
      await server.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  );
};

/** n answered calls, set up through the protocol (hello, ring, accept). */
function reachPlan(
  name: string,
  origin: string,
  n: number,
  pid: number,
  port: number,
  cookies: string[],
  stop: () => Promise<void>,
): Plan {
  const path = "/api/signal";
  const base = { origin, "Sec-WebSocket-Protocol": SUBPROTOCOL };
  const requests: string[] = [];
  const pairs: Step[][] = [];
  const frames: Framer[] = [];
  for (let i = 0; i < n; i++) {
    const [call, dev] = [2 * i, 2 * i + 1];
    requests.push(upgrade(port, path, base));
    requests.push(upgrade(port, path, { ...base, cookie: cookies[i] }));
    const callId = crypto.randomUUID();
    const send = (conn: number, m: unknown): Step => [
      "S",
      conn,
      JSON.stringify(m),
    ];
    const wait = (conn: number, type: string): Step => [
      "W",
      conn,
      `"type":"${type}"`,
    ];
    pairs.push([
      ["O", dev],
      send(dev, {
        type: "hello",
        role: "device",
        deviceId: crypto.randomUUID(),
      }),
      ["O", call],
      send(call, {
        type: "hello",
        role: "caller",
        callerToken: crypto.getRandomValues(new Uint8Array(16)).toHex(),
      }),
      wait(dev, "welcome"),
      wait(call, "welcome"),
      send(call, { type: "ring", callId, to: `relay_${i}` }),
      wait(dev, "incoming"),
      wait(call, "ringing"),
      send(dev, { type: "accept", callId }),
      wait(call, "accepted"),
      wait(dev, "connected-call"),
    ]);
    frames.push(reachFrame(callId));
  }
  return {
    name,
    pid,
    port,
    requests,
    pairs,
    width: 25,
    traffic: trafficOf(frames),
    heartbeat: JSON.stringify({ type: "heartbeat" }),
    stop,
  };
}

interface Result {
  server: string;
  pairs: number;
  offered: number;
  sent: number;
  delivered: number;
  lost: number;
  closed: number;
  "msg/s": number;
  "server CPU µs/msg": number;
  "idle CPU %": number;
  "µs/msg net of idle": number;
  "server CPU %": number;
  "client CPU %": number;
  "p50 ms": number;
  "p99 ms": number;
  "max ms": number;
}

/** wsload's script for a plan (see bench/wsload.c). */
function script(
  p: Plan,
  o: { rate: number; warmup: number; seconds: number; idle: number },
): Uint8Array {
  const enc = new TextEncoder();
  const out: Uint8Array[] = [];
  const line = (s: string) => out.push(enc.encode(s + "\n"));
  const blob = (head: string, text: string) => {
    const b = enc.encode(text);
    line(`${head} ${b.length}`);
    out.push(b);
  };
  line(
    `H 127.0.0.1 ${p.port} ${p.pid} ${p.requests.length} ${p.pairs.length} ${p.width}`,
  );
  line(`R ${o.rate} ${o.warmup} ${o.seconds} ${o.idle} 10000`);
  blob("B", p.heartbeat ?? "");
  for (const r of p.requests) blob("C", r);
  for (const steps of p.pairs) {
    line(`P ${steps.length}`);
    for (const s of steps) {
      if (s[0] === "O") line(`O ${s[1]}`);
      else blob(`${s[0]} ${s[1]}`, s[2]);
    }
  }
  for (const t of p.traffic) {
    const parts = [...t.small, ...t.big].map((x) => enc.encode(x));
    line(`T ${t.conn} ${parts.map((x) => x.length).join(" ")}`);
    out.push(...parts);
  }
  line("E");
  const all = new Uint8Array(out.reduce((a, b) => a + b.length, 0));
  let at = 0;
  for (const b of out) {
    all.set(b, at);
    at += b.length;
  }
  return all;
}

/** Compiles bench/wsload.c (a C compiler is needed: cc). */
async function buildWsload(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "reach-wsload-" });
  const bin = `${dir}/wsload`;
  const src = new URL("./wsload.c", import.meta.url).pathname;
  const cc = await new Deno.Command("cc", {
    args: ["-O2", "-Wall", "-o", bin, src],
    stderr: "inherit",
  }).output().catch(() => null);
  if (!cc?.success) {
    throw new Error(
      "bench/wsload.c did not compile: is a C compiler (cc) installed?",
    );
  }
  return bin;
}

async function drive(
  wsload: string,
  p: Plan,
  o: { rate: number; warmup: number; seconds: number; idle: number },
): Promise<Result> {
  const child = new Deno.Command(wsload, {
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(script(p, o));
  await writer.close();
  const { stdout, success } = await child.output();
  if (!success) throw new Error(`wsload failed on ${p.name}`);
  const r = JSON.parse(new TextDecoder().decode(stdout));
  const got = Math.max(1, r.delivered);
  return {
    server: p.name,
    pairs: p.pairs.length,
    offered: Math.round(r.offered),
    sent: r.sent,
    delivered: r.delivered,
    lost: r.sent - r.delivered,
    closed: r.closed,
    // Sustained: what arrived, over the time it took to arrive (a server
    // that falls behind delivers the window's messages after it).
    "msg/s": Math.round(r.delivered / Math.max(r.elapsed, r.delivering)),
    "server CPU µs/msg": +((r.serverCpu / got) * 1e6).toFixed(2),
    "idle CPU %": +(r.idleShare * 100).toFixed(1),
    "µs/msg net of idle": +(((r.serverCpu - r.idleShare * r.wall) / got) * 1e6)
      .toFixed(2),
    "server CPU %": Math.round((r.serverCpu / r.wall) * 100),
    "client CPU %": Math.round((r.clientCpu / r.wall) * 100),
    "p50 ms": r.p50,
    "p99 ms": r.p99,
    "max ms": r.max,
  };
}

async function main(): Promise<void> {
  const pairs = Number(Deno.args[0] ?? 1000);
  const rate = Number(Deno.args[1] ?? 15);
  const seconds = Number(Deno.args[2] ?? 15);
  const warmup = Number(Deno.env.get("RELAY_WARMUP") ?? 5);
  // One heartbeat interval (15 s), so Reach's tick is in it once.
  const idle = Number(Deno.env.get("RELAY_IDLE") ?? 15);
  const only = (Deno.env.get("RELAY_ONLY") ?? "minimal,peerjs,reach").split(
    ",",
  );
  const makers: Record<string, (n: number) => Promise<Plan>> = {
    minimal,
    peerjs,
    reach: reach(),
    reach1: reach(1),
    reach2: reach(2),
  };
  const wsload = await buildWsload();
  const rows: Result[] = [];
  try {
    for (const name of only) {
      const p = await makers[name](pairs);
      try {
        rows.push(await drive(wsload, p, { rate, warmup, seconds, idle }));
        console.error(JSON.stringify(rows.at(-1)));
      } finally {
        await p.stop();
      }
    }
  } finally {
    await Deno.remove(wsload.replace(/\/wsload$/, ""), { recursive: true });
  }
  console.log(
    `relay: ${pairs} pairs, ${rate} msg/s per socket (${
      pairs * 2 * rate
    } msg/s offered), 20% ~3 KB SDP + 80% ~250 B candidates, ${seconds} s measured after ${warmup} s warm-up (${Deno.build.os}, Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} CPUs)`,
  );
  console.table(rows);
  const by = (n: string) => rows.find((r) => r.server === n);
  const r = by("reach"), m = by("minimal"), p = by("peerjs");
  const ratio = (x?: Result, y?: Result) =>
    x && y
      ? (x["server CPU µs/msg"] / y["server CPU µs/msg"]).toFixed(2)
      : "n/a";
  console.log(
    `server CPU per message: reach/minimal ${ratio(r, m)}×, reach/peerjs ${
      ratio(r, p)
    }×, peerjs/minimal ${ratio(p, m)}×`,
  );
}

// ---- child processes: the two baseline servers ------------------------------
if (Deno.args[0] === "--minimal-server") {
  const port = Number(Deno.args[1]);
  const pairs = new Map<string, (WebSocket | undefined)[]>();
  Deno.serve({
    hostname: "127.0.0.1",
    port,
    onListen: () => console.log(`Listening on http://127.0.0.1:${port}/`),
  }, (req) => {
    const u = new URL(req.url);
    const pair = u.searchParams.get("pair") ?? "";
    const side = u.searchParams.get("side") === "b" ? 1 : 0;
    const { socket, response } = Deno.upgradeWebSocket(req);
    let both = pairs.get(pair);
    if (!both) pairs.set(pair, both = [undefined, undefined]);
    both[side] = socket;
    socket.onmessage = (e) => {
      const other = both![1 - side];
      if (other?.readyState === WebSocket.OPEN) other.send(e.data);
    };
    socket.onclose = () => {
      if (both![side] === socket) both![side] = undefined;
    };
    return response;
  });
} else if (Deno.args[0] === "--peerjs-server") {
  const port = Number(Deno.args[1]);
  // A computed specifier: neither `deno check` nor the lockfile sees it.
  const { PeerServer } = await import(PEER_SPEC);
  PeerServer(
    { port, host: "127.0.0.1", path: "/", concurrent_limit: 100_000 },
    () => console.log(`Listening on http://127.0.0.1:${port}/`),
  );
} else if (import.meta.main) {
  await main();
}
