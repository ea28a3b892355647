/**
 * The browser's call core (lib/client/call.ts) without a browser: a fake
 * signaling socket, a fake media session (in place of CallSession and its
 * RTCPeerConnection), a fake microphone, fetch and clock. Every state
 * transition of both sides, every server message in every state (those that
 * make no sense there must leave the state alone), the security stop, and
 * resume after a reconnect.
 */
import assert from "node:assert/strict";
import {
  allowsVoicemail,
  type CallDeps,
  calleeText,
  callerText,
  type CallState,
  type Clock,
  HIDE_IP,
  IncomingCall,
  type Keys,
  OutgoingCall,
  type Store,
  watchRings,
  writePref,
} from "@/lib/client/call.ts";
import type { CallSession, CallSessionOptions } from "@/lib/client/rtc.ts";
import type {
  Hello,
  SignalClient,
  SignalListener,
} from "@/lib/client/signal.ts";
import type { DeviceIdentity } from "@/lib/client/device_identity.ts";
import type { Verdict, VerifyInput } from "@/lib/identity/device_cert.ts";
import type { ClientMessage, ServerMessage } from "@/signaling/protocol.ts";

const ID = "11111111-2222-4333-8444-555555555555";
const OTHER = "99999999-2222-4333-8444-555555555555";
const TOKEN = "ab".repeat(32);
const WALLET = "WaLLetKey1111111111111111111111111111111111";

/** The state's kind, read afresh (no narrowing from an earlier assert). */
const kindOf = (c: { state: CallState }): string => c.state.kind;

/** Lets every pending promise and zero-delay timer run. */
const tick = () => new Promise((r) => setTimeout(r, 0));

class FakeSignal implements SignalClient {
  sent: ClientMessage[] = [];
  listeners = new Set<SignalListener>();
  closed = false;
  send(m: ClientMessage) {
    this.sent.push(m);
  }
  listen(l: SignalListener) {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  close() {
    this.closed = true;
  }
  async deliver(m: ServerMessage) {
    for (const l of [...this.listeners]) l.onMessage?.(m);
    await tick();
  }
  /** The socket came back: hello, welcome, then `onReconnect`. */
  reconnect() {
    for (const l of [...this.listeners]) l.onReconnect?.();
  }
  socketState(
    s: "open" | "reconnecting" | "closed",
    detail?: { code: number; reason: string },
  ) {
    for (const l of [...this.listeners]) l.onState?.(s, detail);
  }
  types() {
    return this.sent.map((m) => m.type);
  }
  last<T extends ClientMessage["type"]>(type: T) {
    return this.sent.filter((m) => m.type === type).at(-1) as
      | Extract<ClientMessage, { type: T }>
      | undefined;
  }
}

/** Stands in for CallSession: records what the call asks of it. */
class FakeSession {
  state = "idle";
  failure = "";
  handled: ServerMessage[] = [];
  closed = false;
  offerPrepared = false;
  offerSent = false;
  /** What `verify` answers, and what it was asked. */
  verdict: Verdict = {
    ok: true,
    cert: {
      handle: "bob",
      device: "dev",
      wallet: WALLET,
      issued: "",
      expires: "",
    },
  };
  verified: { proof: VerifyInput; expect: unknown }[] = [];
  /** Whether `proof` can be made (both fingerprints known). */
  canProve = true;
  throwOnHandle = false;
  constructor(readonly o: CallSessionOptions) {}
  prepareOffer() {
    this.offerPrepared = true;
    return Promise.resolve();
  }
  sendOffer() {
    this.offerSent = true;
  }
  handle(m: ServerMessage) {
    if (this.throwOnHandle) return Promise.reject(new Error("bad sdp"));
    this.handled.push(m);
    return Promise.resolve();
  }
  proof(_me: DeviceIdentity) {
    return Promise.resolve(
      this.canProve
        ? {
          callId: this.o.callId,
          cert: "cert",
          certSig: "certSig",
          statement: `statement by ${this.o.role}`,
          sig: "sig",
        }
        : null,
    );
  }
  verify(proof: VerifyInput, expect: unknown) {
    this.verified.push({ proof, expect });
    return Promise.resolve(this.verdict);
  }
  details() {
    return Promise.resolve({ localCandidateType: "relay", relayed: true });
  }
  setMuted() {}
  close() {
    this.closed = true;
    this.state = "closed";
  }
  /** The peer connection's state changes, as CallSession reports it. */
  media(s: "connected" | "reconnecting" | "failed") {
    this.state = s;
    this.o.onState(s);
  }
}

class FakeClock implements Clock {
  t = 1_000_000;
  timers: { at: number; f: () => void }[] = [];
  now() {
    return this.t;
  }
  after(ms: number, f: () => void) {
    const timer = { at: this.t + ms, f };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((x) => x !== timer);
    };
  }
  async advance(ms: number) {
    this.t += ms;
    for (;;) {
      const due = this.timers.filter((x) => x.at <= this.t)
        .sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((x) => x !== due);
      due.f();
      await tick();
    }
  }
}

class MemoryStore implements Store {
  map = new Map<string, string>();
  getItem(k: string) {
    return this.map.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.map.set(k, v);
  }
}

interface FakeMic {
  stream: MediaStream;
  stopped: () => boolean;
}

function fakeMic(): FakeMic {
  let stopped = false;
  const track = {
    kind: "audio",
    enabled: true,
    stop: () => stopped = true,
  };
  const stream = {
    getTracks: () => [track],
    getAudioTracks: () => [track],
  } as unknown as MediaStream;
  return { stream, stopped: () => stopped };
}

const identity: DeviceIdentity = {
  cert: "cert",
  certSig: "certSig",
  dtls: {} as RTCCertificate,
  sign: (t) => Promise.resolve(`signed ${t}`),
};

interface World {
  deps: CallDeps;
  sessions: FakeSession[];
  clock: FakeClock;
  store: MemoryStore;
  mic: FakeMic;
  fetched: string[];
  /** Resolves a microphone held back with `holdMic`. */
  releaseMic: () => void;
}

function world(
  o: {
    keys?: Keys;
    micError?: string;
    iceFails?: boolean;
    holdMic?: boolean;
    wallet?: string;
  } = {},
): World {
  const sessions: FakeSession[] = [];
  const clock = new FakeClock();
  const store = new MemoryStore();
  const mic = fakeMic();
  const fetched: string[] = [];
  let releaseMic = () => {};
  const deps: CallDeps = {
    session: (opts) => {
      const s = new FakeSession(opts);
      sessions.push(s);
      return s as unknown as CallSession;
    },
    microphone: () => {
      if (o.micError) {
        return Promise.reject(
          Object.assign(new Error("no"), { name: o.micError }),
        );
      }
      if (o.holdMic) {
        return new Promise((r) => releaseMic = () => r(mic.stream));
      }
      return Promise.resolve(mic.stream);
    },
    fetch: (url) => {
      fetched.push(url);
      if (url === "/api/ice") {
        return Promise.resolve(
          o.iceFails
            ? new Response("no", { status: 503 })
            : Response.json({ iceServers: [{ urls: "stun:x" }] }),
        );
      }
      if (url.startsWith("/handles/")) {
        return Promise.resolve(
          Response.json({ walletPubkey: o.wallet ?? "AliceWallet" }),
        );
      }
      return Promise.resolve(new Response("", { status: 404 }));
    },
    keys: () => Promise.resolve(o.keys ?? { identity: null }),
    clock,
    store,
  };
  return {
    deps,
    sessions,
    clock,
    store,
    mic,
    fetched,
    releaseMic: () => releaseMic(),
  };
}

/** Every state change a listener saw: [new kind, old kind]. */
function record(
  call: { listen(l: (s: CallState, o: CallState) => void): unknown },
) {
  const seen: [string, string][] = [];
  call.listen((s, old) => {
    if (s !== old) seen.push([s.kind, old.kind]);
  });
  return seen;
}

// ---------------------------------------------------------------- caller

interface Placed {
  w: World;
  call: OutgoingCall;
  signal: FakeSignal;
  hellos: Hello[];
}

function outgoing(o: Parameters<typeof world>[0] = {}) {
  const w = world(o);
  const signal = new FakeSignal();
  const hellos: Hello[] = [];
  const call = new OutgoingCall("bob", WALLET, {
    ...w.deps,
    connect: (hello) => {
      hellos.push(hello);
      return signal;
    },
  });
  return { w, call, signal, hellos };
}

const CALLER_STEPS = [
  "microphone",
  "ringing",
  "connecting",
  "connected",
  "reconnecting",
] as const;

/** A call placed and driven to `kind` the way the server would. */
async function placedIn(
  kind: CallState["kind"],
  o: Parameters<typeof world>[0] = {},
): Promise<Placed> {
  const p = outgoing(o);
  const { call, signal } = p;
  if (kind === "idle") return p;
  await call.start();
  await signal.deliver({
    type: "welcome",
    role: "caller",
    heartbeatMs: 15000,
    ringMs: 60000,
  });
  if (kind === "microphone") return p;
  if (kind === "ended") {
    call.hangup();
    return p;
  }
  await signal.deliver({
    type: "ringing",
    callId: call.id,
    devices: 2,
    resumeToken: TOKEN,
  });
  if (kind === "ringing") return p;
  await signal.deliver({ type: "accepted", callId: call.id });
  if (kind === "connecting") return p;
  p.w.sessions[0].media("connected");
  await tick();
  if (kind === "connected") return p;
  p.w.sessions[0].media("reconnecting");
  return p;
}

Deno.test("caller: every transition from idle to connected and back, then hang up", async () => {
  const { w, call, signal, hellos } = outgoing();
  const seen = record(call);
  assert.equal(kindOf(call), "idle");
  const started = call.start();
  assert.equal(kindOf(call), "microphone", "at once, while asking");
  await started;
  assert.equal(hellos.length, 1, "the socket opens once the mic is there");
  assert.equal(hellos[0].role, "caller");
  assert.match(
    (hellos[0] as { callerToken: string }).callerToken,
    /^[0-9a-f]{32}$/,
  );
  assert.deepEqual(w.fetched, ["/api/ice"]);
  assert.deepEqual(signal.sent, [], "nothing before the welcome");

  await signal.deliver({
    type: "welcome",
    role: "caller",
    heartbeatMs: 15000,
    ringMs: 60000,
  });
  assert.deepEqual(signal.sent, [{ type: "ring", callId: call.id, to: "bob" }]);

  await signal.deliver({
    type: "ringing",
    callId: call.id,
    devices: 2,
    resumeToken: TOKEN,
  });
  assert.deepEqual(call.state, { kind: "ringing", devices: 2 });
  const [s] = w.sessions;
  assert.equal(s.o.role, "caller");
  assert.equal(s.o.iceTransportPolicy, "all");
  assert.deepEqual(s.o.iceServers, [{ urls: "stun:x" }]);
  assert.ok(s.offerPrepared, "candidates gather while ringing");
  assert.ok(!s.offerSent);

  await signal.deliver({ type: "accepted", callId: call.id });
  assert.equal(kindOf(call), "connecting");
  assert.ok(s.offerSent, "the offer goes out once a device accepted");

  await signal.deliver({ type: "answer", callId: call.id, sdp: "v=0" });
  await signal.deliver({
    type: "candidate",
    callId: call.id,
    candidate: null,
  });
  assert.deepEqual(s.handled.map((m) => m.type), ["answer", "candidate"]);
  assert.ok(!signal.types().includes("verify"), "anonymous: nothing to prove");

  const remote = {} as MediaStream;
  s.o.onRemoteStream(remote);
  assert.equal(call.remote, remote);
  assert.equal(call.audible, false, "muted until the callee proves itself");

  s.media("connected");
  assert.deepEqual(call.state, { kind: "connected", since: w.clock.now() });
  await tick();
  assert.deepEqual(signal.last("report"), {
    type: "report",
    callId: call.id,
    relayed: true,
  });

  await w.clock.advance(5000);
  s.media("reconnecting");
  assert.deepEqual(call.state, {
    kind: "reconnecting",
    since: w.clock.now() - 5000,
  });
  s.media("connected");
  assert.deepEqual(call.state, {
    kind: "connected",
    since: w.clock.now() - 5000,
  }, "the call keeps its start time across a reconnect");

  await signal.deliver({
    type: "verify",
    callId: call.id,
    cert: "c",
    certSig: "cs",
    statement: "st",
    sig: "sg",
  });
  assert.equal(call.audible, true);
  call.hangup();
  assert.deepEqual(signal.last("hangup"), {
    type: "hangup",
    callId: call.id,
    reason: "normal",
  });
  assert.deepEqual(call.state, {
    kind: "ended",
    reason: "local",
    message: "You hung up.",
  });
  assert.ok(s.closed && w.mic.stopped() && signal.closed);
  assert.equal(signal.listeners.size, 0, "unsubscribed");
  assert.equal(call.remote, null);
  assert.deepEqual(seen, [
    ["microphone", "idle"],
    ["ringing", "microphone"],
    ["connecting", "ringing"],
    ["connected", "connecting"],
    ["reconnecting", "connected"],
    ["connected", "reconnecting"],
    ["ended", "connected"],
  ]);
});

Deno.test("caller: the first call pins the key; a changed key waits for consent", async () => {
  const a = outgoing();
  await a.call.start();
  assert.equal(kindOf(a.call), "microphone");
  assert.deepEqual(JSON.parse(a.w.store.getItem("reach.pins")!), {
    bob: WALLET,
  });

  const b = outgoing();
  b.w.store.setItem("reach.pins", JSON.stringify({ bob: "OldKey", x: "y" }));
  await b.call.start();
  assert.deepEqual(b.call.state, { kind: "keychanged", pinned: "OldKey" });
  assert.equal(b.hellos.length, 0, "no socket, no microphone");
  await b.call.start(true);
  assert.equal(kindOf(b.call), "microphone");
  assert.deepEqual(JSON.parse(b.w.store.getItem("reach.pins")!), {
    bob: WALLET,
    x: "y",
  });
  assert.equal(b.hellos.length, 1);
});

Deno.test("caller: no microphone, or no ICE servers, ends the call and says why", async () => {
  const a = outgoing({ micError: "NotAllowedError" });
  await a.call.start();
  assert.equal(kindOf(a.call), "ended");
  assert.match(
    (a.call.state as { message: string }).message,
    /^Microphone access was denied/,
  );
  assert.equal(a.hellos.length, 0);

  const b = outgoing({ iceFails: true });
  await b.call.start();
  assert.deepEqual(b.call.state, {
    kind: "ended",
    reason: "network",
    message:
      "Could not prepare the connection. Check your network and try again.",
  });
  assert.ok(b.w.mic.stopped(), "the microphone is let go");
  assert.equal(b.hellos.length, 0);
});

Deno.test("caller: cancelled while the microphone is asked for: no socket, mic released", async () => {
  const { w, call, hellos } = outgoing({ holdMic: true });
  const started = call.start();
  call.hangup();
  assert.deepEqual(call.state, {
    kind: "ended",
    reason: "cancelled",
    message: "Call cancelled.",
  });
  w.releaseMic();
  await started;
  assert.ok(w.mic.stopped());
  assert.equal(hellos.length, 0);
  assert.equal(kindOf(call), "ended");
});

Deno.test("caller: cancel while ringing sends cancel", async () => {
  const { call, signal } = await placedIn("ringing");
  call.hangup();
  assert.deepEqual(signal.last("cancel"), { type: "cancel", callId: call.id });
  assert.equal((call.state as { message: string }).message, "Call cancelled.");
  assert.ok(signal.closed);
});

Deno.test("caller: unanswered endings, and which allow a voicemail", async () => {
  for (
    const [reason, text, vm] of [
      ["declined", "@bob declined the call.", true],
      ["missed", "@bob did not answer.", true],
      ["busy", "@bob is on another call.", true],
      ["unavailable", "@bob is not receiving calls right now.", true],
      ["cancelled", "Call cancelled.", false],
    ] as const
  ) {
    const { call, signal } = await placedIn("ringing");
    await signal.deliver({ type: "ended", callId: call.id, reason });
    assert.deepEqual(call.state, { kind: "ended", reason, message: text });
    assert.deepEqual(
      call.voicemail,
      vm ? { callId: call.id, token: TOKEN } : null,
      reason,
    );
  }
  // Ended at ring time (no `ringing`): the token comes with the ending.
  const { call, signal } = await placedIn("microphone");
  const other = "cd".repeat(32);
  await signal.deliver({
    type: "ended",
    callId: call.id,
    reason: "unavailable",
    resumeToken: other,
  });
  assert.deepEqual(call.voicemail, { callId: call.id, token: other });
});

Deno.test("caller: the other side hangs up, or its connection is lost", async () => {
  const a = await placedIn("connected");
  await a.signal.deliver({
    type: "hangup",
    callId: a.call.id,
    reason: "normal",
  });
  assert.deepEqual(a.call.state, {
    kind: "ended",
    reason: "hungup",
    message: "@bob hung up.",
  });
  const b = await placedIn("connecting");
  await b.signal.deliver({
    type: "hangup",
    callId: b.call.id,
    reason: "connection_lost",
  });
  assert.equal(
    (b.call.state as { message: string }).message,
    "The call ended: the connection was lost.",
  );
  assert.ok(!b.signal.types().includes("hangup"), "nothing said back");
});

Deno.test("caller: server errors, a refused socket, a failed connection", async () => {
  const a = await placedIn("microphone");
  await a.signal.deliver({
    type: "error",
    code: "unknown_handle",
    message: "no such handle",
    callId: a.call.id,
  });
  assert.equal(
    (a.call.state as { message: string }).message,
    "No one has the handle @bob.",
  );

  const b = await placedIn("ringing");
  await b.signal.deliver({
    type: "error",
    code: "rate_limited",
    message: "Too many calls; wait a minute.",
  });
  assert.deepEqual(b.call.state, {
    kind: "ended",
    reason: "error",
    message: "Too many calls; wait a minute.",
  }, "its own socket: an error without a call id is for it");

  const c = await placedIn("connected");
  c.signal.socketState("reconnecting", { code: 1006, reason: "" });
  assert.equal(c.call.socket, "reconnecting");
  assert.equal(kindOf(c.call), "connected", "media goes on");
  c.signal.socketState("open");
  c.signal.socketState("closed", { code: 4008, reason: "flood" });
  assert.deepEqual(c.call.state, {
    kind: "ended",
    reason: "refused",
    message: "The connection to Reach was refused (flood).",
  });

  const d = await placedIn("connected");
  d.w.sessions[0].failure = "Could not connect the two browsers.";
  d.w.sessions[0].media("failed");
  assert.deepEqual(d.call.state, {
    kind: "ended",
    reason: "failed",
    message: "Could not connect the two browsers.",
  });

  // Relay-only with no relay: CallSession fails while it still rings.
  const r = await placedIn("ringing");
  r.w.sessions[0].failure =
    "The relay server (TURN) refused our credentials, so the call cannot be relayed.";
  r.w.sessions[0].media("failed");
  assert.deepEqual(r.call.state, {
    kind: "ended",
    reason: "failed",
    message:
      "The relay server (TURN) refused our credentials, so the call cannot be relayed.",
  });
  assert.ok(r.signal.closed);

  const e = await placedIn("connecting");
  e.w.sessions[0].throwOnHandle = true;
  await e.signal.deliver({ type: "answer", callId: e.call.id, sdp: "x" });
  assert.deepEqual(e.call.state, {
    kind: "ended",
    reason: "broken",
    message: "Something went wrong setting up the call.",
  });
});

Deno.test("caller: hide my IP makes the media relay-only", async () => {
  const p = outgoing();
  writePref(HIDE_IP, true, p.w.store);
  await p.call.start();
  await p.signal.deliver({
    type: "ringing",
    callId: p.call.id,
    devices: 1,
    resumeToken: TOKEN,
  });
  assert.equal(p.w.sessions[0].o.iceTransportPolicy, "relay");
});

// ------------------------------------------------------- security stop

const VERIFY = (callId: string): ServerMessage => ({
  type: "verify",
  callId,
  cert: "cert",
  certSig: "certSig",
  statement: "statement",
  sig: "sig",
});

/** Whether the caller's remote audio was ever allowed to play. */
function watchAudible(call: OutgoingCall) {
  let ever = call.audible;
  call.listen(() => ever ||= call.audible);
  return () => ever;
}

Deno.test("security stop: a bad proof ends the call before any audio, with the reason", async () => {
  const { w, call, signal } = await placedIn("connecting");
  const audible = watchAudible(call);
  const s = w.sessions[0];
  s.o.onRemoteStream({} as MediaStream);
  s.verdict = {
    ok: false,
    reason: "the encryption key in use is not the one the device signed",
  };
  await signal.deliver(VERIFY(call.id));
  assert.equal(s.verified.length, 0, "checked only once connected");
  s.media("connected");
  await tick();
  assert.deepEqual(s.verified[0].expect, { handle: "bob", wallet: WALLET });
  assert.deepEqual(signal.last("hangup"), {
    type: "hangup",
    callId: call.id,
    reason: "failed",
  });
  assert.deepEqual(call.state, {
    kind: "ended",
    reason: "security",
    message:
      "Security warning: this call could not be verified (the encryption key in use is not the one the device signed), so it was ended before any audio played. Someone may be intercepting it.",
  });
  assert.equal(audible(), false, "the remote audio was never unmuted");
  assert.ok(s.closed);
});

Deno.test("security stop: no proof within 8 seconds of connecting", async () => {
  const { w, call, signal } = await placedIn("connected");
  const audible = watchAudible(call);
  await w.clock.advance(7999);
  assert.equal(kindOf(call), "connected");
  await w.clock.advance(1);
  assert.deepEqual(call.state, {
    kind: "ended",
    reason: "security",
    message:
      "Security warning: this call could not be verified (the device did not prove its identity), so it was ended before any audio played. Someone may be intercepting it.",
  });
  assert.equal(signal.last("hangup")?.reason, "failed");
  assert.equal(audible(), false);
});

Deno.test("security stop: a proof sent while still ringing does not count", async () => {
  const { w, call, signal } = await placedIn("ringing");
  await signal.deliver(VERIFY(call.id));
  await signal.deliver({ type: "accepted", callId: call.id });
  w.sessions[0].media("connected");
  await tick();
  assert.equal(w.sessions[0].verified.length, 0);
  await w.clock.advance(8000);
  assert.equal((call.state as { reason: string }).reason, "security");
});

Deno.test("security: a good proof unmutes, names the device, and disarms the deadline", async () => {
  const { w, call, signal } = await placedIn("connected");
  await signal.deliver(VERIFY(call.id));
  assert.equal(call.audible, true);
  assert.equal(
    call.identity,
    `Verified: @bob's device, certified by their wallet key ${
      WALLET.slice(0, 6)
    }…`,
  );
  await w.clock.advance(60_000);
  assert.equal(kindOf(call), "connected");
  // A second proof is not checked again.
  await signal.deliver(VERIFY(call.id));
  assert.equal(w.sessions[0].verified.length, 1);
});

Deno.test("security: the callee's check fails: its security stop, its words", async () => {
  const w = world({ wallet: "AliceWallet" });
  const signal = new FakeSignal();
  const call = new IncomingCall(ID, "alice", signal, w.deps);
  await signal.deliver({ type: "incoming", callId: ID, from: "alice" });
  await call.answer();
  const s = w.sessions[0];
  s.verdict = { ok: false, reason: "the statement names another call" };
  s.media("connected");
  assert.equal(
    call.identity,
    "Unverified caller: @alice has not proved it yet",
  );
  await signal.deliver(VERIFY(ID));
  assert.deepEqual(w.fetched, ["/api/ice", "/handles/alice"]);
  assert.deepEqual(s.verified[0].expect, {
    handle: "alice",
    wallet: "AliceWallet",
  });
  assert.equal(signal.last("hangup")?.reason, "failed");
  assert.deepEqual(call.state, {
    kind: "ended",
    reason: "security",
    message:
      "Security warning: the call from @alice could not be verified (the statement names another call) and was ended. Someone may be intercepting it.",
  });
  assert.ok(!signal.closed, "the device's socket stays open");
});

// ------------------------------------------------------------- proofs

Deno.test("proofs: each side proves itself once, after the offer/answer exchange", async () => {
  const a = await placedIn("connecting", { keys: { identity } });
  await a.signal.deliver({
    type: "candidate",
    callId: a.call.id,
    candidate: null,
  });
  assert.ok(!a.signal.types().includes("verify"), "not before the answer");
  await a.signal.deliver({ type: "answer", callId: a.call.id, sdp: "v=0" });
  assert.deepEqual(a.signal.last("verify"), {
    type: "verify",
    callId: a.call.id,
    cert: "cert",
    certSig: "certSig",
    statement: "statement by caller",
    sig: "sig",
  });
  await a.signal.deliver({ type: "answer", callId: a.call.id, sdp: "v=0" });
  assert.equal(a.signal.types().filter((t) => t === "verify").length, 1);

  // The callee proves after the offer; when the SDP lacks a fingerprint it
  // tries again on the next one.
  const w = world({ keys: { identity } });
  const signal = new FakeSignal();
  const call = new IncomingCall(ID, null, signal, w.deps);
  await signal.deliver({ type: "incoming", callId: ID, from: null });
  await call.answer();
  w.sessions[0].canProve = false;
  await signal.deliver({ type: "offer", callId: ID, sdp: "v=0" });
  assert.ok(!signal.types().includes("verify"));
  w.sessions[0].canProve = true;
  await signal.deliver({ type: "offer", callId: ID, sdp: "v=0" });
  assert.equal(signal.last("verify")?.statement, "statement by callee");
});

// ------------------------------------------------------------- resume

Deno.test("resume: after a reconnect each side resumes with its token; an ended call is over", async () => {
  const early = await placedIn("microphone");
  early.signal.reconnect();
  assert.ok(!early.signal.types().includes("resume"), "no token yet");

  const a = await placedIn("connected");
  a.signal.reconnect();
  assert.deepEqual(a.signal.last("resume"), {
    type: "resume",
    callId: a.call.id,
    token: TOKEN,
  });
  await a.signal.deliver({
    type: "welcome",
    role: "caller",
    heartbeatMs: 15000,
    ringMs: 60000,
  });
  assert.equal(a.signal.types().filter((t) => t === "ring").length, 1);
  await a.signal.deliver({
    type: "resumed",
    callId: a.call.id,
    state: "answered",
  });
  assert.equal(kindOf(a.call), "connected");
  await a.signal.deliver({
    type: "resumed",
    callId: a.call.id,
    state: "ended",
  });
  assert.deepEqual(a.call.state, {
    kind: "ended",
    reason: "over",
    message: "The call ended.",
  });

  const w = world();
  const signal = new FakeSignal();
  const call = new IncomingCall(ID, null, signal, w.deps);
  await signal.deliver({ type: "incoming", callId: ID, from: null });
  signal.reconnect();
  assert.ok(!signal.types().includes("resume"), "a ring has no token");
  await call.answer();
  await signal.deliver({
    type: "connected-call",
    callId: ID,
    resumeToken: TOKEN,
  });
  signal.reconnect();
  assert.deepEqual(signal.last("resume"), {
    type: "resume",
    callId: ID,
    token: TOKEN,
  });
  await signal.deliver({
    type: "error",
    code: "bad_resume",
    message: "That call cannot be resumed.",
    callId: ID,
  });
  assert.deepEqual(call.state, {
    kind: "ended",
    reason: "error",
    message: "That call cannot be resumed.",
  });
});

// ------------------------------------------------------------- callee

function ring(o: Parameters<typeof world>[0] = {}, from: string | null = null) {
  const w = world(o);
  const signal = new FakeSignal();
  const calls: IncomingCall[] = [];
  watchRings(signal, w.deps, (c) => calls.push(c));
  return { w, signal, calls, from };
}

Deno.test("callee: ring, answer, connect, hang up", async () => {
  const { w, signal, calls } = ring({ keys: { identity } });
  writePref(HIDE_IP, true, w.store);
  await signal.deliver({ type: "incoming", callId: ID, from: null });
  const [call] = calls;
  const seen = record(call);
  assert.equal(kindOf(call), "ringing");
  assert.equal(call.peer, "an anonymous caller");
  const answering = call.answer();
  assert.equal(kindOf(call), "microphone");
  await answering;
  assert.equal(kindOf(call), "connecting");
  assert.deepEqual(signal.sent, [{ type: "accept", callId: ID }]);
  const [s] = w.sessions;
  assert.equal(s.o.role, "callee");
  assert.equal(s.o.iceTransportPolicy, "relay", "the same Hide-my-IP");
  assert.equal(s.o.certificate, undefined);

  await signal.deliver({
    type: "connected-call",
    callId: ID,
    resumeToken: TOKEN,
  });
  await signal.deliver({ type: "offer", callId: ID, sdp: "v=0" });
  assert.deepEqual(s.handled.map((m) => m.type), ["offer"]);
  assert.equal(signal.last("verify")?.callId, ID);
  s.media("connected");
  assert.deepEqual(call.state, { kind: "connected", since: w.clock.now() });
  assert.equal(call.identity, "Unverified caller (anonymous)");
  assert.equal(call.audible, true, "the callee's audio is not held back");
  await w.clock.advance(10_000);
  assert.equal(kindOf(call), "connected", "no deadline on this side");
  call.hangup();
  assert.deepEqual(signal.last("hangup"), {
    type: "hangup",
    callId: ID,
    reason: "normal",
  });
  assert.deepEqual(call.state, {
    kind: "ended",
    reason: "local",
    message: "You hung up.",
  });
  assert.ok(!signal.closed);
  assert.ok(s.closed && w.mic.stopped());
  assert.deepEqual(seen, [
    ["microphone", "ringing"],
    ["connecting", "microphone"],
    ["connected", "connecting"],
    ["ended", "connected"],
  ]);
});

Deno.test("callee: decline; no microphone declines too", async () => {
  const a = ring();
  await a.signal.deliver({ type: "incoming", callId: ID, from: "alice" });
  a.calls[0].decline();
  assert.deepEqual(a.signal.sent, [{ type: "decline", callId: ID }]);
  assert.deepEqual(a.calls[0].state, {
    kind: "ended",
    reason: "declined",
    message: "",
  });

  const b = ring({ micError: "NotFoundError" });
  await b.signal.deliver({ type: "incoming", callId: ID, from: null });
  await b.calls[0].answer();
  assert.deepEqual(b.signal.sent, [{ type: "decline", callId: ID }]);
  assert.equal(
    (b.calls[0].state as { message: string }).message,
    "No microphone was found. Plug one in and try again.",
  );
});

Deno.test("callee: answered elsewhere or ended while the microphone is asked for", async () => {
  const { w, signal, calls } = ring({ holdMic: true });
  await signal.deliver({ type: "incoming", callId: ID, from: null });
  const answering = calls[0].answer();
  await signal.deliver({ type: "answered-elsewhere", callId: ID });
  assert.deepEqual(calls[0].state, {
    kind: "ended",
    reason: "elsewhere",
    message: "Answered on another device.",
  });
  w.releaseMic();
  await answering;
  assert.ok(w.mic.stopped());
  assert.deepEqual(signal.sent, [], "neither accept nor decline");
  assert.equal(w.sessions.length, 0);
});

Deno.test("callee: the caller's endings, in the callee's words", async () => {
  for (
    const [reason, message] of [
      ["missed", "Missed call."],
      ["cancelled", "The caller hung up."],
      ["declined", ""],
    ] as const
  ) {
    const { signal, calls } = ring();
    await signal.deliver({ type: "incoming", callId: ID, from: null });
    await signal.deliver({ type: "ended", callId: ID, reason });
    assert.deepEqual(calls[0].state, { kind: "ended", reason, message });
  }
  for (
    const [reason, message] of [
      ["normal", "The caller hung up."],
      ["timeout", "The call ended: the connection was lost."],
    ] as const
  ) {
    const { signal, calls } = ring();
    await signal.deliver({ type: "incoming", callId: ID, from: null });
    await calls[0].answer();
    await signal.deliver({ type: "hangup", callId: ID, reason });
    assert.equal((calls[0].state as { message: string }).message, message);
  }
});

Deno.test("callee: a signed-in caller's good proof; an anonymous caller's proof is ignored", async () => {
  const a = ring({ wallet: "AliceWallet" });
  await a.signal.deliver({ type: "incoming", callId: ID, from: "alice" });
  await a.calls[0].answer();
  await a.signal.deliver(VERIFY(ID));
  assert.equal(a.w.sessions[0].verified.length, 0, "not before connected");
  a.w.sessions[0].media("connected");
  await tick();
  assert.equal(a.calls[0].identity, "Verified caller @alice");
  assert.equal(kindOf(a.calls[0]), "connected");

  const b = ring();
  await b.signal.deliver({ type: "incoming", callId: ID, from: null });
  await b.calls[0].answer();
  b.w.sessions[0].media("connected");
  await b.signal.deliver(VERIFY(ID));
  assert.equal(b.w.sessions[0].verified.length, 0);
  assert.equal(b.calls[0].identity, "Unverified caller (anonymous)");
  assert.equal(kindOf(b.calls[0]), "connected");
});

Deno.test("callee: rings are made once per call, also when repeated after a reconnect", async () => {
  const { signal, calls } = ring();
  await signal.deliver({
    type: "welcome",
    role: "device",
    handle: "bob",
    heartbeatMs: 15000,
    ringMs: 60000,
  });
  // Right after the welcome: the calls still ringing for the handle.
  await signal.deliver({ type: "incoming", callId: ID, from: null });
  await signal.deliver({ type: "incoming", callId: ID, from: null });
  assert.equal(calls.length, 1);
  assert.equal(kindOf(calls[0]), "ringing");
  await signal.deliver({ type: "incoming", callId: OTHER, from: "carol" });
  assert.equal(calls.length, 2);
  assert.equal(calls[1].peer, "@carol");
  // Messages for one call leave the other alone.
  await signal.deliver({ type: "ended", callId: OTHER, reason: "missed" });
  assert.equal(kindOf(calls[0]), "ringing");
  assert.equal(kindOf(calls[1]), "ended");
  assert.equal(signal.listeners.size, 2, "the watcher and the live ring");
});

Deno.test("dispose: lets go without a word and tells no listener", async () => {
  const { w, call, signal } = await placedIn("connected");
  let told = 0;
  call.listen(() => told++);
  const sent = signal.sent.length;
  call.dispose();
  assert.equal(told, 0);
  assert.equal(signal.sent.length, sent);
  assert.ok(signal.closed && w.sessions[0].closed);
});

// ------------------------------------------- every message in every state

/** One message of every type the server sends, for the call `id`. */
function everyMessage(id: string): ServerMessage[] {
  return [
    { type: "welcome", role: "caller", heartbeatMs: 15000, ringMs: 60000 },
    { type: "ringing", callId: id, devices: 1, resumeToken: TOKEN },
    { type: "incoming", callId: id, from: null },
    { type: "accepted", callId: id },
    { type: "connected-call", callId: id, resumeToken: TOKEN },
    { type: "answered-elsewhere", callId: id },
    { type: "ended", callId: id, reason: "missed" },
    { type: "offer", callId: id, sdp: "v=0" },
    { type: "answer", callId: id, sdp: "v=0" },
    { type: "candidate", callId: id, candidate: null },
    { type: "ice-restart", callId: id },
    VERIFY(id),
    { type: "hangup", callId: id, reason: "normal" },
    { type: "resumed", callId: id, state: "answered" },
    { type: "resumed", callId: id, state: "ended" },
    { type: "error", code: "not_answered", message: "not yet", callId: id },
    { type: "heartbeat-ack" },
  ];
}

const label = (m: ServerMessage) =>
  m.type === "resumed" ? `resumed:${m.state}` : m.type;

/**
 * What each message does to the caller in each state: the state it leads
 * to (unlisted: it stays).
 */
const CALLER_MOVES: Record<string, Record<string, string>> = {
  idle: {},
  microphone: {
    ringing: "ringing",
    ended: "ended",
    "resumed:ended": "ended",
    error: "ended",
  },
  ringing: {
    accepted: "connecting",
    ended: "ended",
    "resumed:ended": "ended",
    error: "ended",
  },
  connecting: { hangup: "ended", "resumed:ended": "ended", error: "ended" },
  connected: { hangup: "ended", "resumed:ended": "ended", error: "ended" },
  reconnecting: { hangup: "ended", "resumed:ended": "ended", error: "ended" },
  ended: {},
};

Deno.test("caller: every server message in every state", async () => {
  for (const kind of ["idle", ...CALLER_STEPS, "ended"] as const) {
    for (const m of everyMessage(ID)) {
      const p = await placedIn(kind);
      const id = p.call.id;
      const msg = JSON.parse(JSON.stringify(m).replaceAll(ID, id));
      const before = p.call.state;
      const sessions = p.w.sessions.length;
      // Idle: no socket yet, so straight to the call.
      if (kind === "idle") await p.call.receive(msg);
      else await p.signal.deliver(msg);
      const want = CALLER_MOVES[kind][label(msg)] ?? kind;
      assert.equal(kindOf(p.call), want, `${kind} + ${label(msg)}`);
      if (want === kind) {
        assert.deepEqual(p.call.state, before, `${kind} + ${label(msg)}`);
      }
      if (kind === "ended") {
        assert.equal(p.call.state, before, "an ended call stays as it ended");
      }
      if (m.type === "ringing" && kind !== "microphone") {
        assert.equal(p.w.sessions.length, sessions, "no second session");
      }
      // The same message for another call changes nothing.
      const q = await placedIn(kind);
      const stranger = JSON.parse(JSON.stringify(m).replaceAll(ID, OTHER));
      const was = q.call.state;
      if (kind === "idle") await q.call.receive(stranger);
      else await q.signal.deliver(stranger);
      if (!("callId" in stranger)) continue;
      assert.equal(q.call.state, was, `${kind} + another call's ${label(m)}`);
    }
  }
});

const CALLEE_MOVES: Record<string, Record<string, string>> = {
  idle: { incoming: "ringing" },
  ringing: {
    "answered-elsewhere": "ended",
    ended: "ended",
    "resumed:ended": "ended",
    error: "ended",
  },
  microphone: {
    "answered-elsewhere": "ended",
    ended: "ended",
    "resumed:ended": "ended",
    error: "ended",
  },
  connecting: {
    "answered-elsewhere": "ended",
    ended: "ended",
    hangup: "ended",
    "resumed:ended": "ended",
    error: "ended",
  },
  connected: { hangup: "ended", "resumed:ended": "ended", error: "ended" },
  reconnecting: { hangup: "ended", "resumed:ended": "ended", error: "ended" },
  ended: {},
};

/** A call ringing this device, driven to `kind`. */
async function ringingIn(kind: string) {
  const w = world({ holdMic: kind === "microphone" });
  const signal = new FakeSignal();
  const call = new IncomingCall(ID, "alice", signal, w.deps);
  if (kind === "idle") return { w, signal, call };
  await signal.deliver({ type: "incoming", callId: ID, from: "alice" });
  if (kind === "ended") call.decline();
  if (kind === "microphone") call.answer();
  if (["connecting", "connected", "reconnecting"].includes(kind)) {
    await call.answer();
  }
  if (kind === "connected" || kind === "reconnecting") {
    w.sessions[0].media("connected");
    await tick();
  }
  if (kind === "reconnecting") w.sessions[0].media("reconnecting");
  return { w, signal, call };
}

Deno.test("callee: every server message in every state", async () => {
  for (const kind of Object.keys(CALLEE_MOVES)) {
    for (const m of everyMessage(ID)) {
      const { signal, call } = await ringingIn(kind);
      assert.equal(kindOf(call), kind);
      const before = call.state;
      await signal.deliver(m);
      const want = CALLEE_MOVES[kind][label(m)] ?? kind;
      assert.equal(kindOf(call), want, `${kind} + ${label(m)}`);
      if (want === kind) {
        assert.deepEqual(call.state, before, `${kind} + ${label(m)}`);
      }
      const other = await ringingIn(kind);
      const was = other.call.state;
      await other.signal.deliver(
        JSON.parse(JSON.stringify(m).replaceAll(ID, OTHER)),
      );
      assert.equal(other.call.state, was, `${kind} + another call's ${m.type}`);
    }
  }
});

Deno.test("texts: one table of endings, and the voicemail decision", () => {
  for (const r of ["declined", "missed", "unavailable", "busy"] as const) {
    assert.ok(allowsVoicemail(r), r);
  }
  for (
    const r of ["cancelled", "local", "hungup", "security", "failed"] as const
  ) {
    assert.ok(!allowsVoicemail(r), r);
  }
  assert.equal(callerText("hungup", "@bob"), "@bob hung up.");
  assert.equal(calleeText("hungup", "@alice"), "The caller hung up.");
  assert.equal(callerText("failed", "@bob"), "The connection failed.");
  assert.equal(calleeText("busy", "@alice"), "");
  assert.equal(calleeText("over", "@alice"), "The call ended.");
});
