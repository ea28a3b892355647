/**
 * Over-the-wire figures: starts main.ts (production mode, restricted
 * permissions, in-memory KV) on a loopback port, claims a handle, then
 * sends GET /@handle from 32 concurrent connections for a bounded time and
 * prints requests per second and latency percentiles. Also prints the JS
 * weight of the page. Traffic goes to 127.0.0.1 only.
 */
import { startServer } from "../tests/_helpers/server.ts";
import { pageJsWeight } from "../tests/_helpers/js_weight.ts";
import { signUp } from "./_signup.ts";

const SECONDS = Number(Deno.env.get("LOAD_SECONDS") ?? 5);
const CONCURRENCY = Number(Deno.env.get("LOAD_CONCURRENCY") ?? 32);
const MAX_REQUESTS = 500_000;
const key = (n: number) => new Uint8Array(32).fill(n).toBase64();

await using server = await startServer({
  permissions: ["--allow-net", "--allow-env", "--allow-read"],
  env: {
    REACH_ENV: "production",
    REACH_ORIGIN: "https://reach.example",
    REACH_HMAC_KEY: key(1),
    REACH_DATA_KEYS: `k1:${key(2)}`,
    REACH_KV_PATH: ":memory:",
  },
});
const base = `http://127.0.0.1:${server.port}`;
const origin = { origin: "https://reach.example" };

// Sign in and claim the handle over HTTP, like a person would.
await signUp(base, origin.origin, "loadtest");

const html = await (await fetch(`${base}/@loadtest`)).text();
const weight = await pageJsWeight(html, (p) => fetch(base + p));

const latencies: number[] = [];
let errors = 0;
const until = performance.now() + SECONDS * 1000;
async function worker() {
  while (performance.now() < until && latencies.length < MAX_REQUESTS) {
    const t = performance.now();
    const res = await fetch(`${base}/@loadtest`);
    await res.arrayBuffer();
    if (res.status !== 200) errors++;
    latencies.push(performance.now() - t);
  }
}
const started = performance.now();
await Promise.all(Array.from({ length: CONCURRENCY }, worker));
const elapsed = (performance.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p: number) =>
  latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]
    .toFixed(2);

console.log(
  `/@handle JS: ${weight.initialGzip} bytes gzipped on load; ${weight.gzip} with the ` +
    `lazily loaded voicemail recorder (${weight.files.length} files, ${weight.bytes} bytes raw)`,
);
for (const f of weight.files) {
  console.log(
    `  ${
      f.url.replace(/^\/_frsh\/js\/[0-9a-f]+\//, "")
    }: ${f.bytes} B, ${f.gzip} B gz${f.lazy ? " (lazy)" : ""}`,
  );
}
console.log(
  `GET /@handle over loopback: ${
    (latencies.length / elapsed).toFixed(0)
  } req/s ` +
    `(${latencies.length} requests, ${CONCURRENCY} concurrent, ${
      elapsed.toFixed(1)
    } s, ${errors} errors); ` +
    `latency p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms`,
);
