/**
 * The handle Bloom filter's figures: size and measured false-positive rate
 * at 100 000 handles (in memory, exactly as served), and the time to add
 * 100 000 handles to KV through the real claim path (claim + filter bits in
 * one atomic, growth included). Run: deno run -A bench/bloom_fpr.ts
 */
import { add, createFilter, expectedFpr, has } from "../lib/bloom.ts";
import { paramsFor } from "../lib/bloom.ts";
import { capacityFor, readBloom } from "../lib/store/bloom.ts";
import { claimHandle } from "../lib/store/profiles.ts";

const N = Number(Deno.args[0] ?? 100_000);

function randomHandle(): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789_";
  const bytes = crypto.getRandomValues(new Uint8Array(19));
  const len = 5 + (bytes[0] % 14);
  let h = "";
  for (let i = 1; i <= len; i++) h += alphabet[bytes[i] % 37];
  return h;
}

const inserted = new Set<string>();
while (inserted.size < N) inserted.add(randomHandle());
const probes = new Set<string>();
while (probes.size < N) {
  const h = randomHandle();
  if (!inserted.has(h)) probes.add(h);
}

for (
  const [label, capacity] of [
    ["as served (capacity doubled)", capacityFor(N)],
    ["worst case (capacity = count)", N],
  ] as const
) {
  const filter = createFilter(paramsFor(capacity));
  for (const h of inserted) add(filter, h);
  let fp = 0;
  for (const h of probes) if (has(filter, h)) fp++;
  const p = filter.params;
  console.log(
    `${label}: ${N} handles, capacity ${capacity}, ${p.bits} bits ` +
      `(${filter.bytes.length} bytes, ${p.blocks} blocks), k=${p.hashes}, ` +
      `FPR measured ${(fp / probes.size * 100).toFixed(3)}% ` +
      `(theory ${(expectedFpr(p, N) * 100).toFixed(3)}%)`,
  );
}

const dir = await Deno.makeTempDir({ prefix: "reach-bloom-bench-" });
const kv = await Deno.openKv(`${dir}/kv.sqlite3`);
try {
  let i = 0;
  const started = performance.now();
  for (const h of inserted) {
    const res = await claimHandle(kv, h, `wallet_${i++}`);
    if (!res.ok) throw new Error(`claim ${h}: ${res.code}`);
  }
  const ms = performance.now() - started;
  const served = await readBloom(kv);
  const missing = [...inserted].filter((h) =>
    !has(createFilter(served.generation, served.bytes), h)
  ).length;
  console.log(
    `KV: ${N} claims with filter updates in ${(ms / 1000).toFixed(1)} s ` +
      `(${
        (ms / N * 1000).toFixed(0)
      } µs each); served ${served.bytes.length} ` +
      `bytes, count ${served.count}, capacity ${served.generation.capacity}, ` +
      `${missing} missing`,
  );
} finally {
  kv.close();
  await Deno.remove(dir, { recursive: true });
}
