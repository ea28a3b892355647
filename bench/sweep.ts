/**
 * The call sweep (signaling/sweep.ts) on a local KV file holding 10 000 live
 * calls (half ringing, half answered, none due), written with the real store
 * functions:
 *
 * 1. Sweep cost: 100 due calls are re-seeded before each run, then one
 *    `Sweeper.sweep()` ends them (settle = lib/store/calls.ts `settleCall`,
 *    no socket notifications). Baseline in the same run and KV: a bare
 *    `kv.list` of those 100 due index keys plus 100 `kv.get`s of their
 *    records, which is the least any sweep must read. Medians of RUNS runs,
 *    and the ratio, which survives a noisy machine better than the times.
 *    Also the cost of a sweep when nothing is due (what every tick pays).
 * 2. Deadline → log latency: a Sweeper on its timer (intervalMs 250, then
 *    1000); each round creates CALLS calls whose ringUntil is the same T (at
 *    a random phase of the timer) and watches their `["call_log", id]` keys
 *    (kv.watch); latency = when the record appears − T. Median, p95, max
 *    over all rounds.
 *
 * Run: deno run -A bench/sweep.ts [runs=15] [calls=100] [rounds=8]
 */
import {
  acceptCall,
  createCall,
  type NewCall,
  settleCall,
} from "../lib/store/calls.ts";
import { keys } from "../lib/store/keys.ts";
import { setLogSink } from "../lib/log.ts";
import { Sweeper } from "../signaling/sweep.ts";

const RUNS = Number(Deno.args[0] ?? 15);
const CALLS = Number(Deno.args[1] ?? 100);
const ROUNDS = Number(Deno.args[2] ?? 8);
const LIVE = 10_000;
const DUE = 100;
const RETAIN = 90 * 86_400_000;
const HOUR = 3_600_000;

setLogSink(() => {});
const wall = () => performance.timeOrigin + performance.now();

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
}
function quantile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)];
}

async function inParallel(
  n: number,
  width: number,
  fn: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < n) await fn(next++);
  }));
}

function newCall(callId: string, createdAt: number): NewCall {
  return {
    callId,
    state: "ringing",
    calleeHandle: `h_${callId.slice(0, 8)}`,
    callerHash: "c".repeat(64),
    calleeHash: "e".repeat(64),
    createdAt,
    callerResume: "r".repeat(64),
    callerConn: `caller-${callId}`,
  };
}

async function mustCreate(
  kv: Deno.Kv,
  call: NewCall,
  timers: { ringMs: number; silentMs: number; graceMs: number },
) {
  if (!await createCall(kv, call, timers)) throw new Error("create failed");
}

const dir = await Deno.makeTempDir({ prefix: "reach-bench-sweep-" });
const kv = await Deno.openKv(`${dir}/kv.sqlite3`);

// 10 000 live calls, due in an hour or more: none is due during the bench.
let t = performance.now();
const seededAt = Date.now();
await inParallel(LIVE, 32, async (i) => {
  const id = crypto.randomUUID();
  await mustCreate(kv, newCall(id, seededAt), {
    ringMs: 2 * HOUR,
    silentMs: 2 * HOUR,
    graceMs: 60_000,
  });
  if (i % 2 === 1) {
    const ok = await acceptCall(kv, id, "dev", "q", `callee-${id}`, seededAt);
    if (!ok) throw new Error("accept failed");
  }
});
console.log(
  `seeded ${LIVE} live calls in ${
    ((performance.now() - t) / 1000).toFixed(1)
  } s (createCall + acceptCall for half)`,
);

/** 100 calls that rang two hours ago: due (missed) now. */
async function seedDue(): Promise<string[]> {
  const ids = Array.from({ length: DUE }, () => crypto.randomUUID());
  const at = Date.now() - 2 * HOUR;
  await inParallel(DUE, 16, async (i) => {
    await mustCreate(kv, newCall(ids[i], at), {
      ringMs: 60_000,
      silentMs: 45_000,
      graceMs: 60_000,
    });
  });
  return ids;
}

/** The least a sweep must read: the due range and each due record. */
async function baseline(now: number): Promise<number> {
  const listed: Deno.KvKey[] = [];
  for await (
    const e of kv.list({
      start: keys.callDuePrefix(),
      end: keys.callDue(now + 1, ""),
    }, { limit: DUE })
  ) listed.push(e.key);
  await Promise.all(listed.map((k) => kv.get(keys.call(k[2] as string))));
  return listed.length;
}

const settle = async (callId: string, now: number) =>
  (await settleCall(kv, callId, RETAIN, now)).kind;
const sweeper = new Sweeper({ kv, settle, intervalMs: 60_000 });

const sweepMs: number[] = [], baseMs: number[] = [], idleMs: number[] = [];
const idleBaseMs: number[] = [];
for (let run = -1; run < RUNS; run++) { // run -1 warms up
  await seedDue();
  const now = Date.now();
  t = performance.now();
  const read = await baseline(now);
  const b = performance.now() - t;
  t = performance.now();
  const r = await sweeper.sweep(now);
  const s = performance.now() - t;
  if (read !== DUE || r.looked !== DUE || r.ended !== DUE) {
    throw new Error(
      `expected ${DUE} due: baseline read ${read}, sweep ${JSON.stringify(r)}`,
    );
  }
  t = performance.now();
  await baseline(now);
  const ib = performance.now() - t;
  t = performance.now();
  const idle = await sweeper.sweep(now);
  const i = performance.now() - t;
  if (idle.looked !== 0) throw new Error("something still due");
  if (run >= 0) {
    sweepMs.push(s);
    baseMs.push(b);
    idleMs.push(i);
    idleBaseMs.push(ib);
  }
}
console.log(
  `\n1. sweep cost, ${LIVE} live calls + ${DUE} due, median of ${RUNS} runs ` +
    `(${Deno.build.os}, Deno ${Deno.version.deno})`,
);
console.table([
  {
    what: `sweep ending ${DUE} due calls`,
    "median ms": +median(sweepMs).toFixed(2),
    "min ms": +Math.min(...sweepMs).toFixed(2),
    "baseline ms": +median(baseMs).toFixed(2),
    "× baseline": +(median(sweepMs) / median(baseMs)).toFixed(1),
  },
  {
    what: "sweep with nothing due",
    "median ms": +median(idleMs).toFixed(3),
    "min ms": +Math.min(...idleMs).toFixed(3),
    "baseline ms": +median(idleBaseMs).toFixed(3),
    "× baseline": +(median(idleMs) / median(idleBaseMs)).toFixed(1),
  },
]);
console.log(
  `baseline: kv.list of the ${DUE} due index keys + ${DUE} kv.get ` +
    `(empty range for the idle row); per ended call: ${
      (median(sweepMs) / DUE).toFixed(2)
    } ms`,
);

/** Resolves with the time each of `ids`' call-log records first appears. */
function logTimes(ids: string[]): {
  done: Promise<Map<string, number>>;
  stop: () => void;
} {
  const seen = new Map<string, number>();
  const all = Promise.withResolvers<Map<string, number>>();
  const streams: ReadableStream<Deno.KvEntryMaybe<unknown>[]>[] = [];
  for (let i = 0; i < ids.length; i += 10) {
    const group = ids.slice(i, i + 10);
    const stream = kv.watch(group.map((id) => keys.callLog(id)));
    streams.push(stream);
    (async () => {
      for await (const entries of stream) {
        const at = wall();
        entries.forEach((e, j) => {
          if (e.value !== null && !seen.has(group[j])) seen.set(group[j], at);
        });
        if (seen.size === ids.length) all.resolve(seen);
      }
    })().catch(() => {});
  }
  return {
    done: all.promise,
    stop: () => streams.forEach((s) => s.cancel().catch(() => {})),
  };
}

const rows: Record<string, string | number>[] = [];
for (const intervalMs of [250, 1000]) {
  const timed = new Sweeper({ kv, settle, intervalMs });
  timed.start();
  const lat: number[] = [];
  let lateCreates = 0;
  for (let round = 0; round < ROUNDS; round++) {
    // T: far enough ahead to create and watch the calls first, at a random
    // phase of the sweep timer.
    const T = Math.round(Date.now() + 1500 + Math.random() * intervalMs);
    const ids = Array.from({ length: CALLS }, () => crypto.randomUUID());
    const watch = logTimes(ids);
    await inParallel(CALLS, 16, async (i) => {
      await mustCreate(kv, newCall(ids[i], T - 60_000), {
        ringMs: 60_000,
        silentMs: 45_000,
        graceMs: 60_000,
      });
    });
    if (Date.now() >= T) lateCreates++;
    const seen = await watch.done;
    watch.stop();
    for (const at of seen.values()) lat.push(at - T);
  }
  await timed.stop();
  rows.push({
    "sweep interval ms": intervalMs,
    calls: lat.length,
    rounds: ROUNDS,
    "median ms": +median(lat).toFixed(1),
    "p95 ms": +quantile(lat, 0.95).toFixed(1),
    "max ms": +Math.max(...lat).toFixed(1),
    "min ms": +Math.min(...lat).toFixed(1),
    "rounds created late": lateCreates,
  });
}
console.log(
  `\n2. ringUntil → ["call_log"] record, ${CALLS} calls due at once per ` +
    `round, ${ROUNDS} rounds at random timer phases, ${LIVE}+ live calls`,
);
console.table(rows);
console.log(
  "expected without work: uniform wait for the next tick (mean interval/2, " +
    "max interval), plus the time to end the calls due together",
);

kv.close();
await Deno.remove(dir, { recursive: true });
