/**
 * Signaling across workers of one process, for both bus kinds: two Web Workers
 * (tests/_helpers/app_worker.ts) each serve the real app on their own loopback
 * port over the SAME KV file, like `deno serve --parallel`. The callee's device
 * sockets and the caller's socket sit on different workers, so every ring,
 * accept, relayed body and ending crosses the bus.
 *
 * `deno test --parallel` runs test files as workers of one process, so other
 * files' hubs share the broadcast bus's channel: handles and call ids here are
 * unique, which keeps their traffic and ours apart.
 */
import { owner } from "../_helpers/app.ts";
import assert from "node:assert/strict";
import { TEST_ENV } from "../_helpers/app.ts";
import { AppWorker } from "../_helpers/app_worker.ts";
import { caller, device, SignalClient } from "../_helpers/signal_client.ts";

const KINDS = ["broadcast", "kv"] as const;

/** A handle no other test file (or run) uses. */
const uniqueHandle = (what: string) =>
  `mw_${what}_${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;

/** Signs a new wallet in through this worker's HTTP and claims a handle. */

/** Rings `to` from `from`; waits for ringing and for every device's incoming. */
async function ring(
  from: SignalClient,
  to: string,
  devices: SignalClient[],
): Promise<{ callId: string; devices: number }> {
  const callId = crypto.randomUUID();
  from.send({ type: "ring", callId, to });
  const [ringing] = await Promise.all([
    from.next("ringing", (m) => m.callId === callId),
    ...devices.map(async (d) => {
      const inc = await d.next("incoming", (m) => m.callId === callId);
      assert.ok(!("from" in inc) && !("sealed" in inc), "anonymous caller");
    }),
  ]);
  return { callId, devices: ringing.devices };
}

/**
 * Runs one scenario with its sockets tracked: if the server closes any of them
 * while it runs, the scenario fails at once with the close code and reason
 * (instead of waiting for a message that will never come). Closes them all after.
 */
async function watched(
  fn: (track: (c: SignalClient) => SignalClient) => Promise<void>,
): Promise<void> {
  const sockets: SignalClient[] = [];
  let running = true;
  const { promise: broken, reject } = Promise.withResolvers<never>();
  const track = (c: SignalClient) => {
    sockets.push(c);
    c.closed.then(({ code, reason }) => {
      if (running) {
        reject(new Error(`the server closed a socket: ${code} ${reason}`));
      }
    });
    return c;
  };
  try {
    await Promise.race([fn(track), broken]);
  } finally {
    running = false;
    for (const c of sockets) await c.close();
  }
}

/** No message about callId waits unread in this client's inbox. */
function nothingAbout(c: SignalClient, callId: string, what: string) {
  const left = c.inbox.filter((m) => "callId" in m && m.callId === callId);
  assert.deepEqual(left.map((m) => m.type), [], what);
}

for (const kind of KINDS) {
  Deno.test(`multi-worker(${kind}): caller and callee on different workers of one process`, async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "reach-mw-" });
    const kvPath = `${dir}/kv.sqlite3`;
    const env = { ...TEST_ENV, REACH_BUS: kind };
    const workers: AppWorker[] = [];
    try {
      workers.push(await AppWorker.start("w1", env, kvPath));
      workers.push(await AppWorker.start("w2", env, kvPath));
      const [w1, w2] = workers;
      assert.notEqual(w1.port, w2.port);

      await t.step(
        "a full call: ring, accept, bodies both ways, hangup",
        () =>
          watched(async (track) => {
            const handle = uniqueHandle("full");
            // Signed up through worker 2; the session lives in the shared KV.
            const bob = await owner(w2, handle);
            const dev = track(await device(w1.base, bob));
            const alice = track(await caller(w2.base));

            const { callId, devices } = await ring(alice, handle, [dev]);
            assert.equal(devices, 1);
            dev.send({ type: "accept", callId });
            const [connected] = await Promise.all([
              dev.next("connected-call", (m) => m.callId === callId),
              alice.next("accepted", (m) => m.callId === callId),
            ]);
            assert.match(connected.resumeToken, /^[0-9a-f]{64}$/);

            const offer =
              `v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=${kind}-offer\r\n`;
            alice.send({ type: "offer", callId, sdp: offer });
            assert.equal((await dev.next("offer")).sdp, offer);
            const answer = `v=0\r\ns=${kind}-answer\r\n`;
            dev.send({ type: "answer", callId, sdp: answer });
            assert.equal((await alice.next("answer")).sdp, answer);

            // Candidates both ways, several in a row: they arrive in order.
            const cands = [1, 2, 3].map((i) => ({
              candidate:
                `candidate:${i} 1 udp 2122260223 192.0.2.${i} 5432${i} typ host`,
              sdpMid: "0",
              sdpMLineIndex: 0,
            }));
            for (const c of cands) {
              alice.send({ type: "candidate", callId, candidate: c });
            }
            for (const c of cands) {
              assert.deepEqual((await dev.next("candidate")).candidate, c);
            }
            for (const c of cands) {
              dev.send({ type: "candidate", callId, candidate: c });
            }
            dev.send({ type: "candidate", callId, candidate: null });
            for (const c of [...cands, null]) {
              assert.deepEqual((await alice.next("candidate")).candidate, c);
            }
            dev.send({ type: "ice-restart", callId });
            await alice.next("ice-restart", (m) => m.callId === callId);

            alice.send({ type: "hangup", callId, reason: "normal" });
            const hung = await dev.next("hangup", (m) => m.callId === callId);
            assert.equal(hung.reason, "normal");
            nothingAbout(dev, callId, "device: nothing else about the call");
            nothingAbout(alice, callId, "caller: nothing else about the call");

            // A second call, hung up by the callee this time.
            const second = await ring(alice, handle, [dev]);
            dev.send({ type: "accept", callId: second.callId });
            await alice.next("accepted", (m) => m.callId === second.callId);
            dev.send({
              type: "hangup",
              callId: second.callId,
              reason: "failed",
            });
            const back = await alice.next(
              "hangup",
              (m) => m.callId === second.callId,
            );
            assert.equal(back.reason, "failed");
          }),
      );

      await t.step(
        "two devices on different workers: the first accept wins, the other hears answered elsewhere",
        () =>
          watched(async (track) => {
            const handle = uniqueHandle("two");
            const dan = await owner(w1, handle);
            const phone = track(await device(w1.base, dan));
            const laptop = track(await device(w2.base, dan));
            const a = track(await caller(w2.base));
            const b = track(await caller(w1.base));

            // Each way round: the winner's worker tells the other worker's device.
            // (One after the other here; the next step makes them race.)
            for (
              const [from, winner, loser] of [
                [a, phone, laptop],
                [b, laptop, phone],
              ] as const
            ) {
              const call = await ring(from, handle, [phone, laptop]);
              assert.equal(call.devices, 2);
              const id = (m: { callId: string }) => m.callId === call.callId;
              winner.send({ type: "accept", callId: call.callId });
              await Promise.all([
                winner.next("connected-call", id),
                from.next("accepted", id),
                loser.next("answered-elsewhere", id),
              ]);
              // Accepting late is refused the same way, and changes nothing.
              loser.send({ type: "accept", callId: call.callId });
              await loser.next("answered-elsewhere", id);

              const offer = `v=0\r\ns=won-${call.callId}\r\n`;
              from.send({ type: "offer", callId: call.callId, sdp: offer });
              assert.equal((await winner.next("offer", id)).sdp, offer);
              // Its own answered-elsewhere would have come before the offer: none did.
              nothingAbout(
                winner,
                call.callId,
                "winner: no answered-elsewhere",
              );
              winner.send({
                type: "answer",
                callId: call.callId,
                sdp: "v=0\r\ns=a\r\n",
              });
              await from.next("answer", id);
              winner.send({
                type: "candidate",
                callId: call.callId,
                candidate: null,
              });
              await from.next("candidate", id);
              from.send({
                type: "hangup",
                callId: call.callId,
                reason: "normal",
              });
              await winner.next("hangup", id);

              // The loser got none of the call's bodies. A new ring from the same caller
              // socket is published after them by the same worker, so once the loser has
              // its incoming, any body sent its way would have arrived before it.
              const marker = await ring(from, handle, [phone, laptop]);
              from.send({ type: "cancel", callId: marker.callId });
              await Promise.all(
                [phone, laptop].map((d) =>
                  d.next("ended", (m) => m.callId === marker.callId)
                ),
              );
              await from.next("ended", (m) => m.callId === marker.callId);
              nothingAbout(loser, call.callId, "loser: nothing after losing");
            }
          }),
      );

      await t.step(
        "two devices on different workers accepting at the same instant: exactly one wins",
        () =>
          watched(async (track) => {
            const handle = uniqueHandle("race");
            const gil = await owner(w1, handle);
            const phone = track(await device(w1.base, gil));
            const laptop = track(await device(w2.base, gil));
            const a = track(await caller(w2.base));
            for (let round = 0; round < 5; round++) {
              const call = await ring(a, handle, [phone, laptop]);
              const id = (m: { callId: string }) => m.callId === call.callId;
              phone.send({ type: "accept", callId: call.callId });
              laptop.send({ type: "accept", callId: call.callId });
              const outcomes = await Promise.all([phone, laptop].map((d) =>
                Promise.race([
                  d.next("connected-call", id),
                  d.next("answered-elsewhere", id),
                ])
              ));
              assert.deepEqual(
                outcomes.map((o) =>
                  o.type
                ).sort(),
                ["answered-elsewhere", "connected-call"],
              );
              await a.next("accepted", id);
              a.send({ type: "hangup", callId: call.callId, reason: "normal" });
              const winner = outcomes[0].type === "connected-call"
                ? phone
                : laptop;
              await winner.next("hangup", id);
            }
          }),
      );

      await t.step(
        "decline and cancel across workers end the call on both sides",
        () =>
          watched(async (track) => {
            const handle = uniqueHandle("dec");
            const erin = await owner(w1, handle);
            const dev = track(await device(w1.base, erin));
            const other = track(await device(w2.base, erin));
            const a = track(await caller(w2.base));

            const declined = await ring(a, handle, [dev, other]);
            dev.send({ type: "decline", callId: declined.callId });
            const [toCaller, toDev, toOther] = await Promise.all([
              a.next("ended", (m) => m.callId === declined.callId),
              dev.next("ended", (m) => m.callId === declined.callId),
              other.next("ended", (m) => m.callId === declined.callId),
            ]);
            assert.equal(toCaller.reason, "declined");
            assert.equal(toDev.reason, "declined");
            assert.equal(toOther.reason, "declined");
            // Too late to accept a declined call.
            other.send({ type: "accept", callId: declined.callId });
            const late = await other.next(
              "error",
              (m) => m.callId === declined.callId,
            );
            assert.equal(late.code, "not_ringing");

            const cancelled = await ring(a, handle, [dev, other]);
            a.send({ type: "cancel", callId: cancelled.callId });
            for (const d of [dev, other]) {
              const e = await d.next(
                "ended",
                (m) => m.callId === cancelled.callId,
              );
              assert.equal(e.reason, "cancelled");
            }
            await a.next("ended", (m) => m.callId === cancelled.callId);
          }),
      );
    } finally {
      for (const w of workers) await w.stop();
      await Deno.remove(dir, { recursive: true });
    }
  });
}
