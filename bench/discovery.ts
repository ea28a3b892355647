/**
 * Contact-discovery throughput: 500 findable owners in a real KV file, then
 * POST /api/discover with 500 numbers (half of them bound) through the real
 * handler, 20 times. Run: deno run -A bench/discovery.ts
 */
import { bindPhone, setDiscoverable } from "../lib/store/phones.ts";
import { claimHandle } from "../lib/store/profiles.ts";
import { testApp } from "../tests/_helpers/app.ts";
import { newWallet } from "../tests/_helpers/wallet.ts";

await using app = await testApp();
const numbers: string[] = [];
for (let i = 0; i < 500; i++) {
  const e164 = `+4479110${String(i).padStart(5, "0")}`;
  numbers.push(e164);
  if (i % 2) continue;
  const handle = `disc_${i}`;
  await claimHandle(app.kv, handle, newWallet().address);
  const r = await bindPhone(app.kv, app.config, handle, e164);
  if (!r.ok) throw new Error("bind failed");
  await setDiscoverable(app.kv, handle, true);
}
const c = app.client();
await c.signIn(newWallet());
// Discovery needs a handle; the test env's limits are generous enough for 20 x 500.
await c.json("/api/handles", {
  method: "POST",
  body: { handle: "bench_asker" },
});
const times: number[] = [];
let matches = 0;
for (let i = 0; i < 20; i++) {
  const t = performance.now();
  const res = await c.json<{ matches: unknown[] }>("/api/discover", {
    method: "POST",
    body: { phones: numbers },
  });
  times.push(performance.now() - t);
  if (res.status !== 200) throw new Error(`status ${res.status}`);
  matches = res.body.matches.length;
}
times.sort((a, b) => a - b);
const p50 = times[10];
console.log(
  `discovery: 500 numbers per request, ${matches} matches; p50 ${
    p50.toFixed(1)
  } ms, ` +
    `max ${times.at(-1)!.toFixed(1)} ms; ${
      (500 / (p50 / 1000)).toFixed(0)
    } numbers/s`,
);
