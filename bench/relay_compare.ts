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
 *
 * Each server runs as its own process, so its CPU (utime + stime from
 * /proc/<pid>/stat, before and after the measured window) is its own; the
 * clients run in this process. Traffic: every socket sends at the same pace
 * (`rate` messages a second), 20 % SDP of ~3 KB (offer from the caller side,
 * answer from the callee side) and 80 % ICE candidates of ~250 B, spread
 * evenly over the pairs. Each message carries its send time, read back on
 * receipt for latency (send → receipt, both on this process's clock).
 *
 * Per server: its sockets first sit idle for `RELAY_IDLE` seconds (15, one
 * Reach heartbeat interval) to measure what it spends with no traffic (Reach
 * writes each call's sign of life and each device's presence every tick);
 * then traffic runs `RELAY_WARMUP` seconds (5) unmeasured, then the window
 * (15 s by default: one heartbeat interval, so Reach's tick falls in it
 * exactly once, as in the idle window);
 * then sending stops and whatever was sent in the window is waited for (3 s
 * at most; what does not arrive counts as lost). "µs/msg net of idle" takes
 * the idle share out of the window's CPU.
 *
 * Run: `deno run -A bench/relay_compare.ts [pairs=1000] [rate=15] [seconds=15]`
 * (rate is per socket: 1000 pairs × 2 sockets × 15/s = 30 000 messages a
 * second offered). `RELAY_ONLY=reach,minimal` runs a subset. The PeerJS
 * server is loaded with `--no-lock`, so it never enters deno.lock.
 *
 * @module
 */
import { loadConfig } from "../lib/config.ts";
import { claimHandle } from "../lib/store/profiles.ts";
import { createSession } from "../lib/store/sessions.ts";
import { freePort, startAppServer } from "../tests/_helpers/server.ts";

const ORIGIN = "http://localhost:8000";
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

/** `~t<ms>~`: found on receipt with two indexOf calls, no JSON parse. */
const MARK = "~t=~";
function readMarker(data: string): number {
  const i = data.indexOf("~t");
  if (i < 0) return NaN;
  return +data.slice(i + 2, data.indexOf("~", i + 2));
}

type Side = "a" | "b";
/**
 * Builds the frame a side sends, with `mark` where the send time goes; `a`
 * is the caller (offers), `b` the callee (answers).
 */
type Framer = (side: Side, sdpKind: boolean, mark: string) => string;

interface Pair {
  a: WebSocket;
  b: WebSocket;
  frame: Framer;
}

interface Server {
  name: string;
  pid: number;
  pairs: Pair[];
  /** Called as traffic starts (Reach: stop the set-up heartbeats). */
  loadStarts?(): void;
  stop(): Promise<void>;
}

// ---- a tiny client for setup -----------------------------------------------
function open(
  url: string,
  opts: { protocol?: string; headers?: Record<string, string> } = {},
): Promise<WebSocket> {
  const ws = new WebSocket(url, {
    protocols: opts.protocol ? [opts.protocol] : [],
    headers: opts.headers ?? {},
  } as unknown as string[]);
  return new Promise((resolve, reject) => {
    ws.onopen = () => resolve(ws);
    ws.onerror = () => reject(new Error(`cannot open ${url}`));
  });
}

/** The next message (parsed) of this type. */
function next(
  ws: WebSocket,
  type: string,
  ms = 120_000,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.removeEventListener("message", on);
      reject(new Error(`no ${type} within ${ms} ms`));
    }, ms);
    const on = (e: MessageEvent) => {
      const m = JSON.parse(e.data);
      if (m.type !== type) return;
      clearTimeout(timer);
      ws.removeEventListener("message", on);
      resolve(m);
    };
    ws.addEventListener("message", on);
    ws.addEventListener("close", (e) => {
      clearTimeout(timer);
      reject(new Error(`closed ${e.code} ${e.reason} waiting for ${type}`));
    }, { once: true });
  });
}

async function pool<T>(
  n: number,
  width: number,
  fn: (i: number) => Promise<T>,
): Promise<T[]> {
  const out: T[] = new Array(n);
  let i = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, n) }, async () => {
      while (i < n) {
        const k = i++;
        out[k] = await fn(k);
      }
    }),
  );
  return out;
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
  // Keep draining so the child never blocks on a full pipe.
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

// ---- the three servers -------------------------------------------------------
const reachFrame: (callId: string) => Framer = (callId) => (side, big, mark) =>
  JSON.stringify(
    big
      ? {
        type: side === "a" ? "offer" : "answer",
        callId,
        sdp: sdp(side === "a" ? "offer" : "answer", mark),
      }
      : { type: "candidate", callId, candidate: candidate(mark) },
  );

async function minimal(n: number): Promise<Server> {
  const port = freePort();
  const child = await spawnServer(["--minimal-server", String(port)]);
  const pairs = await pool(n, 100, async (i) => {
    const base = `ws://127.0.0.1:${port}/?pair=${i}`;
    const [a, b] = await Promise.all([
      open(`${base}&side=a`),
      open(`${base}&side=b`),
    ]);
    return { a, b, frame: reachFrame(crypto.randomUUID()) };
  });
  return {
    name: "minimal",
    pid: child.pid,
    pairs,
    stop: () => stopChild(child),
  };
}

async function peerjs(n: number): Promise<Server> {
  const port = freePort();
  const child = await spawnServer(["--peerjs-server", String(port)]);
  const pairs = await pool(n, 100, async (i) => {
    const url = (id: string) =>
      `ws://127.0.0.1:${port}/peerjs?key=peerjs&id=${id}&token=t${id}`;
    const [a, b] = await Promise.all(
      [`p${i}a`, `p${i}b`].map(async (id) => {
        const ws = await open(url(id));
        await next(ws, "OPEN");
        return ws;
      }),
    );
    const connectionId = `mc_${crypto.randomUUID().slice(0, 12)}`;
    const frame: Framer = (side, big, mark) => {
      const dst = side === "a" ? `p${i}b` : `p${i}a`;
      return JSON.stringify(
        big
          ? {
            type: side === "a" ? "OFFER" : "ANSWER",
            payload: {
              sdp: {
                type: side === "a" ? "offer" : "answer",
                sdp: sdp(side === "a" ? "offer" : "answer", mark),
              },
              type: "media",
              connectionId,
            },
            dst,
          }
          : {
            type: "CANDIDATE",
            payload: {
              candidate: candidate(mark),
              type: "media",
              connectionId,
            },
            dst,
          },
      );
    };
    return { a, b, frame };
  });
  return {
    name: "peerjs",
    pid: child.pid,
    pairs,
    stop: () => stopChild(child),
  };
}

async function reach(n: number): Promise<Server> {
  const dir = await Deno.makeTempDir({ prefix: "reach-relay-bench-" });
  // Handles and sessions written before the server starts (as
  // bench/signal_latency.ts does): no sign-up over HTTP, no limit raised.
  const kv = await Deno.openKv(`${dir}/kv.sqlite3`);
  const key = (n: number) => new Uint8Array(32).fill(n).toBase64();
  const { name: cookie } = loadConfig({
    REACH_ENV: "test",
    REACH_ORIGIN: ORIGIN,
    REACH_HMAC_KEY: key(1),
    REACH_DATA_KEYS: `k1:${key(2)}`,
  }).sessionCookie;
  const cookies: string[] = [];
  for (let i = 0; i < n; i++) {
    const publicKey = `relay${i}`.padEnd(32, "x");
    const claimed = await claimHandle(kv, `relay_${i}`, publicKey);
    if (!claimed.ok) throw new Error(`claim: ${claimed.code}`);
    const { id } = await createSession(kv, publicKey, 3600_000);
    cookies.push(`${cookie}=${id}`);
  }
  kv.close();
  const server = await startAppServer({ REACH_ORIGIN: ORIGIN }, { dir });
  const base = `ws://127.0.0.1:${server.port}/api/signal`;
  const headers = { origin: ORIGIN };
  // Setting up 1000 calls can take longer than a silent socket is kept
  // (45 s): heartbeat like a browser until the traffic starts.
  const opened: WebSocket[] = [];
  const beat = setInterval(() => {
    for (const ws of opened) {
      if (ws.readyState === WebSocket.OPEN) {
        ws.send(JSON.stringify({ type: "heartbeat" }));
      }
    }
  }, 10_000);
  const pairs = await pool(n, 25, async (i) => {
    const dev = await open(base, {
      protocol: SUBPROTOCOL,
      headers: { ...headers, cookie: cookies[i] },
    });
    opened.push(dev);
    const welcomeDev = next(dev, "welcome");
    dev.send(JSON.stringify({
      type: "hello",
      role: "device",
      deviceId: crypto.randomUUID(),
    }));
    const call = await open(base, { protocol: SUBPROTOCOL, headers });
    opened.push(call);
    const welcomeCall = next(call, "welcome");
    call.send(JSON.stringify({
      type: "hello",
      role: "caller",
      callerToken: crypto.getRandomValues(new Uint8Array(16)).toHex(),
    }));
    await Promise.all([welcomeDev, welcomeCall]);
    const callId = crypto.randomUUID();
    const incoming = next(dev, "incoming");
    const ringing = next(call, "ringing");
    call.send(JSON.stringify({ type: "ring", callId, to: `relay_${i}` }));
    await Promise.all([incoming, ringing]);
    const accepted = next(call, "accepted");
    const connected = next(dev, "connected-call");
    dev.send(JSON.stringify({ type: "accept", callId }));
    await Promise.all([accepted, connected]);
    return { a: call, b: dev, frame: reachFrame(callId) };
  });
  return {
    name: "reach",
    pid: server.pid,
    pairs,
    loadStarts: () => clearInterval(beat),
    stop: async () => {
      clearInterval(beat);
      await server.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

// ---- measurement ---------------------------------------------------------------
/** utime + stime of a process, in seconds. */
function cpuSeconds(pid: number | "self"): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14 and 15 of stat(5); f[0] is field 3.
  return (Number(f[11]) + Number(f[12])) / 100;
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

/**
 * The server's CPU while its sockets are open and silent, as a share of one
 * core (what it spends on its own: Reach's heartbeat tick writes each
 * call's sign of life and each device's presence to KV).
 */
async function idleShare(s: Server, seconds: number): Promise<number> {
  if (seconds <= 0) return 0;
  s.loadStarts?.();
  const c0 = cpuSeconds(s.pid), t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  return (cpuSeconds(s.pid) - c0) / ((performance.now() - t0) / 1000);
}

async function drive(
  s: Server,
  rate: number,
  seconds: number,
  warmup: number,
  idle: number,
): Promise<Result> {
  // Each frame made once, split where the send time goes: sending is then
  // two string concatenations, so the clients stay cheap.
  const socks: { ws: WebSocket; small: string[]; big: string[] }[] = [];
  for (const p of s.pairs) {
    for (const [ws, side] of [[p.a, "a"], [p.b, "b"]] as const) {
      socks.push({
        ws,
        small: p.frame(side, false, MARK).split(MARK),
        big: p.frame(side, true, MARK).split(MARK),
      });
    }
  }
  let measuring = false, windowStart = 0, windowEnd = Infinity;
  let sentIn = 0, gotIn = 0, closed = 0;
  let cpu0 = 0, self0 = 0;
  const lat: number[] = [];
  for (const { ws } of socks) {
    ws.onmessage = (e: MessageEvent<string>) => {
      const t0 = readMarker(e.data);
      if (t0 >= windowStart && t0 < windowEnd && measuring) {
        gotIn++;
        lat.push(performance.now() - t0);
      }
    };
    ws.onclose = () => closed++;
  }
  s.loadStarts?.();
  const total = rate * socks.length;
  const start = performance.now();
  let sent = 0, k = 0;
  const stopAt = start + (warmup + seconds) * 1000;
  await new Promise<void>((done) => {
    const tick = () => {
      const now = performance.now();
      if (!measuring && now - start >= warmup * 1000) {
        measuring = true;
        windowStart = now;
        cpu0 = cpuSeconds(s.pid);
        self0 = cpuSeconds("self");
      }
      if (now >= stopAt) {
        windowEnd = now;
        return done();
      }
      const due = Math.floor(((now - start) / 1000) * total);
      // A client that fell behind (this machine is shared) does not catch
      // up in one burst: at most 50 ms of traffic per tick, the rest is
      // skipped (offered minus sent), so no socket bursts past its flood
      // limit.
      if (due - sent > total * 0.05) sent = due - Math.floor(total * 0.05);
      for (; sent < due; sent++, k++) {
        const sock = socks[k % socks.length];
        if (sock.ws.readyState !== WebSocket.OPEN) continue;
        // Every fifth message of a socket is an SDP.
        const [head, tail] = Math.floor(k / socks.length) % 5 === 0
          ? sock.big
          : sock.small;
        sock.ws.send(`${head}~t${performance.now().toFixed(3)}~${tail}`);
        if (measuring) sentIn++;
      }
      setTimeout(tick, 5);
    };
    tick();
  });
  const elapsed = (windowEnd - windowStart) / 1000;
  // Wait for what was sent in the window (at most 3 s).
  const until = performance.now() + 3000;
  while (gotIn < sentIn && performance.now() < until) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const cpu = cpuSeconds(s.pid) - cpu0;
  const self = cpuSeconds("self") - self0;
  const wall = (performance.now() - windowStart) / 1000;
  lat.sort((a, b) => a - b);
  const q = (p: number) =>
    lat.length
      ? +lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]
        .toFixed(2)
      : NaN;
  return {
    server: s.name,
    pairs: s.pairs.length,
    offered: Math.round(total * elapsed),
    sent: sentIn,
    delivered: gotIn,
    lost: sentIn - gotIn,
    closed,
    "msg/s": Math.round(gotIn / elapsed),
    "server CPU µs/msg": +((cpu / Math.max(1, gotIn)) * 1e6).toFixed(2),
    "idle CPU %": +(idle * 100).toFixed(1),
    "µs/msg net of idle": +(((cpu - idle * wall) / Math.max(1, gotIn)) * 1e6)
      .toFixed(2),
    "server CPU %": Math.round((cpu / wall) * 100),
    "client CPU %": Math.round((self / wall) * 100),
    "p50 ms": q(0.5),
    "p99 ms": q(0.99),
    "max ms": q(1),
  };
}
async function main(): Promise<void> {
  const pairs = Number(Deno.args[0] ?? 1000);
  const rate = Number(Deno.args[1] ?? 15);
  const seconds = Number(Deno.args[2] ?? 15);
  const warmup = Number(Deno.env.get("RELAY_WARMUP") ?? 5);
  // One heartbeat interval (15 s), so Reach's tick is in it once.
  const idleSeconds = Number(Deno.env.get("RELAY_IDLE") ?? 15);
  const only = (Deno.env.get("RELAY_ONLY") ?? "minimal,peerjs,reach").split(
    ",",
  );
  const makers: Record<string, (n: number) => Promise<Server>> = {
    minimal,
    peerjs,
    reach,
  };
  const rows: Result[] = [];
  for (const name of only) {
    const t = performance.now();
    const s = await makers[name](pairs);
    const setup = (performance.now() - t) / 1000;
    try {
      console.error(`${name}: set up ${pairs} pairs in ${setup.toFixed(1)} s`);
      const idle = await idleShare(s, idleSeconds);
      rows.push(await drive(s, rate, seconds, warmup, idle));
      console.error(JSON.stringify(rows.at(-1)));
    } finally {
      for (const p of s.pairs) {
        p.a.onclose = p.b.onclose = null;
        p.a.close();
        p.b.close();
      }
      await s.stop();
    }
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
