/**
 * The server's part of "press Call → ring": a caller socket sends `ring`,
 * the device socket of the handle gets `incoming` (limits checked and
 * counted, the handle looked up, the call record written, presence read,
 * the devices told). Against it, in the same run, on the same server and
 * socket: a `heartbeat` → `heartbeat-ack` round trip (the least the server
 * answers: no KV, no bus). A real server process (main.ts on its own KV
 * file), real WebSockets on loopback; limits as e2e tests set them (every
 * browser shares one address there), each ring still checked and counted.
 *
 * Run: deno run -A bench/ring_latency.ts [rings=60]
 */
import { startAppServer } from "../tests/_helpers/server.ts";
import { SignalClient } from "../tests/_helpers/signal_client.ts";
import { signUp } from "./_signup.ts";

const RINGS = Number(Deno.args[0] ?? 60);

await using server = await startAppServer();
const base = server.origin;
const cookie = await signUp(base, server.origin, "ring_bench");
const client = {
  cookies: new Map([cookie.split("=") as [string, string]]),
};
const device = await SignalClient.open(base, {
  origin: server.origin,
  client: client as never,
});
device.send({
  type: "hello",
  role: "device",
  deviceId: crypto.randomUUID(),
  whenBusy: "ring",
});
await device.next("welcome");

const now = () => performance.now();
const ring: number[] = [];
const relay: number[] = [];
for (let i = 0; i < RINGS; i++) {
  const caller = await SignalClient.open(base, { origin: server.origin });
  caller.send({
    type: "hello",
    role: "caller",
    callerToken: crypto.getRandomValues(new Uint8Array(16)).toHex(),
  });
  await caller.next("welcome");
  const callId = crypto.randomUUID();
  const t0 = now();
  caller.send({ type: "ring", callId, to: "ring_bench" });
  await device.next("incoming", (m) => m.callId === callId);
  ring.push(now() - t0);
  await caller.next("ringing");
  const t1 = now();
  caller.send({ type: "heartbeat" });
  await caller.next("heartbeat-ack");
  relay.push(now() - t1);
  caller.send({ type: "cancel", callId });
  await device.next("ended", (m) => m.callId === callId);
  await caller.close();
}
await device.close();

const q = (xs: number[], p: number) =>
  [...xs].sort((a, b) =>
    a - b
  )[Math.min(xs.length - 1, Math.floor(p * xs.length))];
const line = (xs: number[]) =>
  `p50 ${q(xs, 0.5).toFixed(2)} ms, p90 ${q(xs, 0.9).toFixed(2)} ms`;
console.log(`${RINGS} rings to one handle with one device online, loopback:`);
console.log(`  ring -> incoming:            ${line(ring)}`);
console.log(`  heartbeat round trip (baseline): ${line(relay)}`);
console.log(
  `  ratio ring / heartbeat: ${(q(ring, 0.5) / q(relay, 0.5)).toFixed(1)}x`,
);
