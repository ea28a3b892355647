/**
 * The relay's fast path (signaling/hub.ts `relayNow`, protocol.ts
 * `fastRelayed`): the hand-written validator agrees with the zod schema on a
 * fuzzed corpus; a socket's cached route never outlives what the call record
 * says (a resumed-away socket neither speaks for nor hears the call, on one
 * isolate or across workers, on both buses); a hang-up drops the route; a
 * route whose notice was lost is corrected by the next heartbeat tick; the
 * flood limit and the order of a burst hold; the relayed text is
 * re-assembled from the validated fields.
 */
import assert from "node:assert/strict";
import { setLogSink } from "@/lib/log.ts";
import { resumeSide } from "@/lib/store/calls.ts";
import {
  canonicalRelayed,
  ClientMessage,
  CLOSE,
  fastRelayed,
  MAX_CANDIDATE_CHARS,
  MAX_FRAME_BYTES,
  MAX_SDP_CHARS,
  parseClientFrame,
} from "@/signaling/protocol.ts";
import { owner, TEST_ENV, testApp } from "../_helpers/app.ts";
import { AppWorker } from "../_helpers/app_worker.ts";
import { caller, device, SignalClient } from "../_helpers/signal_client.ts";
import type { Bus } from "@/signaling/bus.ts";
import { getHub } from "@/signaling/instance.ts";

// ---- the validator ------------------------------------------------------------

/** mulberry32, as in fuzz_test.ts: a failure can be replayed from its seed. */
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * One JSON frame of the corpus: a relayed message (or another type) built
 * from pieces at and around every limit of the schema, sometimes with an
 * unknown key, a `__proto__` key, a missing or mistyped field.
 */
function corpusFrame(rnd: () => number): string {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
  const str = (n: number) => {
    // ASCII, two-unit emoji and a lone surrogate: limits count UTF-16 units.
    const unit = pick(["a", "é", "😀", "\ud800", '"', "\\"]);
    return unit.repeat(Math.ceil(n / unit.length)).slice(0, n);
  };
  // Half the time each field is plainly valid, so both answers are common.
  const plain = () => rnd() < 0.5;
  const uuid = plain() ? crypto.randomUUID() : pick<unknown>([
    crypto.randomUUID(),
    crypto.randomUUID().toUpperCase(),
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "6ba7b810-9dad-01d1-80b4-00c04fd430c8", // version 0
    "6ba7b810-9dad-91d1-80b4-00c04fd430c8", // version 9
    "6ba7b810-9dad-11d1-c0b4-00c04fd430c8", // bad variant
    crypto.randomUUID().slice(1),
    42,
    null,
    undefined,
  ]);
  const type = pick([
    "candidate",
    "candidate",
    "offer",
    "answer",
    "ice-restart",
    "hangup",
    "Candidate",
    "",
  ]);
  const m: Record<string, unknown> = { type, callId: uuid };
  if (type === "offer" || type === "answer" || rnd() < 0.05) {
    m.sdp = plain() ? "v=0\r\n" : pick<unknown>([
      "v=0\r\n",
      "",
      str(1),
      str(MAX_SDP_CHARS),
      str(MAX_SDP_CHARS + 1),
      str(MAX_SDP_CHARS - 1),
      7,
      null,
      undefined,
    ]);
  }
  if (type === "candidate" || rnd() < 0.05) {
    const c: Record<string, unknown> = {};
    c.candidate = plain()
      ? "candidate:2 1 udp 1 192.0.2.2 9 typ host"
      : pick<unknown>([
        "candidate:1 1 udp 2122260223 192.0.2.1 5000 typ host",
        "",
        str(MAX_CANDIDATE_CHARS),
        str(MAX_CANDIDATE_CHARS + 1),
        1,
        null,
        undefined,
      ]);
    if (rnd() < 0.7) {
      c.sdpMid = pick<unknown>(["0", "", str(32), str(33), 0, null]);
    }
    if (rnd() < 0.7) {
      c.sdpMLineIndex = pick<unknown>([
        0,
        64,
        65,
        -1,
        1.5,
        "0",
        1e300,
        null,
        -0,
      ]);
    }
    if (rnd() < 0.5) {
      c.usernameFragment = pick<unknown>(["Zq3x", str(256), str(257), 5, null]);
    }
    if (rnd() < 0.05) c.extra = true;
    m.candidate = plain() ? c : pick<unknown>([c, null, [c], "c", undefined]);
  }
  if (rnd() < 0.05) m.extra = 1;
  // Sometimes the keys in another order (the result must still come out in
  // the schema's order).
  const shuffled = (o: Record<string, unknown>) =>
    Object.fromEntries(
      Object.entries(o).sort(() => rnd() - 0.5),
    );
  const c = m.candidate;
  if (rnd() < 0.2 && c && typeof c === "object" && !Array.isArray(c)) {
    m.candidate = shuffled(c as Record<string, unknown>);
  }
  let text = JSON.stringify(rnd() < 0.2 ? shuffled(m) : m);
  if (rnd() < 0.03) text = text.replace(/^\{/, '{"__proto__":{"x":1},');
  if (rnd() < 0.03 && type === "candidate") {
    text = text.replace('"candidate":{"', '"candidate":{"__proto__":1,"');
  }
  return text;
}

Deno.test("fast path: the hand-written validator agrees with zod on a fuzzed corpus", () => {
  const seed = Number(Deno.env.get("REACH_FUZZ_SEED") ?? Date.now() % 1e9);
  const rnd = prng(seed);
  const why = `(replay with REACH_FUZZ_SEED=${seed})`;
  let fast = 0, valid = 0;
  for (let i = 0; i < 20_000; i++) {
    const text = corpusFrame(rnd);
    const shown = text.length > 300 ? `${text.slice(0, 300)}…` : text;
    const raw = JSON.parse(text);
    const z = ClientMessage.safeParse(raw);
    const f = fastRelayed(raw);
    const relayedType = ["candidate", "offer", "answer"].includes(raw?.type);
    if (f) {
      fast++;
      assert.ok(z.success, `fast accepted what zod refuses: ${shown} ${why}`);
      // Same fields, same order: the relayed JSON is the same either way.
      assert.equal(
        JSON.stringify(f),
        JSON.stringify(z.data),
        `${shown} ${why}`,
      );
    } else {
      // Exactly as strict: every valid relayed message takes the fast path.
      assert.ok(!(z.success && relayedType), `fast refused: ${shown} ${why}`);
    }
    if (z.success) valid++;
    // And the whole frame parser answers as zod does, within the frame limit.
    const p = parseClientFrame(text);
    if (new TextEncoder().encode(text).length > MAX_FRAME_BYTES) {
      assert.ok(!p.ok && p.close === CLOSE.tooLarge, `${shown} ${why}`);
      continue;
    }
    assert.equal(p.ok, z.success, `${shown} ${why}`);
    if (p.ok && z.success) {
      assert.equal(JSON.stringify(p.msg), JSON.stringify(z.data), why);
    }
  }
  // The corpus reaches both sides of every check.
  assert.ok(
    fast > 2_000 && valid < 18_000,
    `${fast} fast, ${valid} valid`,
  );
});

Deno.test("fast path: a frame relayed as it came is byte for byte the one the parser would relay", () => {
  const seed = Number(Deno.env.get("REACH_FUZZ_SEED") ?? Date.now() % 1e9);
  const rnd = prng(seed);
  const why = `(replay with REACH_FUZZ_SEED=${seed})`;
  let asIs = 0;
  for (let i = 0; i < 20_000; i++) {
    const text = corpusFrame(rnd);
    const shown = text.length > 300 ? `${text.slice(0, 300)}…` : text;
    const c = canonicalRelayed(text);
    const p = parseClientFrame(text);
    const again = p.ok ? JSON.stringify(p.msg) : null;
    if (c) {
      asIs++;
      assert.ok(
        p.ok,
        `taken as it came, refused by the parser: ${shown} ${why}`,
      );
      assert.equal(p.msg.type, c.type, why);
      assert.equal((p.msg as { callId: string }).callId, c.callId, why);
      assert.equal(
        again,
        text,
        `not what the relay would send: ${shown} ${why}`,
      );
    } else if (
      p.ok && again === text && ["candidate", "offer", "answer"].includes(
        p.msg.type,
      ) && /^[\x20-\x7e]*$/.test(text) && !text.includes("\\u") &&
      text.length <= MAX_SDP_CHARS
    ) {
      assert.fail(`an ASCII frame in relayed form was parsed: ${shown} ${why}`);
    }
  }
  assert.ok(asIs > 1_000, `${asIs} frames went as they came`);
  // Valid frames written otherwise than the relay writes them: each is
  // parsed and re-assembled, never passed on as it came.
  const id = crypto.randomUUID();
  const head = `{"type":"offer","callId":"${id}","sdp":`;
  const cand = `{"type":"candidate","callId":"${id}","candidate":`;
  for (
    const text of [
      `${head}"v=0\\u0041"}`, // an escape JSON.stringify does not write
      `${head}"v=0\\/x"}`,
      `${head} "v=0"}`, // whitespace
      `{"type":"offer", "callId":"${id}","sdp":"v=0"}`,
      `{"callId":"${id}","type":"offer","sdp":"v=0"}`, // key order
      `{"type":"offer","type":"offer","callId":"${id}","sdp":"v=0"}`,
      `${cand}{"candidate":"c","sdpMLineIndex":0.0}}`,
      `${cand}{"candidate":"c","sdpMLineIndex":-0}}`,
      `${cand}{"candidate":"c","sdpMLineIndex":1e1}}`,
      `${cand}{"sdpMid":"0","candidate":"c"}}`,
    ]
  ) {
    const p = parseClientFrame(text);
    assert.ok(p.ok, text);
    assert.notEqual(JSON.stringify(p.msg), text, text);
    assert.equal(canonicalRelayed(text), null, text);
  }
});

Deno.test("fast path: the frame size limit counts UTF-8 bytes without encoding when the length decides", () => {
  const frame = (sdp: string) =>
    JSON.stringify({ type: "offer", callId: crypto.randomUUID(), sdp });
  const bytes = (s: string) => new TextEncoder().encode(s).length;
  // 3-byte characters near the 16 KiB frame limit: the band where the
  // length alone cannot decide.
  const base = frame("");
  for (const extra of [-1, 0, 1]) {
    const n = Math.floor((16 * 1024 - bytes(base)) / 3) + extra;
    const f = frame("€".repeat(n));
    const p = parseClientFrame(f);
    if (bytes(f) > 16 * 1024) {
      assert.equal(p.ok, false);
      assert.equal(!p.ok && p.close, CLOSE.tooLarge);
    } else {
      // Within the frame limit; the SDP (12 KiB chars) decides.
      assert.equal(p.ok, n <= MAX_SDP_CHARS);
    }
  }
});

// ---- routes ---------------------------------------------------------------------

const CAND = (n: number | string) => ({
  candidate: `candidate:${n} 1 udp 2122260223 192.0.2.1 5000 typ host`,
  sdpMid: "0",
  sdpMLineIndex: 0,
});

/** Rings and answers; returns the call id and both resume tokens. */
async function answered(from: SignalClient, to: string, dev: SignalClient) {
  const callId = crypto.randomUUID();
  from.send({ type: "ring", callId, to });
  const ringing = await from.next("ringing", (m) => m.callId === callId);
  await dev.next("incoming", (m) => m.callId === callId);
  dev.send({ type: "accept", callId });
  const [connected] = await Promise.all([
    dev.next("connected-call", (m) => m.callId === callId),
    from.next("accepted", (m) => m.callId === callId),
  ]);
  return {
    callId,
    callerToken: ringing.resumeToken,
    calleeToken: connected.resumeToken,
  };
}

/** Every frame of this socket has been handled once the ack comes (or it closed). */
async function settled(c: SignalClient): Promise<"open" | number> {
  if (c.ws.readyState !== WebSocket.OPEN) return (await c.closed).code;
  c.send({ type: "heartbeat" });
  try {
    await c.next("heartbeat-ack");
    return "open";
  } catch {
    return (await c.closed).code;
  }
}

const candidatesOf = (c: SignalClient, callId: string) =>
  c.inbox.filter((m) => m.type === "candidate" && m.callId === callId)
    .map((m) =>
      (m as { candidate: { candidate: string } | null }).candidate
        ?.candidate
    );

/**
 * The resumed-away socket (`old`) and the one that resumed (`now`), against
 * the other side (`peer`), once routes were cached both ways: what `old`
 * sends is dropped or refused (4003), never relayed; what `peer` sends
 * reaches `now` only.
 */
async function resumedAway(
  old: SignalClient,
  now: SignalClient,
  peer: SignalClient,
  callId: string,
  tag: string,
) {
  const oldBefore = candidatesOf(old, callId).length;
  old.send({ type: "candidate", callId, candidate: CAND(`${tag}-old`) });
  const oldState = await settled(old);
  assert.ok(
    oldState === "open" || oldState === CLOSE.forbidden,
    `the old socket is refused with 4003 or dropped (${oldState})`,
  );
  peer.send({ type: "candidate", callId, candidate: CAND(`${tag}-peer`) });
  const got = await now.next("candidate", (m) => m.callId === callId);
  assert.equal(got.candidate?.candidate, CAND(`${tag}-peer`).candidate);
  now.send({ type: "candidate", callId, candidate: CAND(`${tag}-now`) });
  assert.equal(
    (await peer.next("candidate", (m) => m.callId === callId)).candidate
      ?.candidate,
    CAND(`${tag}-now`).candidate,
    "the resumed socket speaks for the call",
  );
  // The peer heard nothing from the old socket (it would have come first).
  await settled(peer);
  assert.ok(
    !candidatesOf(peer, callId).includes(CAND(`${tag}-old`).candidate),
    "nothing from the resumed-away socket reached the other side",
  );
  if (old.ws.readyState === WebSocket.OPEN) await settled(old);
  assert.equal(
    candidatesOf(old, callId).length,
    oldBefore,
    "the resumed-away socket heard nothing more",
  );
}

Deno.test("fast path: a resumed-away caller socket that stays open neither speaks for nor hears the call", async () => {
  await using app = await testApp();
  const base = app.listen();
  const bob = await owner(app, "bob_fast");
  await using dev = await device(base, bob);
  await using old = await caller(base);
  const { callId, callerToken } = await answered(old, "bob_fast", dev);
  // Routes cached both ways.
  old.send({ type: "candidate", callId, candidate: CAND(1) });
  await dev.next("candidate");
  dev.send({ type: "candidate", callId, candidate: CAND(2) });
  await old.next("candidate");

  await using now = await caller(base);
  now.send({ type: "resume", callId, token: callerToken });
  assert.equal((await now.next("resumed")).state, "answered");
  await resumedAway(old, now, dev, callId, "caller");
});

Deno.test("fast path: a resumed-away device socket that stays open neither speaks for nor hears the call", async () => {
  await using app = await testApp();
  const base = app.listen();
  const cat = await owner(app, "cat_fast");
  await using old = await device(base, cat);
  await using a = await caller(base);
  const { callId, calleeToken } = await answered(a, "cat_fast", old);
  a.send({ type: "offer", callId, sdp: "v=0\r\n" });
  await old.next("offer");
  old.send({ type: "answer", callId, sdp: "v=0\r\n" });
  await a.next("answer");

  await using now = await device(base, cat);
  now.send({ type: "resume", callId, token: calleeToken });
  assert.equal((await now.next("resumed")).state, "answered");
  // The old device may not answer for the call any more either.
  await resumedAway(old, now, a, callId, "callee");
  if (old.ws.readyState === WebSocket.OPEN) {
    old.send({ type: "answer", callId, sdp: "v=0\r\ns=old\r\n" });
    await settled(old);
    await settled(a);
    assert.ok(!a.inbox.some((m) => m.type === "answer"));
  }
});

Deno.test("fast path: with routes known both ways, the wrong side is still refused (4003)", async () => {
  await using app = await testApp();
  const base = app.listen();
  for (const [wrong, type] of [["callee", "offer"], ["caller", "answer"]]) {
    // A handle each: the first call stays live (busy) after its socket closes.
    const handle = `ada_${wrong}`;
    await using dev = await device(base, await owner(app, handle));
    await using a = await caller(base);
    const { callId } = await answered(a, handle, dev);
    a.send({ type: "candidate", callId, candidate: CAND(1) });
    await dev.next("candidate");
    dev.send({ type: "candidate", callId, candidate: CAND(2) });
    await a.next("candidate");
    const sender = wrong === "callee" ? dev : a;
    const other = wrong === "callee" ? a : dev;
    sender.send({ type, callId, sdp: "v=0\r\n" });
    assert.equal(
      (await sender.closed).code,
      CLOSE.forbidden,
      `${wrong} ${type}`,
    );
    await settled(other);
    assert.ok(!other.inbox.some((m) => m.type === type), `${type} not relayed`);
  }
});

Deno.test("fast path: a resume that does not fit the socket changes nothing", async () => {
  await using app = await testApp();
  const base = app.listen();
  const dee = await owner(app, "dee_fast");
  await using dev = await device(base, dee);
  await using a = await caller(base);
  const { callId, calleeToken } = await answered(a, "dee_fast", dev);
  // A caller socket holding the callee's token is refused, and the callee
  // keeps its call.
  await using stranger = await caller(base);
  stranger.send({ type: "resume", callId, token: calleeToken });
  assert.equal((await stranger.next("error")).code, "bad_resume");
  a.send({ type: "candidate", callId, candidate: CAND("still") });
  assert.equal(
    (await dev.next("candidate")).candidate?.candidate,
    CAND("still").candidate,
  );
});

Deno.test("fast path: after a hang-up nothing more is relayed, either way", async () => {
  await using app = await testApp();
  const base = app.listen();
  const eve = await owner(app, "eve_fast");
  await using dev = await device(base, eve);
  await using a = await caller(base);
  const { callId } = await answered(a, "eve_fast", dev);
  a.send({ type: "candidate", callId, candidate: CAND(1) });
  await dev.next("candidate");
  dev.send({ type: "candidate", callId, candidate: CAND(2) });
  await a.next("candidate");
  dev.send({ type: "hangup", callId, reason: "normal" });
  await a.next("hangup", (m) => m.callId === callId);
  // Late candidates both ways are dropped quietly.
  a.send({ type: "candidate", callId, candidate: CAND("late-a") });
  dev.send({ type: "candidate", callId, candidate: CAND("late-d") });
  // Each ack comes after anything sent to that socket before it.
  assert.equal(await settled(a), "open");
  assert.equal(await settled(dev), "open");
  await settled(a);
  assert.deepEqual(candidatesOf(a, callId), []);
  assert.deepEqual(candidatesOf(dev, callId), []);
});

Deno.test("fast path: a route whose notice was lost follows the record by the next heartbeat tick", async () => {
  await using app = await testApp({ REACH_HEARTBEAT_SECONDS: "0.2" });
  const base = app.listen();
  const fox = await owner(app, "fox_fast");
  await using dev = await device(base, fox, undefined, "busy", {
    heartbeat: true,
  });
  await using a = await caller(base, undefined, undefined, { heartbeat: true });
  const { callId } = await answered(a, "fox_fast", dev);
  a.send({ type: "candidate", callId, candidate: CAND(1) });
  await dev.next("candidate");
  // The record now names another callee socket, and no hub was told (as if
  // the notice had been lost).
  assert.ok(await resumeSide(app.kv, callId, "callee", crypto.randomUUID()));
  // Within a tick or two, both routes are checked against the record.
  await new Promise((r) => setTimeout(r, 700));
  a.send({ type: "candidate", callId, candidate: CAND("after") });
  assert.equal(await settled(a), "open");
  await settled(dev);
  assert.ok(
    !candidatesOf(dev, callId).includes(CAND("after").candidate),
    "the caller's messages go where the record says, not to the old socket",
  );
  // And the old callee socket is refused like any socket the record does not name.
  dev.send({ type: "candidate", callId, candidate: CAND("old") });
  assert.equal((await dev.closed).code, CLOSE.forbidden);
});

Deno.test("fast path: a burst keeps its order and the flood limit (200, then 50/s) still closes", async () => {
  await using app = await testApp();
  const lines: string[] = [];
  setLogSink((l) => lines.push(l));
  const base = app.listen();
  const gil = await owner(app, "gil_fast");
  await using dev = await device(base, gil);
  await using a = await caller(base);
  const { callId } = await answered(a, "gil_fast", dev);
  // Right after the accept: the first needs the record, the rest queue
  // behind it and then take the route.
  for (let i = 0; i < 150; i++) {
    a.send({ type: "candidate", callId, candidate: CAND(i) });
  }
  for (let i = 0; i < 150; i++) {
    const m = await dev.next("candidate");
    assert.equal(m.candidate?.candidate, CAND(i).candidate);
  }
  // At most 200 tokens however long that took: 250 more flood.
  for (let i = 0; i < 250; i++) {
    a.send({ type: "candidate", callId, candidate: CAND(`f${i}`) });
  }
  // (A client that floods without reading may see the close as a reset;
  // the server's log says which code it closed with.)
  await a.closed;
  assert.ok(
    lines.some((l) =>
      l.includes('"signal.close"') && l.includes('"code":4008')
    ),
    "closed for flooding (4008)",
  );
  await settled(dev);
  const flood = candidatesOf(dev, callId).filter((c) => c?.includes(":f"));
  assert.ok(flood.length < 250, `${flood.length} of the flood relayed`);
});

Deno.test("fast path: the relayed text is re-assembled from the validated fields, in the schema's order", async () => {
  await using app = await testApp();
  const base = app.listen();
  const hal = await owner(app, "hal_fast");
  await using dev = await device(base, hal);
  await using a = await caller(base);
  const { callId } = await answered(a, "hal_fast", dev);
  const raws: string[] = [];
  dev.ws.addEventListener("message", (e) => raws.push(e.data));
  a.sendRaw(
    `{ "candidate": {"usernameFragment": null, "sdpMLineIndex": 0, "candidate": "c\\u0041"},
       "callId": "${callId}", "type": "candidate" }`,
  );
  a.sendRaw(`{"sdp":"v=0\\r\\n","type":"offer","callId":"${callId}"}`);
  await dev.next("offer");
  assert.deepEqual(raws.filter((r) => !r.includes('"heartbeat')), [
    JSON.stringify({
      type: "candidate",
      callId,
      candidate: {
        candidate: "cA",
        sdpMLineIndex: 0,
        usernameFragment: null,
      },
    }),
    JSON.stringify({ type: "offer", callId, sdp: "v=0\r\n" }),
  ]);
});

// ---- across workers ---------------------------------------------------------------

for (const kind of ["broadcast", "kv"] as const) {
  Deno.test(`fast path(${kind}): a resumed-away socket on another worker neither speaks for nor hears the call`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "reach-fast-" });
    const kvPath = `${dir}/kv.sqlite3`;
    (await Deno.openKv(kvPath)).close();
    const env = { ...TEST_ENV, REACH_BUS: kind };
    const workers: AppWorker[] = [];
    const sockets: SignalClient[] = [];
    const track = (c: SignalClient) => (sockets.push(c), c);
    try {
      workers.push(await AppWorker.start("f1", env, kvPath));
      workers.push(await AppWorker.start("f2", env, kvPath));
      const [w1, w2] = workers;
      const handle = `fast_${kind}_${crypto.randomUUID().slice(0, 8)}`;
      const ivy = await owner(w1, handle);
      // The device and the old caller socket on worker 1; the resume on 2.
      const dev = track(await device(w1.base, ivy));
      const old = track(await caller(w1.base));
      const { callId, callerToken } = await answered(old, handle, dev);
      old.send({ type: "candidate", callId, candidate: CAND(1) });
      await dev.next("candidate");
      dev.send({ type: "candidate", callId, candidate: CAND(2) });
      await old.next("candidate");

      const now = track(await caller(w2.base));
      now.send({ type: "resume", callId, token: callerToken });
      assert.equal((await now.next("resumed")).state, "answered");
      // Worker 2 posted its notices before (and in order with) this
      // message: once it arrives, worker 1 has applied them.
      now.send({ type: "candidate", callId, candidate: CAND("probe") });
      assert.equal(
        (await dev.next("candidate")).candidate?.candidate,
        CAND("probe").candidate,
      );
      await resumedAway(old, now, dev, callId, kind);
    } finally {
      for (const c of sockets) await c.close();
      for (const w of workers) await w.stop();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("fast path: right after the accept, the offer and the answer are relayed without reading the call record", async () => {
  await using app = await testApp();
  const base = app.listen();
  await using dev = await device(base, await owner(app, "ada_accept"));
  await using a = await caller(base);
  const { callId } = await answered(a, "ada_accept", dev);
  // From here on, count the reads of this call's record.
  let reads = 0;
  const get = app.kv.get.bind(app.kv);
  app.kv.get = ((key: Deno.KvKey, o?: unknown) => {
    if (key.includes(callId)) reads++;
    return get(key, o as never);
  }) as typeof app.kv.get;
  try {
    a.send({ type: "offer", callId, sdp: "v=0\r\n" });
    await dev.next("offer", (m) => m.callId === callId);
    dev.send({ type: "answer", callId, sdp: "v=0\r\n" });
    await a.next("answer", (m) => m.callId === callId);
    assert.equal(reads, 0, "both routes were known from the accept");
    // The routes are the record's: the wrong side is still refused.
    dev.send({ type: "offer", callId, sdp: "v=0\r\n" });
    assert.equal((await dev.closed).code, CLOSE.forbidden);
  } finally {
    app.kv.get = get;
  }
});

Deno.test("fast path: the caller's offer finds the callee's route ready and follows its `connected-call`, however slow the other devices' notice", async () => {
  await using app = await testApp();
  const base = app.listen();
  await using dev = await device(base, await owner(app, "ada_instant"));
  await using a = await caller(base);
  // The notice to the handle's other devices ("answered-elsewhere") is held
  // until released, as a slow bus would: nothing the answering device needs
  // may wait for it.
  const bus = (await getHub() as unknown as { opts: { bus: Bus } }).opts.bus;
  const publish = bus.publish.bind(bus);
  const held = Promise.withResolvers<void>();
  bus.publish = async (topic, env, o) => {
    const msg = (env as { msg?: { type?: string } }).msg;
    if (msg?.type === "answered-elsewhere") await held.promise;
    return publish(topic, env, o);
  };
  const callId = crypto.randomUUID();
  a.send({ type: "ring", callId, to: "ada_instant" });
  await a.next("ringing", (m) => m.callId === callId);
  await dev.next("incoming", (m) => m.callId === callId);
  let reads = 0;
  let counting = false;
  const get = app.kv.get.bind(app.kv);
  app.kv.get = ((key: Deno.KvKey, o?: unknown) => {
    if (counting && key.includes(callId)) reads++;
    return get(key, o as never);
  }) as typeof app.kv.get;
  try {
    dev.send({ type: "accept", callId });
    await a.next("accepted", (m) => m.callId === callId);
    // As a browser whose offer was made while it rang: at once.
    counting = true;
    a.send({ type: "offer", callId, sdp: "v=0\r\n" });
    await dev.next("offer", (m) => m.callId === callId);
    assert.ok(
      dev.inbox.some((m) => m.type === "connected-call" && m.callId === callId),
      "connected-call came before the offer",
    );
    assert.equal(reads, 0, "the route was known before the caller heard");
  } finally {
    app.kv.get = get;
    held.resolve();
    bus.publish = publish;
  }
});
