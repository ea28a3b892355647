/**
 * Protocol tests without a browser: real WebSockets to a real server on
 * loopback, real KV. Every message type, the call state machine, and bad
 * frames closing only the socket that sent them.
 */
import assert from "node:assert/strict";
import { callRef } from "@/lib/call_ref.ts";
import { setLogSink } from "@/lib/log.ts";
import { getCallLog } from "@/lib/store/calls.ts";
import { CLOSE, MAX_FRAME_BYTES } from "@/signaling/protocol.ts";
import { owner, testApp } from "../_helpers/app.ts";
import { caller, device, SignalClient } from "../_helpers/signal_client.ts";

/** Rings `to` from `from` and waits until a device sees it. */
async function ring(from: SignalClient, to: string, dev?: SignalClient) {
  const callId = crypto.randomUUID();
  from.send({ type: "ring", callId, to });
  const ringing = await from.next("ringing", (m) => m.callId === callId);
  if (dev) await dev.next("incoming", (m) => m.callId === callId);
  return { callId, ringing };
}

Deno.test("signal: an answered call relays offer, answer, candidates and hangup, and is logged", async () => {
  await using app = await testApp();
  const lines: string[] = [];
  setLogSink((l) => lines.push(l));
  const base = app.listen();
  const bob = await owner(app, "bob_sig");
  await using dev = await device(base, bob);
  const online = await app.client().json<{ online: boolean }>(
    "/handles/bob_sig",
  );
  assert.equal(online.body.online, true, "presence shows the device");
  await using alice = await caller(base);
  const { callId, ringing } = await ring(alice, "bob_sig", dev);
  assert.equal(ringing.devices, 1);
  assert.match(ringing.resumeToken, /^[0-9a-f]{64}$/);
  dev.send({ type: "accept", callId });
  const connected = await dev.next("connected-call");
  assert.equal(connected.callId, callId);
  await alice.next("accepted", (m) => m.callId === callId);

  const offer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=offer-body\r\n";
  alice.send({ type: "offer", callId, sdp: offer });
  assert.equal((await dev.next("offer")).sdp, offer);
  const answer = "v=0\r\ns=answer-body\r\n";
  dev.send({ type: "answer", callId, sdp: answer });
  assert.equal((await alice.next("answer")).sdp, answer);
  const cand = {
    candidate: "candidate:1 1 udp 2122260223 192.0.2.7 54321 typ host",
    sdpMid: "0",
    sdpMLineIndex: 0,
  };
  alice.send({ type: "candidate", callId, candidate: cand });
  assert.deepEqual((await dev.next("candidate")).candidate, cand);
  dev.send({ type: "candidate", callId, candidate: null });
  assert.equal((await alice.next("candidate")).candidate, null);
  dev.send({ type: "ice-restart", callId });
  await alice.next("ice-restart");
  alice.send({ type: "report", callId, relayed: true });
  alice.send({ type: "hangup", callId, reason: "normal" });
  assert.equal((await dev.next("hangup")).reason, "normal");

  // The log record is written when the call ends; wait for it through KV.
  let log = await getCallLog(app.kv, callId);
  for (let i = 0; !log && i < 100; i++) {
    await app.kv.get(["wait"]); // one KV round trip
    log = await getCallLog(app.kv, callId);
  }
  assert.ok(log, "a call-log record exists");
  assert.equal(log.decision, "answered");
  assert.equal(log.relayed, true);
  assert.ok(log.durationMs >= 0);
  assert.match(log.callerHash, /^[0-9a-f]{64}$/);
  assert.match(log.calleeHash, /^[0-9a-f]{64}$/);
  assert.ok(!JSON.stringify(log).includes("bob_sig"), "no handle in clear");

  // The server logged the call by event type and call reference, and nothing of its bodies.
  const events = lines.map((l) => JSON.parse(l).event);
  for (
    const e of ["signal.hello", "call.ring", "call.answered", "call.hangup"]
  ) {
    assert.ok(events.includes(e), e);
  }
  const all = lines.join("\n");
  for (
    const secret of [
      "offer-body",
      "answer-body",
      "192.0.2.7",
      "typ host",
      "bob_sig",
      ringing.resumeToken,
      connected.resumeToken,
      callId,
    ]
  ) {
    assert.ok(!all.includes(secret), `log leaks ${secret}`);
  }
  // The call is named by its keyed reference, the same one /ops shows.
  const refs = lines.map((l) => JSON.parse(l).call).filter(Boolean);
  assert.ok(refs.length >= 3 && refs.every((r) => r === callRef(callId)));
});

Deno.test("signal: declined, cancelled, missed, unavailable and unknown handles", async () => {
  await using app = await testApp({ REACH_RING_SECONDS: "1" });
  const base = app.listen();
  const carol = await owner(app, "carol_sig");
  await owner(app, "nobody_home");
  await using dev = await device(base, carol);
  await using a = await caller(base);

  const declined = await ring(a, "carol_sig", dev);
  dev.send({ type: "decline", callId: declined.callId });
  const ends = (id: string) => a.next("ended", (m) => m.callId === id);
  assert.equal((await ends(declined.callId)).reason, "declined");

  const cancelled = await ring(a, "carol_sig", dev);
  a.send({ type: "cancel", callId: cancelled.callId });
  const seen = await dev.next(
    "ended",
    (m) => m.callId === cancelled.callId,
  );
  assert.equal(seen.reason, "cancelled");

  const missed = await ring(a, "carol_sig", dev);
  const [toCaller, toDevice] = await Promise.all([
    a.next("ended", (m) => m.callId === missed.callId),
    dev.next("ended", (m) => m.callId === missed.callId),
  ]);
  assert.equal(toCaller.reason, "missed");
  assert.equal(toDevice.reason, "missed");

  const callId = crypto.randomUUID();
  a.send({ type: "ring", callId, to: "nobody_home" });
  assert.equal((await ends(callId)).reason, "unavailable");
  a.send({ type: "ring", callId: crypto.randomUUID(), to: "no_such_one" });
  assert.equal((await a.next("error")).code, "unknown_handle");

  for (
    const [id, decision] of [
      [declined.callId, "declined"],
      [cancelled.callId, "cancelled"],
      [missed.callId, "missed"],
      [callId, "unavailable"],
    ]
  ) {
    assert.equal((await getCallLog(app.kv, id))?.decision, decision, decision);
  }
});

Deno.test("signal: two devices ring; the first accept wins, the other hears answered elsewhere", async () => {
  await using app = await testApp();
  const base = app.listen();
  const dan = await owner(app, "dan_sig");
  await using phone = await device(base, dan);
  await using laptop = await device(base, dan);
  await using a = await caller(base);
  const callId = crypto.randomUUID();
  a.send({ type: "ring", callId, to: "dan_sig" });
  assert.equal((await a.next("ringing")).devices, 2);
  await phone.next("incoming");
  await laptop.next("incoming");
  phone.send({ type: "accept", callId });
  laptop.send({ type: "accept", callId });
  const results = await Promise.all([
    Promise.race([
      phone.next("connected-call"),
      phone.next("answered-elsewhere"),
    ]),
    Promise.race([
      laptop.next("connected-call"),
      laptop.next("answered-elsewhere"),
    ]),
  ]);
  assert.deepEqual(
    results.map((r) => r.type).sort(),
    ["answered-elsewhere", "connected-call"],
  );
  await a.next("accepted");
});

Deno.test("signal: a callee in a call answers new rings with busy, unless it chose to ring", async () => {
  await using app = await testApp();
  const base = app.listen();
  const erin = await owner(app, "erin_sig");
  await using dev = await device(base, erin);
  await using a = await caller(base);
  const first = await ring(a, "erin_sig", dev);
  dev.send({ type: "accept", callId: first.callId });
  await a.next("accepted");
  await using b = await caller(base);
  b.send({ type: "ring", callId: crypto.randomUUID(), to: "erin_sig" });
  assert.equal((await b.next("ended")).reason, "busy");

  await using ringer = await device(base, erin, crypto.randomUUID(), "ring");
  const second = crypto.randomUUID();
  b.send({ type: "ring", callId: second, to: "erin_sig" });
  assert.equal((await b.next("ringing")).callId, second);
  await ringer.next("incoming", (m) => m.callId === second);
});

Deno.test("signal: a dropped socket resumes its call with the resume token", async () => {
  await using app = await testApp();
  const base = app.listen();
  const fay = await owner(app, "fay_sig");
  await using dev = await device(base, fay);
  const a = await caller(base);
  const { callId, ringing } = await ring(a, "fay_sig", dev);
  dev.send({ type: "accept", callId });
  await a.next("accepted");
  await a.close(); // the caller's signaling drops mid-call
  await using back = await caller(base);
  back.send({ type: "resume", callId, token: "0".repeat(64) });
  assert.equal((await back.next("error")).code, "bad_resume");
  back.send({ type: "resume", callId, token: ringing.resumeToken });
  assert.equal((await back.next("resumed")).state, "answered");
  dev.send({ type: "candidate", callId, candidate: null });
  await back.next("candidate");
  back.send({ type: "hangup", callId, reason: "normal" });
  await dev.next("hangup");
});

Deno.test("signal: a device that says hello while a call rings is told about it, and not about ended ones", async () => {
  await using app = await testApp();
  const base = app.listen();
  const gus = await owner(app, "gus_sig");
  await using first = await device(base, gus);
  await using a = await caller(base);
  const live = await ring(a, "gus_sig", first);
  const gone = await ring(a, "gus_sig", first);
  a.send({ type: "cancel", callId: gone.callId });
  await first.next("ended", (m) => m.callId === gone.callId);
  // A second tab (or the same one after its isolate died) opens now.
  await using late = await device(base, gus);
  const inc = await late.next("incoming");
  assert.equal(inc.callId, live.callId, "the ringing call, not the cancelled");
  assert.deepEqual(inc, {
    type: "incoming",
    callId: live.callId,
    replay: true,
  });
  late.send({ type: "accept", callId: live.callId });
  await late.next("connected-call");
  await a.next("accepted", (m) => m.callId === live.callId);
  await first.next("answered-elsewhere", (m) => m.callId === live.callId);
  // Once answered, it no longer rings for anyone who arrives.
  // (It says whenBusy "ring", so a new call rings while gus is in this one.)
  await using later = await device(base, gus, crypto.randomUUID(), "ring");
  const b = await caller(base);
  const probe = await ring(b, "gus_sig");
  const next = await later.next("incoming");
  assert.equal(
    next.callId,
    probe.callId,
    "only the new ring, not the answered call",
  );
  await b.close();
});

Deno.test("signal: a side that does not resume within the grace ends the call once, with the duration up to its drop", async () => {
  await using app = await testApp({
    REACH_RESUME_GRACE_SECONDS: "0.5",
    REACH_SWEEP_SECONDS: "60",
  });
  const base = app.listen();
  const hal = await owner(app, "hal_sig");
  await using dev = await device(base, hal);
  const a = await caller(base);
  const { callId } = await ring(a, "hal_sig", dev);
  dev.send({ type: "accept", callId });
  await a.next("accepted");
  const answeredAt = Date.now();
  await a.close();
  const droppedAt = Date.now();
  const hangup = await dev.next("hangup", (m) => m.callId === callId);
  const heard = Date.now();
  assert.equal(hangup.reason, "connection_lost");
  assert.ok(heard - droppedAt >= 450, "not before the grace");
  const log = await getCallLog(app.kv, callId);
  assert.equal(log?.decision, "answered");
  assert.ok(
    log!.durationMs <= droppedAt - answeredAt + 50,
    `duration ${log!.durationMs} ms stops at the drop, not at the grace`,
  );
  // Busy no more: a new call rings.
  await using b = await caller(base);
  const again = await ring(b, "hal_sig", dev);
  assert.equal(again.ringing.devices, 1);
});

Deno.test("signal: bad frames close only their own socket, with a code", async () => {
  await using app = await testApp();
  const base = app.listen();
  const gus = await owner(app, "gus_sig");
  await using dev = await device(base, gus);
  await using a = await caller(base);
  const { callId } = await ring(a, "gus_sig", dev);
  dev.send({ type: "accept", callId });
  await a.next("accepted");

  const cases: [string, (c: SignalClient) => void, number, boolean][] = [
    ["malformed JSON", (c) => c.sendRaw("{not json"), CLOSE.badFrame, false],
    [
      "unknown type",
      (c) => c.send({ type: "teleport" }),
      CLOSE.badFrame,
      false,
    ],
    [
      "no hello",
      (c) => c.send({ type: "cancel", callId }),
      CLOSE.helloRequired,
      false,
    ],
    [
      "oversize frame",
      (c) =>
        c.sendRaw(
          JSON.stringify({
            type: "heartbeat",
            pad: "x".repeat(MAX_FRAME_BYTES),
          }),
        ),
      CLOSE.tooLarge,
      false,
    ],
    [
      "someone else's call",
      (c) => c.send({ type: "offer", callId, sdp: "v=0" }),
      CLOSE.forbidden,
      true,
    ],
    [
      "a caller accepting",
      (c) => c.send({ type: "accept", callId }),
      CLOSE.forbidden,
      true,
    ],
    [
      "flood",
      (c) => {
        for (let i = 0; i < 250; i++) c.send({ type: "heartbeat" });
      },
      CLOSE.rateLimited,
      true,
    ],
  ];
  for (const [what, act, code, hello] of cases) {
    const c = hello ? await caller(base) : await SignalClient.open(base);
    act(c);
    const closed = await c.closed;
    assert.equal(closed.code, code, what);
    assert.ok(closed.reason.length > 0, `${what}: a reason`);
  }
  // A device socket without a signed-in owner is refused.
  const anon = await SignalClient.open(base);
  anon.send({ type: "hello", role: "device", deviceId: crypto.randomUUID() });
  assert.equal((await anon.closed).code, CLOSE.notAuthenticated);

  // The call in progress was not touched.
  a.send({ type: "offer", callId, sdp: "v=0\r\ns=still-here\r\n" });
  assert.equal((await dev.next("offer")).sdp, "v=0\r\ns=still-here\r\n");
});

Deno.test("signal: the handshake needs our origin and subprotocol", async () => {
  await using app = await testApp();
  const base = app.listen();
  await assert.rejects(
    SignalClient.open(base, { origin: "https://evil.example" }),
  );
  await assert.rejects(SignalClient.open(base, { protocol: "other.v9" }));
  const plain = await app.client().json("/api/signal");
  assert.equal(plain.status, 426);
});
