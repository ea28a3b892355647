/**
 * A hostile client on the signaling socket: it must not take over someone
 * else's call, lose its own call by a refused ring, talk before hello, hold
 * more sockets than its address may, or dodge the ring limits by choosing a
 * new caller token. Real sockets to a real server on loopback, real KV.
 */
import assert from "node:assert/strict";
import { getCall } from "@/lib/store/calls.ts";
import { CLOSE, SUBPROTOCOL } from "@/signaling/protocol.ts";
import { ORIGIN, owner, testApp } from "../_helpers/app.ts";
import { caller, device, SignalClient } from "../_helpers/signal_client.ts";
import { keysWithExpiry, keysWithoutExpiry } from "../_helpers/kv_expiry.ts";
import { newWallet } from "../_helpers/wallet.ts";

/** A round trip on `c`'s own socket: whatever was sent to it before has arrived. */
async function settle(c: SignalClient) {
  c.send({ type: "heartbeat" });
  await c.next("heartbeat-ack");
}

/** Messages in `c`'s inbox that belong to call `callId`. */
function about(c: SignalClient, callId: string) {
  return c.inbox.filter((m) => "callId" in m && m.callId === callId);
}

/** A live answered call between a caller and a device of `handle`. */
async function liveCall(base: string, handle: string, dev: SignalClient) {
  const alice = await caller(base);
  const callId = crypto.randomUUID();
  alice.send({ type: "ring", callId, to: handle });
  await alice.next("ringing", (m) => m.callId === callId);
  await dev.next("incoming", (m) => m.callId === callId);
  dev.send({ type: "accept", callId });
  await dev.next("connected-call", (m) => m.callId === callId);
  await alice.next("accepted", (m) => m.callId === callId);
  return { alice, callId };
}

/** Offer, answer and a candidate each way still relay between the real sides. */
async function stillRelays(
  alice: SignalClient,
  dev: SignalClient,
  callId: string,
  tag: string,
) {
  const offer = `v=0\r\ns=${tag}-offer\r\n`;
  alice.send({ type: "offer", callId, sdp: offer });
  assert.equal(
    (await dev.next("offer", (m) => m.callId === callId)).sdp,
    offer,
  );
  const answer = `v=0\r\ns=${tag}-answer\r\n`;
  dev.send({ type: "answer", callId, sdp: answer });
  assert.equal(
    (await alice.next("answer", (m) => m.callId === callId)).sdp,
    answer,
  );
  const cand = {
    candidate: `candidate:1 1 udp 1 192.0.2.9 ${tag.length + 1000} typ host`,
    sdpMid: "0",
    sdpMLineIndex: 0,
  };
  dev.send({ type: "candidate", callId, candidate: cand });
  assert.deepEqual(
    (await alice.next("candidate", (m) => m.callId === callId)).candidate,
    cand,
  );
}

Deno.test("hardening: a stranger who learned a live call id can neither hear nor speak for it", async () => {
  await using app = await testApp();
  const base = app.listen();
  const bob = await owner(app, "bob_hard");
  await using dev = await device(base, bob);
  const { alice, callId } = await liveCall(base, "bob_hard", dev);
  await using _a = alice;
  const before = await getCall(app.kv, callId);

  // Mallory rings with Bob's live call id: refused, and not joined to it.
  await using mallory = await caller(base);
  mallory.send({ type: "ring", callId, to: "bob_hard" });
  const refused = await mallory.next("error", (m) => m.callId === callId);
  assert.equal(refused.code, "call_exists");

  // The real call goes on; none of it reaches Mallory.
  await stillRelays(alice, dev, callId, "after-ring");
  await settle(mallory);
  assert.deepEqual(
    about(mallory, callId).filter((m) => m.type !== "error"),
    [],
    "Mallory got nothing of the call (before the fix she got accepted, the answer and candidates)",
  );

  // Whatever she sends for it closes her socket, and Bob hears none of it.
  mallory.send({ type: "offer", callId, sdp: "v=0\r\ns=mallory\r\n" });
  assert.equal((await mallory.closed).code, CLOSE.forbidden);
  await using m2 = await caller(base);
  m2.send({ type: "hangup", callId, reason: "normal" });
  assert.equal((await m2.closed).code, CLOSE.forbidden);
  await settle(dev);
  assert.ok(
    !dev.inbox.some((m) => m.type === "offer" || m.type === "hangup"),
    "Bob obeyed nothing Mallory sent",
  );
  await stillRelays(alice, dev, callId, "after-offer");
  const after = await getCall(app.kv, callId);
  assert.equal(after?.state, "answered");
  assert.equal(after?.callerConn, before?.callerConn);
  assert.equal(after?.calleeConn, before?.calleeConn);
});

Deno.test("hardening: a refused ring does not cost the caller its own ringing call", async () => {
  await using app = await testApp();
  const base = app.listen();
  const bob = await owner(app, "bob_keep");
  await using dev = await device(base, bob);
  await using alice = await caller(base);
  const callId = crypto.randomUUID();
  alice.send({ type: "ring", callId, to: "bob_keep" });
  await alice.next("ringing", (m) => m.callId === callId);
  await dev.next("incoming", (m) => m.callId === callId);

  // Ringing its own call again, at a handle no one has: refused, nothing lost.
  alice.send({ type: "ring", callId, to: "nobody_here_x" });
  assert.equal(
    (await alice.next("error", (m) => m.callId === callId)).code,
    "unknown_handle",
  );
  dev.send({ type: "accept", callId });
  await alice.next("accepted", (m) => m.callId === callId);
  await stillRelays(alice, dev, callId, "own");
});

Deno.test("hardening: an ended call cannot be re-joined by ringing its id", async () => {
  await using app = await testApp();
  const base = app.listen();
  const bob = await owner(app, "bob_ended");
  await using dev = await device(base, bob);
  const { alice, callId } = await liveCall(base, "bob_ended", dev);
  alice.send({ type: "hangup", callId, reason: "normal" });
  await dev.next("hangup", (m) => m.callId === callId);
  await alice.close();

  await using again = await caller(base);
  again.send({ type: "ring", callId, to: "bob_ended" });
  assert.equal(
    (await again.next("error", (m) => m.callId === callId)).code,
    "call_exists",
  );
  // Bob's device sends a late candidate: dropped, and it reaches no one.
  dev.send({ type: "candidate", callId, candidate: null });
  await settle(again);
  await settle(dev);
  assert.deepEqual(
    about(again, callId).filter((m) => m.type !== "error"),
    [],
  );
  again.send({ type: "offer", callId, sdp: "v=0\r\n" });
  assert.equal((await again.closed).code, CLOSE.forbidden);
});

Deno.test("hardening: nothing but hello is answered before hello", async () => {
  await using app = await testApp();
  const base = app.listen();
  await using s = await SignalClient.open(base);
  s.send({ type: "heartbeat" });
  const closed = await s.closed;
  assert.equal(closed.code, CLOSE.helloRequired);
  assert.deepEqual(s.inbox, [], "no heartbeat-ack before hello");
});

Deno.test("hardening: a socket that never says hello is closed after the deadline", async () => {
  await using app = await testApp();
  const base = app.listen();
  await using s = await SignalClient.open(base);
  const t0 = performance.now();
  const closed = await s.closed;
  const waited = performance.now() - t0;
  assert.equal(closed.code, CLOSE.helloRequired);
  assert.match(closed.reason, /hello/);
  assert.ok(waited >= 4_000 && waited < 15_000, `closed after ${waited} ms`);
});

function upgradeRequest(headers: Record<string, string> = {}) {
  return new Request(`${ORIGIN}/api/signal`, {
    headers: {
      upgrade: "websocket",
      connection: "Upgrade",
      origin: ORIGIN,
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      "sec-websocket-version": "13",
      "sec-websocket-protocol": SUBPROTOCOL,
      ...headers,
    },
  });
}

Deno.test("hardening: an address holds at most its socket limit, across the handshake", async () => {
  await using app = await testApp({
    REACH_LIMIT_SOCKETS_PER_ADDRESS: "3",
    REACH_PROXY_HEADER: "x-forwarded-for",
  });
  const base = app.listen();
  const from = { "x-forwarded-for": "203.0.113.7" };
  const held = [];
  for (let i = 0; i < 3; i++) {
    held.push(await SignalClient.open(base, { headers: from }));
  }
  // The fourth is refused before any upgrade: nothing of it is buffered.
  await assert.rejects(SignalClient.open(base, { headers: from }));
  const res = await app.handler(upgradeRequest(from));
  assert.equal(res.status, 429);
  assert.equal((await res.json()).error, "too_many_connections");
  assert.ok(res.headers.get("content-security-policy"), "security headers");
  // An address in the same IPv6 /64 counts as the same address.
  const v6 = { "x-forwarded-for": "2001:db8:1:2::1" };
  for (let i = 0; i < 3; i++) {
    held.push(await SignalClient.open(base, { headers: v6 }));
  }
  await assert.rejects(
    SignalClient.open(base, {
      headers: { "x-forwarded-for": "2001:db8:1:2:ffff::9" },
    }),
  );
  // Another address is not affected, and closing a socket frees its slot.
  held.push(
    await SignalClient.open(base, {
      headers: { "x-forwarded-for": "198.51.100.4" },
    }),
  );
  await held[0].close();
  // The slot is released as the server sees the close; retry until it has.
  let again: SignalClient | null = null;
  for (let i = 0; i < 200 && !again; i++) {
    again = await SignalClient.open(base, { headers: from }).catch(() => null);
  }
  assert.ok(again, "a closed socket's slot is free again");
  held.push(again);
  for (const c of held) await c.close();
});

Deno.test("hardening: without the proxy setting a forged X-Forwarded-For does not give new sockets", async () => {
  await using app = await testApp({ REACH_LIMIT_SOCKETS_PER_ADDRESS: "2" });
  const base = app.listen();
  const held = [
    await SignalClient.open(base, {
      headers: { "x-forwarded-for": "1.1.1.1" },
    }),
    await SignalClient.open(base, {
      headers: { "x-forwarded-for": "2.2.2.2" },
    }),
  ];
  await assert.rejects(
    SignalClient.open(base, { headers: { "x-forwarded-for": "3.3.3.3" } }),
  );
  for (const c of held) await c.close();
});

/** Rings `n` times, one after another, from `c` to `to` (cancelling each). */
async function ringMany(c: SignalClient, to: string, n: number) {
  let ok = 0, limited = 0;
  for (let i = 0; i < n; i++) {
    const callId = crypto.randomUUID();
    c.send({ type: "ring", callId, to });
    const r = await Promise.race([
      c.next("ringing", (m) => m.callId === callId),
      c.next("error", (m) => m.callId === callId),
    ]);
    if (r.type === "ringing") {
      ok++;
      c.send({ type: "cancel", callId });
      await c.next("ended", (m) => m.callId === callId);
    } else {
      assert.equal(r.code, "rate_limited");
      limited++;
    }
  }
  return { ok, limited };
}

Deno.test("hardening: ring limits key on the address, not on the caller token", async () => {
  await using app = await testApp({
    REACH_PROXY_HEADER: "x-forwarded-for",
    REACH_LIMIT_RINGS_PER_ADDRESS: "4",
    REACH_LIMIT_RINGS_PER_ADDRESS_TO_HANDLE: "100",
  });
  const base = app.listen();
  const bob = await owner(app, "bob_tokens");
  await using _dev = await device(base, bob);
  const from = { "x-forwarded-for": "203.0.113.50" };
  // A fresh caller token per ring (a new socket, a new hello) used to get a
  // fresh budget: 25 of 25 rings went through.
  let ok = 0;
  for (let i = 0; i < 8; i++) {
    await using c = await caller(base, undefined, from);
    ok += (await ringMany(c, "bob_tokens", 1)).ok;
  }
  assert.equal(ok, 4, "4 rings a minute per address, whatever the token");
});

Deno.test("hardening: one address's flood does not silence a handle for others", async () => {
  await using app = await testApp({
    REACH_PROXY_HEADER: "x-forwarded-for",
    REACH_LIMIT_RINGS_PER_ADDRESS: "50",
    REACH_LIMIT_RINGS_PER_ADDRESS_TO_HANDLE: "5",
    REACH_LIMIT_ANONYMOUS_RINGS_PER_HANDLE: "20",
  });
  const base = app.listen();
  const bob = await owner(app, "bob_flood");
  await using dev = await device(base, bob, undefined, "ring");
  await using flooder = await caller(base, undefined, {
    "x-forwarded-for": "203.0.113.66",
  });
  const flood = await ringMany(flooder, "bob_flood", 12);
  assert.deepEqual(flood, { ok: 5, limited: 7 });
  // A friend on another address still gets through...
  await using friend = await caller(base, undefined, {
    "x-forwarded-for": "198.51.100.23",
  });
  assert.equal((await ringMany(friend, "bob_flood", 1)).ok, 1);
  // A signed-in caller from the flooder's address is the flooder to the
  // server (sealed sender: its session is never read), so it shares that
  // address's budget rather than getting one of its own.
  const carol = app.client();
  await carol.signIn(newWallet());
  await using signedIn = await caller(base, carol, {
    "x-forwarded-for": "203.0.113.66",
  });
  assert.deepEqual(await ringMany(signedIn, "bob_flood", 1), {
    ok: 0,
    limited: 1,
  });
  dev.inbox.length = 0;
});

Deno.test("hardening: concurrent rings are checked and counted in one atomic step", async () => {
  await using app = await testApp({
    REACH_LIMIT_RINGS_PER_ADDRESS: "10",
    REACH_LIMIT_RINGS_PER_ADDRESS_TO_HANDLE: "1000",
  });
  const base = app.listen();
  const bob = await owner(app, "bob_burst");
  await using _dev = await device(base, bob, undefined, "ring");
  // 35 sockets ring at once: exactly 10 get through (before the fix, the
  // count was read after a separate increment and all 35 were refused).
  const sockets = await Promise.all(
    Array.from({ length: 35 }, () => caller(base)),
  );
  const results = await Promise.all(
    sockets.map((s) => ringMany(s, "bob_burst", 1)),
  );
  assert.equal(results.reduce((n, r) => n + r.ok, 0), 10);
  for (const s of sockets) await s.close();
});

Deno.test("hardening: anonymous traffic leaves no key without an expiry, and nothing for handles no one has", async () => {
  await using app = await testApp();
  const base = app.listen();
  const bob = await owner(app, "bob_walk");
  await using dev = await device(base, bob);
  const before = new Set(
    keysWithoutExpiry(app.kvPath).map((k) => JSON.stringify(k.map(String))),
  );

  // Anonymous traffic of every kind a stranger can send.
  const anon = app.client();
  for (let i = 0; i < 3; i++) {
    await anon.json("/api/auth/nonce", { method: "POST" });
  }
  await anon.json("/api/auth/verify", {
    method: "POST",
    body: { message: "nonsense", signature: "x", publicKey: "y" },
  });
  await anon.json("/api/ice");
  await anon.request("/@nobody_walk");
  await anon.json(`/api/voicemail/${crypto.randomUUID()}`, {
    method: "POST",
    body: {},
  });
  await using stranger = await caller(base);
  for (const to of ["nobody_walk", "nobody_walk", "ghost_walk"]) {
    const callId = crypto.randomUUID();
    stranger.send({ type: "ring", callId, to });
    assert.equal(
      (await stranger.next("error", (m) => m.callId === callId)).code,
      "unknown_handle",
    );
  }
  const callId = crypto.randomUUID();
  stranger.send({ type: "ring", callId, to: "bob_walk" });
  await dev.next("incoming", (m) => m.callId === callId);
  stranger.send({ type: "cancel", callId });
  await stranger.next("ended", (m) => m.callId === callId);
  const silent = await SignalClient.open(base);
  silent.send({ type: "heartbeat" });
  await silent.closed;

  const added = keysWithoutExpiry(app.kvPath)
    .map((k) => k.map(String))
    .filter((k) => !before.has(JSON.stringify(k)));
  // Only the dashboard's aggregate counters (a fixed set per day, not per
  // client) may be new and lasting.
  const lasting = added.filter((k) => k[0] !== "stats");
  assert.deepEqual(lasting, [], "no per-client key lives forever");
  const all = keysWithExpiry(app.kvPath).map((r) => r.key.map(String));
  assert.ok(
    !all.some((k) => k.includes("nobody_walk") || k.includes("ghost_walk")),
    "nothing is counted or stored for handles no one has",
  );
});
