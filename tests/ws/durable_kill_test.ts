/**
 * Durable call deadlines, with real processes: main.ts runs as its own OS
 * process on a KV file, is killed with SIGKILL (no shutdown code runs, as
 * when an isolate crashes or is evicted), and another process on the same
 * KV must end the calls the dead one held, each once, with the decision
 * and duration a person would see in their history, and free the callee
 * for the next call. A call whose sockets come back in time must survive.
 *
 * Timers are short (heartbeat 0.3 s, so a side unrefreshed for 0.9 s counts
 * as silent; resume grace 1.5 s or more; sweep every 0.2 s). Waits are for
 * events (messages, heartbeat acks, process exit); KV is polled, with a
 * deadline, only for writes that no message announces (a log record).
 */
import assert from "node:assert/strict";
import {
  type CallLogRecord,
  type CallRecord,
  getCall,
  getCallLog,
} from "@/lib/store/calls.ts";
import { keys } from "@/lib/store/keys.ts";
import type { ServerMessage } from "@/signaling/protocol.ts";
import { ORIGIN, owner, TestClient } from "../_helpers/app.ts";
import { freePort, startAppServer } from "../_helpers/server.ts";
import { caller, device, SignalClient } from "../_helpers/signal_client.ts";

const HEARTBEAT_MS = 300;
/** A side unrefreshed this long counts as silent (3 heartbeats). */
const SILENT_MS = 3 * HEARTBEAT_MS;
const SWEEP_MS = 200;
const RING_MS = 2_000;
/** For a process to start and run its first sweep, on a loaded machine. */
const SLACK_MS = 3_000;
/**
 * How long before a kill the dead process's last heartbeat tick may have
 * refreshed a call (one interval, plus one late or unfinished tick).
 */
const TICK_TOLERANCE_MS = 3 * HEARTBEAT_MS + 250;

function env(graceMs: number): Record<string, string> {
  return {
    // The test clients send the origin every test client sends.
    REACH_ORIGIN: ORIGIN,
    REACH_BUS: "kv",
    REACH_HEARTBEAT_SECONDS: String(HEARTBEAT_MS / 1000),
    REACH_RESUME_GRACE_SECONDS: String(graceMs / 1000),
    REACH_SWEEP_SECONDS: String(SWEEP_MS / 1000),
    REACH_RING_SECONDS: String(RING_MS / 1000),
  };
}

type Server = Awaited<ReturnType<typeof startAppServer>>;

/** The ws:// base of a server, for device() / caller(). */
const ws = (s: Server) => `ws://127.0.0.1:${s.port}`;

/** A cookie-keeping HTTP client whose requests go to this server process. */
function http(s: Server): TestClient {
  const base = `http://127.0.0.1:${s.port}`;
  return new TestClient(async (req) => {
    const u = new URL(req.url);
    const body = req.body ? await req.arrayBuffer() : undefined;
    return await fetch(base + u.pathname + u.search, {
      method: req.method,
      headers: req.headers,
      body,
      redirect: "manual",
    });
  });
}

/** Signs a new wallet in on this server and claims `handle`. */
const claim = (s: Server, handle: string) =>
  owner({ client: () => http(s) }, handle);

/** A temp folder for the KV file the processes share, removed after. */
async function kvDir() {
  const path = await Deno.makeTempDir({ prefix: "reach-durable-" });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

/** The test's own handle on the shared KV file (reads only), closed after. */
async function openKv(dir: string) {
  const kv = await Deno.openKv(`${dir}/kv.sqlite3`);
  return Object.assign(kv, {
    [Symbol.asyncDispose]: () => Promise.resolve(kv.close()),
  });
}

/** Sockets of a test, closed after it whatever happened. */
function sockets() {
  const all: SignalClient[] = [];
  return {
    add(c: SignalClient) {
      all.push(c);
      return c;
    },
    async [Symbol.asyncDispose]() {
      for (const c of all) await c.close();
    },
  };
}

/**
 * Polls until `fn` gives a value, failing with `what` past `until` (a time
 * on this clock). For KV writes that no message announces.
 */
async function waitFor<T>(
  what: string,
  fn: () => Promise<T | null | undefined>,
  until: number,
): Promise<T> {
  for (;;) {
    const v = await fn();
    if (v !== null && v !== undefined) return v;
    if (Date.now() > until) {
      throw new Error(
        `${what}: not done ${Date.now() - until} ms past its deadline`,
      );
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Waits for `n` heartbeat acks sent from now on (time passing, by events). */
async function acks(c: SignalClient, n: number): Promise<void> {
  c.inbox = c.inbox.filter((m) => m.type !== "heartbeat-ack");
  for (let i = 0; i < n; i++) await c.next("heartbeat-ack");
}

/** Messages about `callId` this client received and did not consume. */
function about(c: SignalClient, callId: string): string[] {
  return c.inbox
    .filter((m) => "callId" in m && m.callId === callId)
    .map((m) => `${m.type}${"reason" in m ? ` ${m.reason}` : ""}`);
}

/** Rings `to`, waits for the device's incoming; returns the caller's token. */
async function ring(from: SignalClient, to: string, dev: SignalClient) {
  const callId = crypto.randomUUID();
  const sentAt = Date.now();
  from.send({ type: "ring", callId, to });
  const ringing = await from.next("ringing", (m) => m.callId === callId);
  await dev.next("incoming", (m) => m.callId === callId);
  return { callId, sentAt, callerToken: ringing.resumeToken };
}

/**
 * Rings and answers a call. The server's answer time lies between
 * `acceptSentAt` and `connectedAt` (both on this clock).
 */
async function answered(from: SignalClient, to: string, dev: SignalClient) {
  const { callId, callerToken } = await ring(from, to, dev);
  const acceptSentAt = Date.now();
  dev.send({ type: "accept", callId });
  const [connected] = await Promise.all([
    dev.next("connected-call", (m) => m.callId === callId),
    from.next("accepted", (m) => m.callId === callId),
  ]);
  const connectedAt = Date.now();
  return {
    callId,
    acceptSentAt,
    connectedAt,
    callerToken,
    calleeToken: connected.resumeToken,
  };
}

/** Kills a server and waits until each of its client sockets saw the drop. */
async function killWith(server: Server, clients: SignalClient[]) {
  const at = Date.now();
  await server.kill();
  await Promise.all(clients.map((c) => c.closed));
  return at;
}

/** Every entry under a KV prefix. */
async function list<T>(kv: Deno.Kv, prefix: Deno.KvKey) {
  const out: Deno.KvEntry<T>[] = [];
  for await (const e of kv.list<T>({ prefix })) out.push(e);
  return out;
}

const count = async (kv: Deno.Kv, what: string) =>
  Number((await kv.get<Deno.KvU64>(keys.stats.all(what))).value?.value ?? 0n);

/** The caller's first answer to a ring: `ringing`, or `ended` (e.g. busy). */
function ringOutcome(
  c: SignalClient,
  callId: string,
): Promise<ServerMessage> {
  const mine = (m: { callId: string }) => m.callId === callId;
  const ringing = c.next("ringing", mine);
  const ended = c.next("ended", mine);
  // The loser stays pending until the socket closes; its rejection is moot.
  ringing.catch(() => {});
  ended.catch(() => {});
  return Promise.race([ringing, ended]);
}

const HB = { heartbeat: true };

Deno.test({
  name:
    "durable: SIGKILL with calls ringing, answered and resuming; a new process on the same KV ends each with the right decision and duration",
  async fn() {
    const GRACE_MS = 1_500;
    await using dir = await kvDir();
    await using a = await startAppServer(env(GRACE_MS), { dir: dir.path });
    await using kv = await openKv(dir.path);
    await using socks = sockets();

    const bob = await claim(a, "bob_dk");
    const carol = await claim(a, "carol_dk");
    const dave = await claim(a, "dave_dk");
    const on = (c: Promise<SignalClient>) => c.then(socks.add);
    const bobDev = await on(device(ws(a), bob, undefined, "busy", HB));
    const carolDev = await on(device(ws(a), carol, undefined, "busy", HB));
    const daveDev = await on(device(ws(a), dave, undefined, "busy", HB));
    const toBob = await on(caller(ws(a), undefined, undefined, HB));
    const toCarol = await on(caller(ws(a), undefined, undefined, HB));
    const toDave = await on(caller(ws(a), undefined, undefined, HB));

    // Call 2: answered, and talking for a while: over a second of
    // heartbeats on both of its sockets.
    const call2 = await answered(toBob, "bob_dk", bobDev);
    await Promise.all([acks(toBob, 4), acks(bobDev, 4)]);
    // Call 3: answered, talking briefly, then its caller's socket drops.
    const call3 = await answered(toCarol, "carol_dk", carolDev);
    await Promise.all([acks(toCarol, 1), acks(carolDev, 1)]);
    // Call 1: ringing on Dave's device, never answered.
    const call1 = await ring(toDave, "dave_dk", daveDev);

    const droppedAt = Date.now();
    await toCarol.close();
    // The caller now has the resume grace; A wrote when its socket went.
    const lost = await waitFor(
      "A records that call 3's caller lost its socket",
      async () => {
        const r = await getCall(kv, call3.callId);
        return r?.callerLostAt !== undefined ? r : null;
      },
      Date.now() + 2_000,
    );
    const lostSeenAt = Date.now();
    assert.equal(lost.state, "answered");
    // A little more of call 2 (and of call 3's grace) passes.
    await acks(toBob, 1);

    // All three are live when A dies: none is logged yet.
    for (const id of [call1.callId, call2.callId, call3.callId]) {
      assert.equal(await getCallLog(kv, id), null, "live before the kill");
    }
    const killAt = await killWith(a, [
      bobDev,
      carolDev,
      daveDev,
      toBob,
      toDave,
    ]);
    assert.ok(
      killAt < call1.sentAt + RING_MS && killAt < lostSeenAt + GRACE_MS,
      `the kill came before any deadline (${
        killAt - call1.sentAt
      } ms into the ring)`,
    );

    await using b = await startAppServer(env(GRACE_MS), {
      dir: dir.path,
      port: freePort(),
    });

    const logged = (id: string, until: number, what: string) =>
      waitFor(what, () => getCallLog(kv, id), until);
    const [log1, log2, log3] = await Promise.all([
      logged(
        call1.callId,
        Date.now() > call1.sentAt + RING_MS
          ? Date.now() + SWEEP_MS + SLACK_MS
          : call1.sentAt + RING_MS + SWEEP_MS + SLACK_MS,
        "the ringing call is logged by B",
      ),
      logged(
        call2.callId,
        killAt + SILENT_MS + GRACE_MS + SWEEP_MS + SLACK_MS,
        "the answered call is logged by B",
      ),
      logged(
        call3.callId,
        lostSeenAt + GRACE_MS + SWEEP_MS + SLACK_MS,
        "the resuming call is logged by B",
      ),
    ]);

    assert.equal(log1.decision, "missed", "nobody answered: missed");
    assert.equal(log1.durationMs, 0);

    assert.equal(log2.decision, "answered");
    // It lasted until A's last heartbeat tick before it died (give or take
    // a late tick or two): not until B noticed, and not zero.
    const upper2 = killAt - call2.acceptSentAt;
    const lower2 = killAt - call2.connectedAt - TICK_TOLERANCE_MS;
    assert.ok(
      log2.durationMs <= upper2 && log2.durationMs >= lower2,
      `call 2 lasted ${log2.durationMs} ms; expected ${lower2}..${upper2}`,
    );

    assert.equal(log3.decision, "answered");
    // It lasted until its caller's socket dropped, not until the kill.
    const upper3 = lostSeenAt - call3.acceptSentAt;
    const lower3 = droppedAt - call3.connectedAt;
    assert.ok(
      log3.durationMs <= upper3 && log3.durationMs >= lower3,
      `call 3 lasted ${log3.durationMs} ms; expected ${lower3}..${upper3}`,
    );

    // Each call ended once: one log record, one history entry, counted once.
    const ids = [call1.callId, call2.callId, call3.callId].sort();
    const logs = await list<CallLogRecord>(kv, keys.callLogPrefix());
    assert.deepEqual(logs.map((e) => e.value.callId).sort(), ids);
    const history: string[] = [];
    for (const h of new Set(logs.map((e) => e.value.calleeHash))) {
      const entries = await list<string>(kv, keys.callLogByCalleePrefix(h));
      history.push(...entries.map((e) => e.value));
    }
    assert.deepEqual(history.sort(), ids);
    assert.equal(await count(kv, "answered"), 2);
    assert.equal(await count(kv, "missed"), 1);
    assert.equal(await count(kv, "total"), 3);
    // Ended, and not before its deadline: the ring's end; the last sign of
    // life of call 2 (no earlier than the lower bound above), then silent
    // and grace; call 3's dropped socket, then grace.
    const endedAt = async (id: string) => {
      const rec = (await getCall(kv, id)) as CallRecord;
      assert.equal(rec.state, "ended");
      return rec.endedAt!;
    };
    const earliest: [string, string, number][] = [
      ["call 1", call1.callId, call1.sentAt + RING_MS],
      [
        "call 2",
        call2.callId,
        call2.acceptSentAt + lower2 + SILENT_MS + GRACE_MS,
      ],
      ["call 3", call3.callId, droppedAt + GRACE_MS],
    ];
    for (const [what, id, at] of earliest) {
      const end = await endedAt(id);
      assert.ok(end >= at, `${what} ended ${at - end} ms before its deadline`);
    }

    // Nothing is left behind: not busy, nothing due, nothing ringing.
    assert.equal((await kv.get(keys.inCall("bob_dk"))).value, null);
    assert.equal((await kv.get(keys.inCall("carol_dk"))).value, null);
    assert.deepEqual(await list(kv, keys.callDuePrefix()), []);
    assert.deepEqual(await list(kv, keys.ringingPrefix("dave_dk")), []);

    // Bob can take a new call on B: it rings (not busy) and connects.
    const bobDev2 = await on(device(ws(b), bob, undefined, "busy", HB));
    const alice = await on(caller(ws(b), undefined, undefined, HB));
    const callId = crypto.randomUUID();
    alice.send({ type: "ring", callId, to: "bob_dk" });
    const first = await ringOutcome(alice, callId);
    assert.equal(
      first.type,
      "ringing",
      `a new call to bob: ${JSON.stringify(first)}`,
    );
    await bobDev2.next("incoming", (m) => m.callId === callId);
    bobDev2.send({ type: "accept", callId });
    await bobDev2.next("connected-call", (m) => m.callId === callId);
    await alice.next("accepted", (m) => m.callId === callId);
  },
});

Deno.test({
  name:
    "durable: a side that resumes on the new process in time keeps its call",
  async fn() {
    // Long enough for B to start and both sockets to resume after the kill.
    const GRACE_MS = 5_000;
    await using dir = await kvDir();
    await using a = await startAppServer(env(GRACE_MS), { dir: dir.path });
    await using kv = await openKv(dir.path);
    await using socks = sockets();
    const on = (c: Promise<SignalClient>) => c.then(socks.add);

    const bob = await claim(a, "bob_dr");
    const deviceId = crypto.randomUUID();
    const bobDev = await on(device(ws(a), bob, deviceId, "busy", HB));
    const alice = await on(caller(ws(a), undefined, undefined, HB));
    const call = await answered(alice, "bob_dr", bobDev);
    await Promise.all([acks(alice, 2), acks(bobDev, 2)]);

    const killAt = await killWith(a, [bobDev, alice]);
    await using b = await startAppServer(env(GRACE_MS), {
      dir: dir.path,
      port: freePort(),
    });

    // Both sides reconnect to B and resume with their tokens.
    const bobDev2 = await on(device(ws(b), bob, deviceId, "busy", HB));
    const alice2 = await on(caller(ws(b), undefined, undefined, HB));
    bobDev2.send({
      type: "resume",
      callId: call.callId,
      token: call.calleeToken,
    });
    alice2.send({
      type: "resume",
      callId: call.callId,
      token: call.callerToken,
    });
    const [r1, r2] = await Promise.all([
      bobDev2.next("resumed", (m) => m.callId === call.callId),
      alice2.next("resumed", (m) => m.callId === call.callId),
    ]);
    const resumedAt = Date.now();
    assert.equal(r1.state, "answered");
    assert.equal(r2.state, "answered");
    // The deadline A's death set (its last tick, then silent and grace).
    const deadline = killAt + SILENT_MS + GRACE_MS;
    assert.ok(
      resumedAt < deadline,
      `resumed ${resumedAt - killAt} ms after the kill, within the grace`,
    );

    // Keep talking past that deadline, and past the one the resume itself
    // set (B's ticks must refresh the resumed sides), and a few sweeps of B.
    const past = Math.max(deadline, resumedAt + SILENT_MS + GRACE_MS) +
      3 * SWEEP_MS;
    while (Date.now() < past) {
      await Promise.all([acks(alice2, 1), acks(bobDev2, 1)]);
    }
    assert.equal(await getCallLog(kv, call.callId), null, "still live");
    assert.deepEqual(
      about(alice2, call.callId),
      [],
      "the caller heard nothing",
    );
    assert.deepEqual(
      about(bobDev2, call.callId),
      [],
      "the callee heard nothing",
    );

    // Still relayed between the resumed sockets, both ways.
    const sdp = "v=0\r\ns=after-resume\r\n";
    alice2.send({ type: "offer", callId: call.callId, sdp });
    assert.equal((await bobDev2.next("offer")).sdp, sdp);
    bobDev2.send({ type: "answer", callId: call.callId, sdp });
    assert.equal((await alice2.next("answer")).sdp, sdp);

    const hangupAt = Date.now();
    alice2.send({ type: "hangup", callId: call.callId, reason: "normal" });
    const h = await bobDev2.next("hangup", (m) => m.callId === call.callId);
    assert.equal(h.reason, "normal");
    const log = await waitFor(
      "the hung-up call is logged",
      () => getCallLog(kv, call.callId),
      Date.now() + 2_000,
    );
    assert.equal(log.decision, "answered");
    // It lasted across the restart, until the hang-up.
    const upper = Date.now() - call.acceptSentAt;
    const lower = hangupAt - call.connectedAt;
    assert.ok(
      log.durationMs >= lower && log.durationMs <= upper,
      `lasted ${log.durationMs} ms; expected ${lower}..${upper}`,
    );
    const logs = await list<CallLogRecord>(kv, keys.callLogPrefix());
    assert.equal(logs.length, 1, "one log record");
    assert.equal(await count(kv, "total"), 1, "counted once");
  },
});

Deno.test({
  name:
    "durable: two processes share a KV; killing one, the survivor ends only the dead one's calls",
  async fn() {
    const GRACE_MS = 1_500;
    await using dir = await kvDir();
    await using a = await startAppServer(env(GRACE_MS), { dir: dir.path });
    await using b = await startAppServer(env(GRACE_MS), {
      dir: dir.path,
      port: freePort(),
    });
    await using kv = await openKv(dir.path);
    await using socks = sockets();
    const on = (c: Promise<SignalClient>) => c.then(socks.add);

    const bob = await claim(a, "bob_ds");
    const carol = await claim(b, "carol_ds");
    // Call X: both sockets on A. Call Y: both sockets on B.
    const bobDev = await on(device(ws(a), bob, undefined, "busy", HB));
    const toBob = await on(caller(ws(a), undefined, undefined, HB));
    const carolDev = await on(device(ws(b), carol, undefined, "busy", HB));
    const toCarol = await on(caller(ws(b), undefined, undefined, HB));
    const x = await answered(toBob, "bob_ds", bobDev);
    const y = await answered(toCarol, "carol_ds", carolDev);
    await Promise.all(
      [bobDev, toBob, carolDev, toCarol].map((c) => acks(c, 5)),
    );

    const killAt = await killWith(a, [bobDev, toBob]);
    const logX = await waitFor(
      "B logs the call whose sockets were on A",
      () => getCallLog(kv, x.callId),
      killAt + SILENT_MS + GRACE_MS + SWEEP_MS + SLACK_MS,
    );
    assert.equal(logX.decision, "answered");
    const upper = killAt - x.acceptSentAt;
    const lower = killAt - x.connectedAt - TICK_TOLERANCE_MS;
    assert.ok(
      logX.durationMs <= upper && logX.durationMs >= lower,
      `X lasted ${logX.durationMs} ms; expected ${lower}..${upper}`,
    );
    assert.equal((await kv.get(keys.inCall("bob_ds"))).value, null);

    // Y, on the survivor, goes on untouched, even past the deadline it had
    // when answered (its index entry's first due time) and a few sweeps.
    while (Date.now() < y.connectedAt + SILENT_MS + GRACE_MS + 3 * SWEEP_MS) {
      await Promise.all([acks(toCarol, 1), acks(carolDev, 1)]);
    }
    assert.equal(await getCallLog(kv, y.callId), null, "Y is not logged");
    assert.equal((await kv.get(keys.inCall("carol_ds"))).value, y.callId);
    assert.deepEqual(about(toCarol, y.callId), [], "Y's caller heard nothing");
    assert.deepEqual(about(carolDev, y.callId), [], "Y's callee heard nothing");
    assert.equal(toCarol.ws.readyState, WebSocket.OPEN);
    assert.equal(carolDev.ws.readyState, WebSocket.OPEN);
    const sdp = "v=0\r\ns=survivor\r\n";
    toCarol.send({ type: "offer", callId: y.callId, sdp });
    assert.equal((await carolDev.next("offer")).sdp, sdp);

    const hangupAt = Date.now();
    carolDev.send({ type: "hangup", callId: y.callId, reason: "normal" });
    const h = await toCarol.next("hangup", (m) => m.callId === y.callId);
    assert.equal(h.reason, "normal");
    const logY = await waitFor(
      "Y is logged once hung up",
      () => getCallLog(kv, y.callId),
      Date.now() + 2_000,
    );
    assert.equal(logY.decision, "answered");
    assert.ok(
      logY.durationMs >= hangupAt - y.connectedAt &&
        logY.durationMs <= Date.now() - y.acceptSentAt,
      `Y lasted ${logY.durationMs} ms, until its hang-up`,
    );
    assert.equal(await count(kv, "answered"), 2, "each call counted once");
  },
});
