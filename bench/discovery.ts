/**
 * Contact-discovery throughput through the real handler and a real KV file:
 * POST /api/me/discover/evaluate with 100 blinded elements (the most a
 * request takes), 20 times, then GET /api/discover/directory with 500
 * findable owners, cold and revalidated. The numbers are blinded before the
 * clock starts, as a browser would have done. CPU-only figures and the
 * browser's side: bench/discovery_oprf.ts.
 * Run: deno run -A bench/discovery.ts
 */
import { bindPhone, setDiscoverable } from "../lib/store/phones.ts";
import { owner, testApp } from "../tests/_helpers/app.ts";
import { blinded } from "../tests/_helpers/discovery.ts";

await using app = await testApp();
for (let i = 0; i < 500; i++) {
  const handle = `disc_${i}`;
  const r = await bindPhone(
    app.kv,
    app.config,
    handle,
    `+4479110${String(i).padStart(5, "0")}`,
  );
  if (!r.ok) throw new Error("bind failed");
  await setDiscoverable(app.kv, app.config, handle, true);
}
// Evaluation needs a handle; the test env's limits are generous enough.
const c = await owner(app, "bench_asker");
const batch = blinded(100);
const times: number[] = [];
for (let i = 0; i < 21; i++) {
  const t = performance.now();
  const res = await c.json("/api/me/discover/evaluate", {
    method: "POST",
    body: { keyId: app.config.discoveryKeys[0].kid, blinded: batch },
  });
  if (i > 0) times.push(performance.now() - t); // the first warms up
  if (res.status !== 200) throw new Error(`status ${res.status}`);
}
times.sort((a, b) => a - b);
const p50 = times[10];
const t0 = performance.now();
const dir = await c.request("/api/discover/directory");
const bytes = (await dir.arrayBuffer()).byteLength;
const coldMs = performance.now() - t0;
const t1 = performance.now();
const again = await c.request("/api/discover/directory", {
  headers: { "if-none-match": dir.headers.get("etag")! },
});
const revalidateMs = performance.now() - t1;
if (again.status !== 304) throw new Error(`status ${again.status}`);
console.log(
  `discovery: evaluate 100 blinded elements per request: p50 ${
    p50.toFixed(1)
  } ms, max ${times.at(-1)!.toFixed(1)} ms; ${
    (100 / (p50 / 1000)).toFixed(0)
  } elements/s; directory of 500: ${bytes} B in ${
    coldMs.toFixed(1)
  } ms, 304 in ${revalidateMs.toFixed(1)} ms`,
);
