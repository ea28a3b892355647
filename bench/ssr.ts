/**
 * SSR of `/@handle` against a bare `Deno.serve` answering the same bytes, in
 * one run, over loopback, without any external load tool.
 *
 * - "reach": main.ts as its own process (production mode, restricted
 *   permissions, in-memory KV), a handle claimed over HTTP like a person does.
 * - "bare": a second process (this file with `--bare`) whose `Deno.serve`
 *   answers every request with the exact status, headers and body bytes the
 *   first `/@handle` answer had.
 * - "the owner, signed in": the same page for its owner's session, who
 *   gets neither the reused render nor the cached profile (every render is
 *   new, every read is from KV): the slowest path of the page.
 * - Load: CONCURRENCY fetch loops in this process (keep-alive), each round
 *   SECONDS long after a 1 s warm-up; rounds alternate bare / reach so that
 *   other work on the machine hits both alike. Printed per target: median
 *   req/s over the rounds, and the server's CPU time per request (utime +
 *   stime of its process from /proc, divided by the requests it answered),
 *   which does not depend on how much CPU the load generator gets.
 * - Then what compressing that HTML would cost per page (node:zlib, in this
 *   process), next to the SSR's CPU per request: Reach does not compress
 *   dynamic HTML (static JS and CSS are precompressed at build).
 *
 * The machine has 2 cores shared by the server, the load generator and
 * whatever else runs: read the ratios, not the absolute figures.
 *
 * Run: `deno run -A bench/ssr.ts` (env: SSR_SECONDS, SSR_ROUNDS,
 * SSR_CONCURRENCY).
 */
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import { freePort } from "../tests/_helpers/server.ts";
import { signUp } from "./_signup.ts";

// ---- child process: the bare server ------------------------------------------
if (Deno.args[0] === "--bare") {
  const spec = JSON.parse(await Deno.readTextFile(Deno.args[1])) as {
    status: number;
    headers: [string, string][];
    body: string;
  };
  const body = Uint8Array.fromBase64(spec.body);
  Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: ({ port }) => console.log(`bare ${port}`),
  }, () => new Response(body, { status: spec.status, headers: spec.headers }));
  await new Promise(() => {});
}

const SECONDS = Number(Deno.env.get("SSR_SECONDS") ?? 3);
const ROUNDS = Number(Deno.env.get("SSR_ROUNDS") ?? 5);
const CONCURRENCY = Number(Deno.env.get("SSR_CONCURRENCY") ?? 16);
const TICKS = 100; // USER_HZ on Linux
const key = (n: number) => new Uint8Array(32).fill(n).toBase64();

/** utime + stime of a process, in ms. */
async function cpuMs(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) * 1000 / TICKS;
}

interface Round {
  rps: number;
  cpuUsPerReq: number;
  bytes: number;
  errors: number;
}

/** CONCURRENCY fetch loops for `seconds` against url; counts and CPU. */
async function load(
  url: string,
  pid: number,
  seconds: number,
  headers: Record<string, string> = {},
): Promise<Round> {
  let n = 0, errors = 0, bytes = 0;
  const cpu0 = await cpuMs(pid);
  const started = performance.now();
  const until = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < until) {
        const res = await fetch(url, { headers });
        const body = await res.arrayBuffer();
        if (res.status !== 200) errors++;
        bytes = body.byteLength;
        n++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const cpu = await cpuMs(pid) - cpu0;
  return { rps: n / elapsed, cpuUsPerReq: cpu * 1000 / n, bytes, errors };
}

const median = (xs: number[]) =>
  [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

// ---- reach -------------------------------------------------------------------
/**
 * main.ts as its own process; once it listens, its output (one access-log
 * line per request) is drained without being kept or scanned, so reading it
 * costs this process (the load generator) next to nothing.
 */
async function startReach(env: Record<string, string>) {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "--allow-read", "main.ts"],
    cwd: new URL("../", import.meta.url),
    env: { ...env, PORT: String(port), NO_COLOR: "1" },
    clearEnv: true,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  const decoder = new TextDecoder();
  let out = "";
  while (!out.includes("Listening on")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`main.ts exited:\n${out}`);
    out += decoder.decode(value);
  }
  (async () => {
    while (!(await reader.read()).done) { /* drained */ }
  })();
  return {
    port,
    pid: child.pid,
    async [Symbol.asyncDispose]() {
      child.kill();
      await child.status;
    },
  };
}

await using reach = await startReach({
  REACH_ENV: "production",
  REACH_ORIGIN: "https://reach.example",
  REACH_HMAC_KEY: key(1),
  REACH_DATA_KEYS: `k1:${key(2)}`,
  REACH_KV_PATH: ":memory:",
});
const base = `http://127.0.0.1:${reach.port}`;
const origin = { origin: "https://reach.example" };
const cookie = await signUp(base, origin.origin, "ssrbench");
const page = `${base}/@ssrbench`;
const IDENTITY = { "accept-encoding": "identity" };

// ---- bare: the same answer ---------------------------------------------------
const first = await fetch(page, { headers: IDENTITY });
const firstBody = new Uint8Array(await first.arrayBuffer());
const spec = {
  status: first.status,
  headers: [...first.headers].filter(([k]) =>
    k !== "content-length" && k !== "date"
  ),
  body: firstBody.toBase64(),
};
const specFile = await Deno.makeTempFile({ suffix: ".json" });
await Deno.writeTextFile(specFile, JSON.stringify(spec));
const bareProc = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "--allow-net=127.0.0.1",
    `--allow-read=${specFile}`,
    new URL(import.meta.url).pathname,
    "--bare",
    specFile,
  ],
  stdout: "piped",
  stderr: "inherit",
}).spawn();
const lines = bareProc.stdout.pipeThrough(new TextDecoderStream()).getReader();
let out = "";
while (!/bare \d+/.test(out)) {
  const { value, done } = await lines.read();
  if (done) throw new Error("bare server exited");
  out += value;
}
lines.releaseLock();
bareProc.stdout.cancel().catch(() => {});
const bareUrl = `http://127.0.0.1:${out.match(/bare (\d+)/)![1]}/@ssrbench`;

try {
  console.log(
    `/@handle: ${firstBody.byteLength} bytes of HTML, ${spec.headers.length} headers; ` +
      `${CONCURRENCY} concurrent fetch loops, ${ROUNDS} rounds of ${SECONDS} s`,
  );
  await load(bareUrl, bareProc.pid, 1, IDENTITY);
  await load(page, reach.pid, 1, IDENTITY);
  const bare: Round[] = [], ssr: Round[] = [], owner: Round[] = [];
  const OWNER = { ...IDENTITY, cookie };
  for (let r = 0; r < ROUNDS; r++) {
    bare.push(await load(bareUrl, bareProc.pid, SECONDS, IDENTITY));
    ssr.push(await load(page, reach.pid, SECONDS, IDENTITY));
    owner.push(await load(page, reach.pid, SECONDS, OWNER));
  }
  const row = (name: string, rs: Round[]) => {
    const rps = median(rs.map((x) => x.rps));
    const cpu = median(rs.map((x) => x.cpuUsPerReq));
    const errors = rs.reduce((a, x) => a + x.errors, 0);
    console.log(
      `  ${name.padEnd(26)} ${rps.toFixed(0).padStart(6)} req/s  ` +
        `${cpu.toFixed(0).padStart(5)} µs server CPU/req  ` +
        `(rounds: ${
          rs.map((x) => x.rps.toFixed(0)).join(", ")
        }; ${errors} errors)`,
    );
    return { rps, cpu };
  };
  const b = row("bare Deno.serve", bare);
  const s = row("Reach SSR /@handle", ssr);
  row("  the owner, signed in", owner);
  // Each round's bare and SSR figures were taken one right after the other:
  // the median of their ratios is the figure least moved by other load.
  const ratios = ssr.map((x, i) => x.rps / bare[i].rps * 100);
  console.log(
    `  ratio SSR/bare: ${median(ratios).toFixed(1)}% of req/s (median of ` +
      `per-round ratios: ${ratios.map((r) => r.toFixed(0)).join(", ")}%); ` +
      `server CPU per request ${(s.cpu / b.cpu).toFixed(1)}× bare's ` +
      `(CPU-bound capacity ratio ${(b.cpu / s.cpu * 100).toFixed(1)}%)`,
  );

  // Compressing the dynamic HTML: what it would cost per page and save.
  for (
    const [name, fn] of [
      ["gzip -6", () => gzipSync(firstBody, { level: 6 })],
      ["gzip -1", () => gzipSync(firstBody, { level: 1 })],
      ["brotli q4", () =>
        brotliCompressSync(firstBody, {
          params: {
            [constants.BROTLI_PARAM_QUALITY]: 4,
            [constants.BROTLI_PARAM_LGWIN]: 16,
            [constants.BROTLI_PARAM_SIZE_HINT]: firstBody.byteLength,
          },
        })],
    ] as const
  ) {
    for (let i = 0; i < 100; i++) fn();
    const n = 1000;
    const t = performance.now();
    let size = 0;
    for (let i = 0; i < n; i++) size = fn().byteLength;
    const us = (performance.now() - t) * 1000 / n;
    console.log(
      `  compressing the HTML, ${name}: ${us.toFixed(0)} µs per page ` +
        `(${(us / s.cpu * 100).toFixed(0)}% of the SSR's CPU) to save ` +
        `${firstBody.byteLength - size} of ${firstBody.byteLength} bytes`,
    );
  }
} finally {
  bareProc.kill();
  await bareProc.status;
  await Deno.remove(specFile);
}
