/**
 * Private contact discovery (lib/phone/DISCOVERY.md), in figures:
 *
 * 1. Server CPU to evaluate blinded elements (ristretto255 VOPRF): one element
 *    with its proof, and a 100-element batch with one proof; and to make one
 *    directory entry (evaluate + HKDF + AES-GCM), as bind and rotation do.
 * 2. A browser with 200 contacts (100 of them findable), end to end through
 *    the real handler and a real KV file: blind, evaluate, verify, download
 *    the directory, match; then again from its kept outputs.
 * 3. The directory at 10k and 100k findable numbers: bytes, chunks, the time
 *    to build every chunk from KV, to serve them built, and to answer 304s.
 *
 * Run: deno run -A bench/discovery_oprf.ts
 */
import process from "node:process";
import { findByPhone } from "../lib/client/discovery.ts";
import { memoryStore } from "../lib/client/oprf_cache.ts";
import { chunkBits } from "../lib/phone/directory.ts";
import { directoryChunk } from "../lib/phone/discovery.ts";
import { discoveryKey, oprfInput, voprf } from "../lib/phone/oprf.ts";
import { makeEntry, replaceEntry } from "../lib/store/discovery.ts";
import { bindPhone, setDiscoverable } from "../lib/store/phones.ts";
import { owner, testApp } from "../tests/_helpers/app.ts";
import { through } from "../tests/_helpers/discovery.ts";

const median = (xs: number[]) => xs.toSorted((a, b) => a - b)[xs.length >> 1];
const ms = (x: number) => `${x.toFixed(2)} ms`;
const kb = (b: number) => `${(b / 1024).toFixed(0)} KiB`;

/**
 * Milliseconds of this process's CPU (user + system) per run: unlike wall
 * time, not inflated by other processes sharing the machine.
 */
function cpu(fn: () => unknown, runs: number): number {
  const start = process.cpuUsage();
  for (let i = 0; i < runs; i++) fn();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000 / runs;
}

/** Median wall-clock milliseconds per run. */
function time(fn: () => unknown, runs: number): number {
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const s = performance.now();
    fn();
    t.push(performance.now() - s);
  }
  return median(t);
}

// ------------------------------------------------------------------ 1
const seed = { kid: "b1", key: crypto.getRandomValues(new Uint8Array(32)) };
const key = discoveryKey(seed);
const blindedOf = (n: number) =>
  Array.from(
    { length: n },
    (_, i) =>
      voprf.blind(oprfInput(`+4479110${String(i).padStart(5, "0")}`)).blinded,
  );
const one = blindedOf(1);
const hundred = blindedOf(100);
// Warm up (the base point's tables, the JIT).
for (let i = 0; i < 5; i++) {
  voprf.blindEvaluateBatch(key.secretKey, key.publicKey, hundred);
}
const single = cpu(
  () => voprf.blindEvaluateBatch(key.secretKey, key.publicKey, one),
  200,
);
const batch = cpu(
  () => voprf.blindEvaluateBatch(key.secretKey, key.publicKey, hundred),
  30,
);
const batchWall = time(
  () => voprf.blindEvaluateBatch(key.secretKey, key.publicKey, hundred),
  15,
);
let entryMs = 0;
{
  const start = process.cpuUsage();
  for (let i = 0; i < 200; i++) {
    await makeEntry(seed, `+4479110${String(i).padStart(5, "0")}`, `h${i}abc`);
  }
  const used = process.cpuUsage(start);
  entryMs = (used.user + used.system) / 1000 / 200;
}
console.log(
  `discovery oprf: server CPU: evaluate 1 element + proof ${ms(single)}; ` +
    `100-element batch + 1 proof ${ms(batch)} (${
      ms(batch / 100)
    } per element; wall ${ms(batchWall)}); ` +
    `one directory entry (evaluate + seal) ${ms(entryMs)}`,
);

// ------------------------------------------------------------------ 2
{
  await using app = await testApp();
  const contacts = Array.from(
    { length: 200 },
    (_, i) => `+4479110${String(10000 + i).padStart(5, "0")}`,
  );
  for (let i = 0; i < contacts.length; i += 2) {
    await bindPhone(app.kv, app.config, `friend_${i}`, contacts[i]);
    await setDiscoverable(app.kv, app.config, `friend_${i}`, true);
  }
  const finder = await owner(app, "bench_finder");
  const store = memoryStore();
  const stages = new Map<string, number>();
  let last = performance.now();
  let stage = "";
  const t0 = performance.now();
  const r = await findByPhone(contacts, {
    fetch: through(finder),
    store,
    onProgress: (s) => {
      const now = performance.now();
      if (stage) stages.set(stage, (stages.get(stage) ?? 0) + now - last);
      stage = s;
      last = now;
    },
  });
  const total = performance.now() - t0;
  stages.set(stage, (stages.get(stage) ?? 0) + performance.now() - last);
  if (r.matches.length !== 100 || r.evaluated !== 200) {
    throw new Error(`expected 100 matches of 200, got ${r.matches.length}`);
  }
  // The parts the browser does itself, timed alone.
  const inputs = contacts.map(oprfInput);
  let blinds: { blind: Uint8Array; blinded: Uint8Array }[] = [];
  const blindMs = cpu(() => {
    blinds = inputs.map((x) => voprf.blind(x));
  }, 5);
  const k = discoveryKey(app.config.discoveryKeys[0]);
  const halves = [0, 100].map((at) =>
    voprf.blindEvaluateBatch(
      k.secretKey,
      k.publicKey,
      blinds.slice(at, at + 100).map((b) => b.blinded),
    )
  );
  const verifyMs = cpu(() => {
    for (const [h, at] of [[0, 0], [1, 100]]) {
      voprf.finalizeBatch(
        inputs.slice(at, at + 100).map((input, i) => ({
          input,
          blind: blinds[at + i].blind,
          blinded: blinds[at + i].blinded,
          evaluated: halves[h].evaluated[i],
        })),
        k.publicKey,
        halves[h].proof,
      );
    }
  }, 5);
  const t1 = performance.now();
  const again = await findByPhone(contacts, { fetch: through(finder), store });
  const againMs = performance.now() - t1;
  if (again.evaluated !== 0 || again.matches.length !== 100) {
    throw new Error("the kept outputs were not used");
  }
  console.log(
    `discovery oprf: browser, 200 contacts (100 findable): end to end ${
      ms(total)
    } ` +
      `(key ${ms(stages.get("key") ?? 0)}, blind+evaluate+verify ${
        ms(stages.get("evaluating") ?? 0)
      }, directory ${ms(stages.get("directory") ?? 0)}, match ${
        ms(stages.get("matching") ?? 0)
      }); ` +
      `CPU alone: blind 200 ${ms(blindMs)}, verify+unblind 200 ${
        ms(verifyMs)
      }; again from kept outputs ${ms(againMs)}`,
  );
}

// ------------------------------------------------------------------ 3
for (const n of [10_000, 100_000]) {
  await using app = await testApp();
  const kid = app.config.discoveryKeys[0].kid;
  const tFill = performance.now();
  for (let at = 0; at < n; at += 250) {
    const op = app.kv.atomic();
    for (let i = at; i < Math.min(n, at + 250); i++) {
      replaceEntry(op, `owner_${i}`, undefined, {
        kid,
        tag: crypto.getRandomValues(new Uint8Array(8)),
        box: crypto.getRandomValues(new Uint8Array(60)),
      });
    }
    const res = await op.commit();
    if (!res.ok) throw new Error("fill failed");
  }
  const fillMs = performance.now() - tFill;
  const chunks = 1 << chunkBits(n);
  const serve = async (etags?: string[]) => {
    let bytes = 0;
    const out: string[] = [];
    const t = performance.now();
    for (let c = 0; c < chunks; c++) {
      const r = await directoryChunk(
        app.kv,
        app.config,
        c,
        etags?.[c] ?? null,
      );
      if (!r.ok) throw new Error(r.code);
      if (!r.data.current) bytes += r.data.body.length;
      out.push(r.data.etag);
    }
    return { ms: performance.now() - t, bytes, etags: out };
  };
  const cold = await serve();
  const warm = await serve();
  const revalidate = await serve(cold.etags);
  console.log(
    `discovery oprf: directory of ${n} findable numbers: ${
      kb(cold.bytes)
    } in ${chunks} chunk(s) ` +
      `(${(cold.bytes / n).toFixed(1)} B each); build every chunk from KV ${
        ms(cold.ms)
      }, ` +
      `serve them built ${ms(warm.ms)}, 304 for all ${
        ms(revalidate.ms)
      }; (writing the ${n} entries: ${(fillMs / 1000).toFixed(1)} s)`,
  );
}
