/**
 * A heartbeat tick's KV writes (signaling/hub.ts `tick`), on a local KV file
 * holding CALLS answered calls whose two sides are both on this isolate, and
 * DEVICES online device sockets: what an isolate pays every heartbeat with
 * its sockets open and silent.
 *
 * - before: what the tick did until now, one `touchCall` per call side and
 *   one `markOnline` per device, all started at once and awaited together;
 * - after: `touchCalls` (both sides of a call in one write, ten calls per
 *   getMany and atomic step) and `markOnlineMany` (100 devices per step).
 *
 * Both run in the same process on the same KV, alternating, ROUNDS times
 * each; medians of wall time and of the process's CPU time (user + system,
 * from /proc/self/stat where present), and the ratio before/after. A second
 * line gives the CPU share of one core that a 15-second heartbeat costs per
 * 1000 calls.
 *
 * Run: deno run -A bench/tick.ts [calls=1000] [devices=500] [rounds=9]
 */
import {
  acceptCall,
  createCall,
  touchCall,
  touchCalls,
} from "../lib/store/calls.ts";
import { markOnline, markOnlineMany } from "../lib/store/presence.ts";
import { setLogSink } from "../lib/log.ts";

const CALLS = Number(Deno.args[0] ?? 1000);
const DEVICES = Number(Deno.args[1] ?? 500);
const ROUNDS = Number(Deno.args[2] ?? 9);
const HEARTBEAT_S = 15;

setLogSink(() => {});

/** User + system CPU of this process in ms (Linux), else NaN. */
function cpuMs(): number {
  try {
    const f = Deno.readTextFileSync("/proc/self/stat").split(") ")[1]
      .split(" ");
    // utime and stime are fields 14 and 15 (1-based), here 12 and 13.
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return NaN;
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

const dir = await Deno.makeTempDir({ prefix: "reach-tick-" });
const kv = await Deno.openKv(`${dir}/kv.sqlite3`);
const now0 = Date.now();
const ids: string[] = [];
for (let i = 0; i < CALLS; i++) {
  const callId = crypto.randomUUID();
  await createCall(kv, {
    callId,
    state: "ringing",
    calleeHandle: `h${i % 100}`,
    callerHash: "c".repeat(64),
    calleeHash: "e".repeat(64),
    createdAt: now0,
    callerResume: "r".repeat(64),
    callerConn: `caller-${callId}`,
  }, { ringMs: 3_600_000, silentMs: 3_600_000, graceMs: 60_000 });
  await acceptCall(kv, callId, "dev", "q".repeat(64), `callee-${callId}`);
  ids.push(callId);
}
const devices = Array.from({ length: DEVICES }, (_, i) => ({
  handle: `h${i % 100}`,
  deviceId: crypto.randomUUID(),
  whenBusy: "busy" as const,
}));
const touches = ids.flatMap((id) => [
  { callId: id, side: "caller" as const, conn: `caller-${id}` },
  { callId: id, side: "callee" as const, conn: `callee-${id}` },
]);

async function before() {
  const now = Date.now();
  await Promise.all([
    ...devices.map((d) => markOnline(kv, d.handle, d.deviceId, d.whenBusy)),
    ...touches.map((t) => touchCall(kv, t.callId, t.side, t.conn, now)),
  ]);
}

async function after() {
  const now = Date.now();
  await Promise.all([
    markOnlineMany(kv, devices, now),
    touchCalls(kv, touches, now),
  ]);
}

const runs = { before: [] as number[], after: [] as number[] };
const cpu = { before: [] as number[], after: [] as number[] };
await before();
await after(); // warm both
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, f] of [["before", before], ["after", after]] as const) {
    const c0 = cpuMs(), t0 = performance.now();
    await f();
    runs[name].push(performance.now() - t0);
    cpu[name].push(cpuMs() - c0);
  }
}
kv.close();
await Deno.remove(dir, { recursive: true });

const fmt = (x: number) => x.toFixed(1);
const b = median(runs.before), a = median(runs.after);
const cb = median(cpu.before), ca = median(cpu.after);
console.log(
  `tick with ${CALLS} answered calls (both sides here) and ${DEVICES} devices, median of ${ROUNDS}:`,
);
console.log(
  `  before (touchCall per side, markOnline per device): ${fmt(b)} ms wall, ${
    fmt(cb)
  } ms CPU`,
);
console.log(
  `  after  (touchCalls, markOnlineMany):                ${fmt(a)} ms wall, ${
    fmt(ca)
  } ms CPU`,
);
console.log(
  `  ratio before/after: ${(b / a).toFixed(2)}x wall, ${
    (cb / ca).toFixed(2)
  }x CPU`,
);
const share = (ms: number) =>
  `${(ms / (HEARTBEAT_S * 1000) * 100 * 1000 / CALLS).toFixed(2)}%`;
console.log(
  `  one core per 1000 calls at a ${HEARTBEAT_S} s heartbeat: before ${
    share(cb)
  }, after ${share(ca)}`,
);
