/**
 * A protocol fuzzer against live calls: intruders (an anonymous caller, a
 * device of another handle, and an idle device of the callee's own handle)
 * send every message type, with the ids of a live answered call, a ringing
 * call, an ended call and random ones, in a seeded random order, while the
 * real calls keep relaying. No intruder may receive anything of those calls,
 * nor change them; every bad frame closes only the intruder's socket.
 */
import assert from "node:assert/strict";
import { getCall } from "@/lib/store/calls.ts";
import type { ClientMessage, ServerMessage } from "@/signaling/protocol.ts";
import { owner, testApp } from "../_helpers/app.ts";
import { caller, device, SignalClient } from "../_helpers/signal_client.ts";

/** mulberry32: a small seeded generator, so a failure can be replayed. */
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Every message type a browser may send: a missing one does not compile, so
 * the fuzzer covers each type the protocol gains.
 */
const EVERY_TYPE: Record<ClientMessage["type"], true> = {
  hello: true,
  heartbeat: true,
  ring: true,
  cancel: true,
  accept: true,
  decline: true,
  offer: true,
  answer: true,
  candidate: true,
  "ice-restart": true,
  verify: true,
  hangup: true,
  report: true,
  resume: true,
};
const TYPES = Object.keys(EVERY_TYPE) as ClientMessage["type"][];

/** Types that carry a call's content or control: never for an intruder. */
const PRIVATE = new Set<ServerMessage["type"]>([
  "offer",
  "answer",
  "candidate",
  "ice-restart",
  "verify",
  "hangup",
  "accepted",
  "connected-call",
  "resumed",
  "ringing",
]);

function message(
  type: ClientMessage["type"],
  callId: string,
  rnd: () => number,
): Record<string, unknown> {
  const hex = (n: number) =>
    Array.from({ length: n }, () => Math.floor(rnd() * 16).toString(16))
      .join("");
  const m: Record<string, unknown> = { type, callId };
  switch (type) {
    case "hello":
      return rnd() < 0.5
        ? { type, role: "caller", callerToken: hex(32) }
        : { type, role: "device", deviceId: crypto.randomUUID() };
    case "heartbeat":
      return { type };
    case "ring":
      m.to = rnd() < 0.5 ? "bob_fuzz" : "nobody_fuzz";
      break;
    case "offer":
    case "answer":
      m.sdp = `v=0\r\ns=intruder-${hex(6)}\r\n`;
      break;
    case "candidate":
      m.candidate = rnd() < 0.3 ? null : {
        candidate: `candidate:9 1 udp 1 198.51.100.${
          Math.floor(rnd() * 250)
        } 9 typ host`,
        sdpMid: "0",
        sdpMLineIndex: 0,
      };
      break;
    case "verify":
      Object.assign(m, {
        cert: hex(20),
        certSig: hex(20),
        statement: hex(20),
        sig: hex(20),
      });
      break;
    case "hangup":
      m.reason = "normal";
      break;
    case "report":
      m.relayed = rnd() < 0.5;
      break;
    case "resume":
      m.token = hex(64);
      break;
  }
  // Sometimes a malformed twin: an unknown field or a wrong type.
  const r = rnd();
  if (r < 0.05) m.extra = 1;
  else if (r < 0.08) m.callId = 42;
  return m;
}

Deno.test("fuzz: intruders sending every message type in every call state change nothing and hear nothing", async () => {
  const seed = Number(Deno.env.get("REACH_FUZZ_SEED") ?? Date.now() % 1e9);
  const rnd = prng(seed);
  const why = `(replay with REACH_FUZZ_SEED=${seed})`;
  await using app = await testApp();
  const base = app.listen();
  const bob = await owner(app, "bob_fuzz");
  const eve = await owner(app, "eve_fuzz");
  await using answering = await device(base, bob, undefined, "ring");
  await using alice = await caller(base);
  await using carol = await caller(base);

  // X: answered. Y: ringing. Z: ended.
  const X: string = crypto.randomUUID();
  const Y: string = crypto.randomUUID();
  const Z: string = crypto.randomUUID();
  alice.send({ type: "ring", callId: X, to: "bob_fuzz" });
  await answering.next("incoming", (m) => m.callId === X);
  answering.send({ type: "accept", callId: X });
  await alice.next("accepted", (m) => m.callId === X);
  alice.send({ type: "ring", callId: Z, to: "bob_fuzz" });
  await answering.next("incoming", (m) => m.callId === Z);
  alice.send({ type: "cancel", callId: Z });
  await alice.next("ended", (m) => m.callId === Z);
  carol.send({ type: "ring", callId: Y, to: "bob_fuzz" });
  await carol.next("ringing", (m) => m.callId === Y);
  const xBefore = await getCall(app.kv, X);
  const yBefore = await getCall(app.kv, Y);

  const open = {
    stranger: () => caller(base),
    otherDevice: () => device(base, eve),
    sameHandleDevice: () => device(base, bob),
  };
  type Who = keyof typeof open;
  const intruders = new Map<Who, SignalClient>();
  for (const who of Object.keys(open) as Who[]) {
    intruders.set(who, await open[who]());
  }
  const leaks: string[] = [];
  const watch = (who: Who, c: SignalClient) => {
    for (const m of c.inbox) {
      if (!("callId" in m) || ![X, Y, Z].includes(m.callId as string)) continue;
      // The callee's other device is told of rings and their endings only.
      if (PRIVATE.has(m.type)) leaks.push(`${who} got ${m.type}`);
    }
  };

  let closes = 0;
  for (let round = 0; round < 240; round++) {
    const who = (Object.keys(open) as Who[])[Math.floor(rnd() * 3)];
    let c = intruders.get(who)!;
    if (c.ws.readyState !== WebSocket.OPEN) {
      watch(who, c);
      closes++;
      c = await open[who]();
      intruders.set(who, c);
    }
    const ids = who === "sameHandleDevice"
      ? [X, Z, crypto.randomUUID()] // accepting Y would be its right
      : [X, Y, Z, crypto.randomUUID()];
    const callId = ids[Math.floor(rnd() * ids.length)];
    const type = TYPES[Math.floor(rnd() * TYPES.length)];
    c.send(message(type, callId, rnd));

    if (round % 40 === 39) {
      // The real call still relays both ways.
      const sdp = `v=0\r\ns=real-${round}\r\n`;
      alice.send({ type: "offer", callId: X, sdp });
      assert.equal(
        (await answering.next("offer", (m) => m.callId === X)).sdp,
        sdp,
        why,
      );
      answering.send({ type: "answer", callId: X, sdp });
      assert.equal(
        (await alice.next("answer", (m) => m.callId === X)).sdp,
        sdp,
        why,
      );
      for (const [w, s] of intruders) {
        if (s.ws.readyState !== WebSocket.OPEN) continue;
        s.send({ type: "heartbeat" });
        await s.next("heartbeat-ack").catch(() => {});
        watch(w, s);
      }
    }
  }
  for (const [w, s] of intruders) {
    watch(w, s);
    await s.close();
  }
  assert.deepEqual(
    leaks,
    [],
    `nothing of the calls reached an intruder ${why}`,
  );
  assert.ok(
    closes > 10,
    `bad frames closed intruders' sockets (${closes}) ${why}`,
  );

  // Nothing the intruders sent reached the real sides.
  const foreign = [...alice.inbox, ...answering.inbox].filter((m) =>
    (m.type === "offer" || m.type === "answer" || m.type === "candidate" ||
      m.type === "verify" || m.type === "hangup") &&
    "sdp" in m && String(m.sdp).includes("intruder")
  );
  assert.deepEqual(foreign, [], why);
  assert.ok(
    !alice.inbox.some((m) => m.type === "hangup" || m.type === "candidate"),
    `the caller obeyed no intruder ${why}`,
  );
  const xAfter = await getCall(app.kv, X);
  assert.equal(xAfter?.state, "answered", why);
  assert.equal(xAfter?.callerConn, xBefore?.callerConn, why);
  assert.equal(xAfter?.calleeConn, xBefore?.calleeConn, why);
  const yAfter = await getCall(app.kv, Y);
  assert.equal(
    yAfter?.state,
    "ringing",
    `the ringing call was not touched ${why}`,
  );
  assert.equal(yAfter?.callerConn, yBefore?.callerConn, why);
  // And the ringing call still works for its real caller and callee.
  answering.send({ type: "accept", callId: Y });
  await carol.next("accepted", (m) => m.callId === Y);
});
