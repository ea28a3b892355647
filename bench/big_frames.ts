/**
 * Memory under oversized frames: 10 clients each send one 48 MiB text frame
 * to the signaling socket, and we read the server's peak RSS (VmHWM in
 * /proc/<pid>/status). Deno buffers a whole frame before JavaScript sees it,
 * so what bounds the damage is how many sockets one address may open
 * (REACH_LIMIT_SOCKETS_PER_ADDRESS) and a front proxy's frame limit (README).
 *
 * Baseline in the same run: a bare Deno.serve + upgradeWebSocket server (no
 * limits at all) under the same attack. Linux only.
 *
 *   deno run -A bench/big_frames.ts
 */
import { startAppServer, startServer } from "../tests/_helpers/server.ts";

const CLIENTS = 10;
const FRAME = 48 * 1024 * 1024;

function rss(pid: number): { now: number; peak: number } {
  const s = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)![1]);
  return { now: kb("VmRSS") / 1024, peak: kb("VmHWM") / 1024 };
}

/** Opens `CLIENTS` sockets, each sends one 48 MiB frame; how many were admitted, how they closed. */
async function attack(url: string, origin: string, protocol?: string) {
  const frame = "x".repeat(FRAME);
  const outcomes = await Promise.all(
    Array.from({ length: CLIENTS }, () =>
      new Promise<string>((resolve) => {
        const ws = new WebSocket(url, {
          protocols: protocol ? [protocol] : [],
          headers: { origin },
        } as unknown as string[]);
        ws.onopen = () => ws.send(frame);
        ws.onclose = (e) => resolve(`closed ${e.code}`);
        ws.onerror = () => {};
      })),
  );
  const counts: Record<string, number> = {};
  for (const o of outcomes) counts[o] = (counts[o] ?? 0) + 1;
  return counts;
}

const BARE = `
const port = Number(Deno.env.get("PORT"));
Deno.serve({ port, hostname: "127.0.0.1", onListen: () => console.log("Listening on http://127.0.0.1:" + port + "/") }, (req) => {
  const { socket, response } = Deno.upgradeWebSocket(req);
  socket.onmessage = (e) => { if (e.data.length > 16384) socket.close(1009, "too big"); };
  return response;
});`;

const results: string[] = [];

// Baseline: a bare relay with no limits.
{
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/main.ts`, BARE);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${dir}/main.ts`],
    env: { PORT: "18931" },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  for (let out = ""; !out.includes("Listening");) {
    out += (await reader.read()).value ?? "";
  }
  const before = rss(child.pid);
  const counts = await attack("ws://127.0.0.1:18931/", "http://x");
  const after = rss(child.pid);
  results.push(
    `bare Deno.serve relay: idle ${before.now.toFixed(0)} MiB, peak ${
      after.peak.toFixed(0)
    } MiB; ${JSON.stringify(counts)}`,
  );
  child.kill();
  await child.status;
  reader.releaseLock();
  void startServer; // (the helper below starts Reach itself)
}

for (const sockets of ["16", "4"]) {
  await using app = await startAppServer({
    REACH_LIMIT_SOCKETS_PER_ADDRESS: sockets,
    REACH_ORIGIN: "http://localhost",
  });
  // One page load first, so the idle figure includes the app's warm state.
  await (await fetch(`http://127.0.0.1:${app.port}/`)).text();
  const before = rss(app.pid);
  const counts = await attack(
    `ws://127.0.0.1:${app.port}/api/signal`,
    "http://localhost",
    "reach-signal.v1",
  );
  const after = rss(app.pid);
  results.push(
    `Reach, ${sockets} sockets per address: idle ${
      before.now.toFixed(0)
    } MiB, peak ${after.peak.toFixed(0)} MiB; ${JSON.stringify(counts)}`,
  );
}

console.log(`${CLIENTS} clients x one 48 MiB frame each, from one address:`);
for (const r of results) console.log(`  ${r}`);
