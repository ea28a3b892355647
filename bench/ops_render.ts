/**
 * Operator dashboard at scale: 100 000 call-log records (log, callee index
 * and counters written with the same functions endCall uses), then GET /ops
 * through the real handler (median of 10) and the CSV export of the first
 * 50 000 rows. Run: deno run -A bench/ops_render.ts
 */
import { loadConfig, setConfig } from "../lib/config.ts";
import type { CallDecision, CallLogRecord } from "../lib/store/calls.ts";
import { keys } from "../lib/store/keys.ts";
import { addCallStats } from "../lib/store/stats.ts";
import { TEST_ENV, testApp } from "../tests/_helpers/app.ts";
import { newWallet } from "../tests/_helpers/wallet.ts";

const N = Number(Deno.env.get("OPS_BENCH_RECORDS") ?? 100_000);
const PER_ATOMIC = 100;
const DAY = 86_400_000;
const DECISIONS: CallDecision[] = [
  "answered",
  "answered",
  "answered",
  "missed",
  "declined",
  "cancelled",
  "unavailable",
  "busy",
];

function hex(n: number): string {
  return crypto.getRandomValues(new Uint8Array(n)).toHex();
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
}

await using app = await testApp();
const wallet = newWallet();
setConfig(loadConfig({ ...TEST_ENV, REACH_OPERATOR_KEYS: wallet.address }));
const op = app.client();
await op.signIn(wallet);

const callees = Array.from({ length: 500 }, () => hex(32));
const now = Date.now();
let t = performance.now();
for (let i = 0; i < N; i += PER_ATOMIC) {
  const atomic = app.kv.atomic();
  for (let j = i; j < Math.min(N, i + PER_ATOMIC); j++) {
    const decision = DECISIONS[j % DECISIONS.length];
    const log: CallLogRecord = {
      callId: crypto.randomUUID(),
      callerHash: hex(32),
      calleeHash: callees[j % callees.length],
      startedAt: now - Math.floor(Math.random() * 20 * DAY),
      durationMs: decision === "answered"
        ? Math.floor(Math.random() * 900_000)
        : 0,
      decision,
      relayed: decision === "answered" && j % 5 === 0,
    };
    atomic
      .set(keys.callLog(log.callId), log, { expireIn: 90 * DAY })
      .set(
        keys.callLogByCallee(log.calleeHash, log.startedAt, log.callId),
        log.callId,
        { expireIn: 90 * DAY },
      );
    addCallStats(atomic, log);
  }
  const res = await atomic.commit();
  if (!res.ok) throw new Error("seed commit failed");
}
const seedMs = performance.now() - t;
console.log(
  `seeded ${N} call-log records in ${(seedMs / 1000).toFixed(1)} s ` +
    `(${Math.round(N / (seedMs / 1000))}/s, ${PER_ATOMIC} per atomic)`,
);

async function timeGet(path: string): Promise<{ ms: number; bytes: number }> {
  const t0 = performance.now();
  const res = await op.request(path);
  const body = new Uint8Array(await res.arrayBuffer());
  const ms = performance.now() - t0;
  if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
  return { ms, bytes: body.length };
}

async function bench(label: string, path: string, runs: number) {
  await timeGet(path); // warm
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < runs; i++) {
    const r = await timeGet(path);
    times.push(r.ms);
    bytes = r.bytes;
  }
  console.log(
    `${label}: median ${median(times).toFixed(1)} ms, min ${
      Math.min(...times).toFixed(1)
    } ms, max ${Math.max(...times).toFixed(1)} ms over ${runs} runs ` +
      `(${(bytes / 1024).toFixed(1)} KiB)`,
  );
}

await bench("GET /ops", "/ops", 10);
await bench("GET /ops?decision=busy", "/ops?decision=busy", 10);
await bench(
  "GET /ops?decision=voicemail (none: 5000-record scan budget)",
  "/ops?decision=voicemail",
  10,
);

t = performance.now();
const csv = await op.request("/ops/calls.csv");
let rows = -1, bytes = 0;
const dec = new TextDecoder();
for await (const chunk of csv.body!) {
  bytes += chunk.length;
  for (const ch of dec.decode(chunk, { stream: true })) if (ch === "\n") rows++;
}
const csvMs = performance.now() - t;
console.log(
  `CSV export: ${rows} rows, ${(bytes / 1024 / 1024).toFixed(1)} MiB in ${
    csvMs.toFixed(0)
  } ms (${Math.round(rows / (csvMs / 1000))} rows/s)`,
);
