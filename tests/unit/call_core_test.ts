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
  calleeText,
  callerText,
  type CallState,
  type Clock,
  HIDE_IP,
  IncomingCall,
  type IncomingDeps,
  type Keys,
  KNOWN_CALLERS,
  knownCallers,
  MAX_KNOWN_CALLERS,
  OutgoingCall,
  type OutgoingDeps,
  rememberCaller,
  ringLine,
  type RingVerdict,
  type SealInput,
  type Store,
  WARM_MS,
  watchRings,
  writePref,
} from "@/lib/client/call.ts";
import type { CallerIdentity } from "@/lib/client/caller_identity.ts";
import type { InboxKey, SealedBox } from "@/lib/crypto/sealed_box.ts";
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
  /** As SignalSocket's: "open" once a welcome came. */
  state?: "open";
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
    if (m.type === "welcome") this.state = "open";
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
  /** What `remoteIs` answers, and the fingerprints it was asked about. */
  keyVerdict: { ok: true } | { ok: false; reason: string } = { ok: true };
  remoteAsked: string[] = [];
  /** Whether `proof` can be made (both fingerprints known). */
  canProve = true;
  throwOnHandle = false;
  constructor(readonly o: CallSessionOptions) {}
  prepareOffer() {
    this.offerPrepared = true;
    return Promise.resolve();
  }
  /** As CallSession's: nothing before prepareOffer has made the offer. */
  sendOffer() {
    if (this.offerPrepared) this.offerSent = true;
  }
  /** The microphones `useMic` was given, in order. */
  micsUsed: MediaStream[] = [];
  useMic(mic: MediaStream) {
    this.micsUsed.push(mic);
    return Promise.resolve();
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
  remoteIs(fingerprint: string) {
    this.remoteAsked.push(fingerprint);
    return Promise.resolve(this.keyVerdict);
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

/** A caller's DTLS fingerprint, as a sealed ring signs it. */
const FP = (who: string) =>
  `sha-256 ${
    [...new TextEncoder().encode(who.padEnd(32, "."))].map((b) =>
      b.toString(16).toUpperCase().padStart(2, "0")
    ).join(":")
  }`;

/** A fresh DTLS certificate, as far as the call reads it. */
const CERT = {
  expires: Date.now() + 86400_000,
  getFingerprints: () => [{ algorithm: "sha-256", value: FP("me").slice(8) }],
} as unknown as RTCCertificate;

/**
 * A sealed ring as the fake openRing reads it: `ct` "ok:<handle>" opens as
 * that handle (unless this browser pinned another wallet for it), "bad:<why>"
 * fails with that reason.
 */
function sealedAs(ct: string, callId = ID): SealedBox {
  return {
    v: 1,
    callId,
    handle: "bob",
    iv: "aXY=",
    ct,
    recipients: [{ keyId: "k1", epk: "ZQ==", iv: "aXY=", wrapped: "dw==" }],
  };
}

const ALICE: CallerIdentity = {
  handle: "alice",
  identity: {
    cert: "alice's cert",
    certSig: "alice's certSig",
    sign: (t) => Promise.resolve(`signed ${t}`),
  },
  attestation: { text: "alice's attestation", sig: "attSig" },
};

type WorldDeps = IncomingDeps & Pick<OutgoingDeps, "callerIdentity" | "seal">;

interface World {
  deps: WorldDeps;
  sessions: FakeSession[];
  clock: FakeClock;
  store: MemoryStore;
  mic: FakeMic;
  fetched: string[];
  /** Each fetch's init, by URL (the last one). */
  inits: Map<string, RequestInit | undefined>;
  /** What the caller sealed, and for which keys. */
  seals: { input: SealInput; keys: InboxKey[] }[];
  /** What the callee asked openRing. */
  opened: { sealed: unknown; callId: string; ringMs: number }[];
  /** Resolves a microphone held back with `holdMic`. */
  releaseMic: () => void;
  /** Or refuses it, with the error name getUserMedia would give. */
  micFails: (name: string) => void;
  /** How many times the microphone was asked for. */
  micAsked: () => number;
}

/**
 * Lets pending promise callbacks run (every fake here resolves at once, so
 * no timer is involved) until `done()`, or fails.
 */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (done()) return;
    await Promise.resolve();
  }
  assert.fail("never happened");
}

function world(
  o: {
    keys?: Keys;
    micError?: string;
    iceFails?: boolean;
    holdMic?: boolean;
    /** The site may use the microphone already (default: it may not). */
    micGranted?: boolean;
    wallet?: string;
    /** The caller identity this browser holds (default: none). */
    caller?: CallerIdentity | null;
    /** The callee's inbox keys (default: one). */
    inboxKeys?: InboxKey[];
    sealFails?: boolean;
  } = {},
): World {
  const sessions: FakeSession[] = [];
  const clock = new FakeClock();
  const store = new MemoryStore();
  const mic = fakeMic();
  const fetched: string[] = [];
  const inits = new Map<string, RequestInit | undefined>();
  const seals: World["seals"] = [];
  const opened: World["opened"] = [];
  let releaseMic = () => {};
  let micFails = (_name: string) => {};
  let micAsked = 0;
  const deps: WorldDeps = {
    session: (opts) => {
      const s = new FakeSession(opts);
      sessions.push(s);
      return s as unknown as CallSession;
    },
    microphone: () => {
      micAsked++;
      if (o.micError) {
        return Promise.reject(
          Object.assign(new Error("no"), { name: o.micError }),
        );
      }
      if (o.holdMic) {
        return new Promise((r, j) => {
          releaseMic = () => r(mic.stream);
          micFails = (name) => j(Object.assign(new Error("no"), { name }));
        });
      }
      return Promise.resolve(mic.stream);
    },
    fetch: (url, init) => {
      fetched.push(url);
      inits.set(url, init);
      if (url === "/api/ice") {
        return Promise.resolve(
          o.iceFails
            ? new Response("no", { status: 503 })
            : Response.json({ iceServers: [{ urls: "stun:x" }] }),
        );
      }
      if (url.endsWith("/inbox-keys")) {
        return Promise.resolve(
          Response.json({
            keys: o.inboxKeys ?? [{ keyId: "k1", publicKey: "pk1" }],
          }),
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
    micGranted: () => Promise.resolve(o.micGranted ?? false),
    clock,
    store,
    callerIdentity: () => Promise.resolve(o.caller ?? null),
    seal: (input, keys) => {
      seals.push({ input, keys });
      if (o.sealFails) return Promise.reject(new Error("malformed"));
      return Promise.resolve(
        sealedAs(`sealed for ${input.callId}`, input.callId),
      );
    },
    openRing: (sealed, expect) => {
      opened.push({ sealed, callId: expect.callId, ringMs: expect.ringMs });
      const ct = (sealed as SealedBox).ct;
      if (ct.startsWith("bad:")) {
        return Promise.resolve({ ok: false, reason: ct.slice(4) });
      }
      const handle = ct.slice(3);
      const wallet = `${handle}Wallet`;
      const pinned = expect.pinned(handle);
      return Promise.resolve<RingVerdict>(
        pinned !== undefined && pinned !== wallet
          ? {
            ok: false,
            reason: "the caller's key is not the one this browser knows",
          }
          : { ok: true, handle, wallet, fingerprint: FP(handle) },
      );
    },
  };
  return {
    deps,
    sessions,
    clock,
    store,
    mic,
    fetched,
    inits,
    seals,
    opened,
    releaseMic: () => releaseMic(),
    micFails: (name) => micFails(name),
    micAsked: () => micAsked,
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
    // Read at the time: a test may swap it after placing.
    fetch: (u, i) => w.deps.fetch(u, i),
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
  assert.equal(hellos.length, 1, "the socket opens while the mic is asked");
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

const CALLER_WELCOME: ServerMessage = {
  type: "welcome",
  role: "caller",
  heartbeatMs: 15000,
  ringMs: 60000,
};

Deno.test("caller: with the microphone allowed already neither the ring nor the offer waits for it", async () => {
  const p = outgoing({ micGranted: true, holdMic: true });
  await p.call.start();
  assert.equal(kindOf(p.call), "microphone");
  await p.signal.deliver(CALLER_WELCOME);
  assert.deepEqual(
    p.signal.sent,
    [{ type: "ring", callId: p.call.id, to: "bob" }],
    "rung before the microphone is there",
  );
  await p.signal.deliver({
    type: "ringing",
    callId: p.call.id,
    devices: 1,
    resumeToken: TOKEN,
  });
  assert.equal(kindOf(p.call), "ringing");
  // The offer is made while it rings, without the microphone.
  await until(() => p.w.sessions[0]?.offerPrepared === true);
  assert.equal(p.w.sessions[0].o.mic, null, "opened before the microphone");
  // Answered before the microphone came: the offer goes all the same.
  await p.signal.deliver({ type: "accepted", callId: p.call.id });
  assert.equal(kindOf(p.call), "connecting");
  assert.ok(p.w.sessions[0].offerSent);
  assert.deepEqual(p.w.sessions[0].micsUsed, []);
  // The microphone comes: its track joins the same session.
  p.w.releaseMic();
  await until(() => p.w.sessions[0].micsUsed.length === 1);
  assert.deepEqual(p.w.sessions[0].micsUsed, [p.w.mic.stream]);
  assert.equal(p.w.sessions.length, 1);

  // Not allowed yet (a prompt may come): nothing rings until it is.
  const q = outgoing({ holdMic: true });
  const started = q.call.start();
  await q.signal.deliver(CALLER_WELCOME);
  assert.deepEqual(q.signal.sent, [], "no ring while the prompt is open");
  q.w.releaseMic();
  await started;
  await until(() => q.signal.sent.length === 1);
  assert.equal(q.signal.last("ring")?.to, "bob");
});

Deno.test("caller: warm gets the socket, ICE servers and identity ready before the press, never the microphone", async () => {
  const p = outgoing({
    micGranted: true,
    caller: ALICE,
    keys: { identity: null, certificate: CERT },
  });
  p.call.warm();
  p.call.warm(); // once
  assert.equal(p.hellos.length, 1, "the socket opens on the intent");
  await p.signal.deliver(CALLER_WELCOME);
  assert.equal(kindOf(p.call), "idle");
  assert.deepEqual(p.signal.sent, [], "nothing rings before the press");
  assert.equal(p.w.micAsked(), 0, "no microphone before the press");
  assert.deepEqual(p.w.fetched, ["/api/ice", "/handles/bob/inbox-keys"]);
  // The press: the welcome came already, so the ring goes at once.
  await p.call.start();
  await until(() => p.signal.sent.length === 1);
  assert.equal(p.hellos.length, 1, "the warm socket, not a second one");
  assert.equal(p.signal.last("ring")?.to, "bob");
  assert.ok(p.signal.last("ring")?.sealed, "sealed with the warm identity");
  assert.equal(p.w.micAsked(), 1);
  assert.deepEqual(
    p.w.fetched,
    ["/api/ice", "/handles/bob/inbox-keys"],
    "nothing fetched twice",
  );
  // Past the warm socket's lifetime, a placed call keeps it.
  await p.w.clock.advance(WARM_MS + 1);
  assert.ok(!p.signal.closed);
});

Deno.test("caller: a warm socket never used closes after WARM_MS, or when the page goes", async () => {
  const p = outgoing();
  p.call.warm();
  await p.signal.deliver(CALLER_WELCOME);
  await p.w.clock.advance(WARM_MS - 1);
  assert.ok(!p.signal.closed);
  await p.w.clock.advance(1);
  assert.ok(p.signal.closed, "closed after WARM_MS");
  assert.deepEqual(p.signal.sent, []);
  // Warmed again later: a new socket.
  p.call.warm();
  assert.equal(p.hellos.length, 2);

  const q = outgoing();
  q.call.warm();
  await tick();
  q.call.dispose();
  await tick();
  assert.ok(q.signal.closed, "the page went: closed");
  assert.deepEqual(q.signal.sent, []);
});

Deno.test("caller: a microphone that fails after an early ring cancels it and says why", async () => {
  const p = outgoing({ micGranted: true, micError: "NotReadableError" });
  await p.call.start();
  assert.equal(kindOf(p.call), "ended", "failed before any welcome");
  assert.deepEqual(p.signal.sent, []);

  const q = outgoing({ micGranted: true, holdMic: true });
  await q.call.start();
  await q.signal.deliver(CALLER_WELCOME);
  assert.equal(q.signal.sent.length, 1, "rung");
  q.w.micFails("NotAllowedError");
  await until(() => kindOf(q.call) === "ended");
  assert.deepEqual(q.signal.last("cancel"), {
    type: "cancel",
    callId: q.call.id,
  });
  assert.match(
    (q.call.state as { message: string }).message,
    /^Microphone access was denied/,
  );
  assert.ok(q.signal.closed);

  // Answered before it failed: the callee hears the call end.
  const r = outgoing({ micGranted: true, holdMic: true });
  await r.call.start();
  await r.signal.deliver(CALLER_WELCOME);
  await r.signal.deliver({
    type: "ringing",
    callId: r.call.id,
    devices: 1,
    resumeToken: TOKEN,
  });
  await r.signal.deliver({ type: "accepted", callId: r.call.id });
  await until(() => r.w.sessions[0]?.offerSent === true);
  r.w.micFails("NotReadableError");
  await until(() => kindOf(r.call) === "ended");
  assert.deepEqual(r.signal.last("hangup"), {
    type: "hangup",
    callId: r.call.id,
    reason: "failed",
  });
  assert.equal(r.signal.last("cancel"), undefined);
  assert.ok(r.w.sessions[0].closed);
});

Deno.test("caller: with a caller identity the ring is sealed to the callee's inbox keys, with this call's fresh key", async () => {
  const p = outgoing({
    caller: ALICE,
    keys: { identity: null, certificate: CERT },
  });
  await p.call.start();
  assert.equal(p.hellos[0].role, "caller");
  await p.signal.deliver(CALLER_WELCOME);
  assert.deepEqual(p.w.fetched, ["/api/ice", "/handles/bob/inbox-keys"]);
  assert.equal(
    p.w.inits.get("/handles/bob/inbox-keys")?.credentials,
    "omit",
    "no cookie with the look-up",
  );
  assert.deepEqual(p.w.seals, [{
    input: {
      callId: p.call.id,
      to: "bob",
      fingerprint: FP("me"),
      identity: ALICE.identity,
      attestation: ALICE.attestation,
    },
    keys: [{ keyId: "k1", publicKey: "pk1" }],
  }]);
  assert.deepEqual(p.signal.sent, [{
    type: "ring",
    callId: p.call.id,
    to: "bob",
    sealed: sealedAs(`sealed for ${p.call.id}`, p.call.id),
  }]);
  assert.equal(p.call.callingAs, "alice");
  await p.signal.deliver({
    type: "ringing",
    callId: p.call.id,
    devices: 1,
    resumeToken: TOKEN,
  });
  assert.equal(p.w.sessions[0].o.certificate, CERT, "the key it signed");
  // A reconnect before `ringing` rings again with the same sealed ring.
  const q = outgoing({
    caller: ALICE,
    keys: { identity: null, certificate: CERT },
  });
  await q.call.start();
  await q.signal.deliver(CALLER_WELCOME);
  await q.signal.deliver(CALLER_WELCOME);
  assert.equal(q.w.seals.length, 1);
  assert.deepEqual(q.signal.sent[1], q.signal.sent[0]);
});

Deno.test("caller: anonymous whenever the ring cannot be sealed, and the call goes on", async () => {
  const cases: [string, Parameters<typeof world>[0], string[]][] = [
    ["no caller identity", { keys: { identity: null, certificate: CERT } }, [
      "/api/ice",
    ]],
    // Looked up while the microphone is asked for, before the certificate
    // turns out to be missing.
    ["no certificate", { caller: ALICE }, [
      "/api/ice",
      "/handles/bob/inbox-keys",
    ]],
    ["no inbox keys", {
      caller: ALICE,
      keys: { identity: null, certificate: CERT },
      inboxKeys: [],
    }, ["/api/ice", "/handles/bob/inbox-keys"]],
    ["sealing fails", {
      caller: ALICE,
      keys: { identity: null, certificate: CERT },
      sealFails: true,
    }, ["/api/ice", "/handles/bob/inbox-keys"]],
  ];
  for (const [what, o, fetched] of cases) {
    const p = outgoing(o);
    await p.call.start();
    await p.signal.deliver(CALLER_WELCOME);
    assert.deepEqual(p.w.fetched, fetched, what);
    assert.deepEqual(
      p.signal.sent,
      [{ type: "ring", callId: p.call.id, to: "bob" }],
      what,
    );
    assert.equal(p.call.callingAs, null, what);
    await p.signal.deliver({
      type: "ringing",
      callId: p.call.id,
      devices: 1,
      resumeToken: TOKEN,
    });
    assert.equal(kindOf(p.call), "ringing", what);
  }
  // The look-up failing outright: anonymous too.
  const p = outgoing({
    caller: ALICE,
    keys: { identity: null, certificate: CERT },
  });
  const f = p.w.deps.fetch;
  p.w.deps.fetch = (u, i) =>
    u.endsWith("/inbox-keys") ? Promise.reject(new Error("offline")) : f(u, i);
  await p.call.start();
  await p.signal.deliver(CALLER_WELCOME);
  assert.deepEqual(p.signal.sent, [{
    type: "ring",
    callId: p.call.id,
    to: "bob",
  }]);
});

Deno.test("caller: no microphone, or no ICE servers, ends the call and says why", async () => {
  const a = outgoing({ micError: "NotAllowedError" });
  await a.call.start();
  assert.equal(kindOf(a.call), "ended");
  assert.match(
    (a.call.state as { message: string }).message,
    /^Microphone access was denied/,
  );
  // The socket opened meanwhile; it never rang, and it is closed.
  assert.deepEqual(a.signal.sent, []);
  assert.ok(a.signal.closed, "the socket is closed");

  const b = outgoing({ iceFails: true });
  await b.call.start();
  assert.deepEqual(b.call.state, {
    kind: "ended",
    reason: "network",
    message:
      "Could not prepare the connection. Check your network and try again.",
  });
  assert.ok(b.w.mic.stopped(), "the microphone is let go");
  assert.deepEqual(b.signal.sent, []);
  assert.ok(b.signal.closed);
});

Deno.test("caller: cancelled while the microphone is asked for: no ring, socket closed, mic released", async () => {
  const { w, call, signal } = outgoing({ holdMic: true });
  const started = call.start();
  // The socket opens (and says hello) while the microphone is asked for;
  // its welcome must not ring before the microphone is there.
  await signal.deliver(CALLER_WELCOME);
  assert.deepEqual(signal.sent, [], "no ring without a microphone");
  call.hangup();
  assert.deepEqual(call.state, {
    kind: "ended",
    reason: "cancelled",
    message: "Call cancelled.",
  });
  w.releaseMic();
  await started;
  assert.ok(w.mic.stopped());
  assert.deepEqual(signal.sent, [], "never rang, nothing to cancel");
  assert.ok(signal.closed);
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

Deno.test("security: a verified caller's key is not the one in use: the callee's security stop, before any audio", async () => {
  const { w, signal, calls } = ring();
  await signal.deliver({
    type: "incoming",
    callId: ID,
    sealed: sealedAs("ok:alice"),
  });
  const [call] = calls;
  let everAudible = call.audible;
  call.listen(() => everAudible ||= call.audible);
  assert.equal(call.peer, "@alice");
  await call.answer();
  const s = w.sessions[0];
  s.keyVerdict = {
    ok: false,
    reason: "the encryption key in use is not the one the caller signed",
  };
  // A proof in a `verify` means nothing from a caller: it is not checked.
  await signal.deliver(VERIFY(ID));
  s.media("connected");
  assert.equal(call.identity, "Checking @alice's encryption key…");
  await tick();
  assert.deepEqual(s.remoteAsked, [FP("alice")]);
  assert.equal(s.verified.length, 0);
  assert.deepEqual(w.fetched, ["/api/ice"], "no look-up of the caller");
  assert.equal(signal.last("hangup")?.reason, "failed");
  assert.deepEqual(call.state, {
    kind: "ended",
    reason: "security",
    message:
      "Security warning: the call from @alice could not be verified (the encryption key in use is not the one the caller signed) and was ended. Someone may be intercepting it.",
  });
  assert.equal(everAudible, false, "the caller was never heard");
  assert.ok(!signal.closed, "the device's socket stays open");
});

// ------------------------------------------------------------- proofs

Deno.test("proofs: the callee proves itself once, after the offer; a caller never sends one", async () => {
  // A caller's proof is in its sealed ring: a certificate in the clear
  // would name it to the server, even were there keys to make one.
  const a = await placedIn("connecting", { keys: { identity } });
  await a.signal.deliver({ type: "answer", callId: a.call.id, sdp: "v=0" });
  a.w.sessions[0].media("connected");
  await tick();
  assert.ok(!a.signal.types().includes("verify"));

  // The callee proves after the offer; when the SDP lacks a fingerprint it
  // tries again on the next one.
  const w = world({ keys: { identity } });
  const signal = new FakeSignal();
  const call = new IncomingCall(ID, signal, w.deps);
  await signal.deliver({ type: "incoming", callId: ID });
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
  const call = new IncomingCall(ID, signal, w.deps);
  await signal.deliver({ type: "incoming", callId: ID });
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

function ring(
  o: Parameters<typeof world>[0] = {},
  sealedFor?: (callId: string) => unknown,
) {
  const w = world(o);
  const signal = new FakeSignal();
  const calls: IncomingCall[] = [];
  watchRings(signal, w.deps, (c) => calls.push(c), { sealedFor });
  return { w, signal, calls };
}

Deno.test("callee: ring, answer, connect, hang up", async () => {
  const { w, signal, calls } = ring({ keys: { identity } });
  writePref(HIDE_IP, true, w.store);
  await signal.deliver({ type: "incoming", callId: ID });
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
  await a.signal.deliver({ type: "incoming", callId: ID });
  a.calls[0].decline();
  assert.deepEqual(a.signal.sent, [{ type: "decline", callId: ID }]);
  assert.deepEqual(a.calls[0].state, {
    kind: "ended",
    reason: "declined",
    message: "",
  });

  const b = ring({ micError: "NotFoundError" });
  await b.signal.deliver({ type: "incoming", callId: ID });
  await b.calls[0].answer();
  assert.deepEqual(b.signal.sent, [{ type: "decline", callId: ID }]);
  assert.equal(
    (b.calls[0].state as { message: string }).message,
    "No microphone was found. Plug one in and try again.",
  );
});

Deno.test("callee: answered elsewhere or ended while the microphone is asked for", async () => {
  const { w, signal, calls } = ring({ holdMic: true });
  await signal.deliver({ type: "incoming", callId: ID });
  const answering = calls[0].answer();
  await until(() => w.micAsked() === 1);
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

Deno.test("callee: with the microphone allowed already the accept goes before it comes; the offer is answered without waiting for it", async () => {
  const { w, signal, calls } = ring({ holdMic: true, micGranted: true });
  await signal.deliver({ type: "incoming", callId: ID });
  const answering = calls[0].answer();
  await until(() => signal.sent.length === 1);
  assert.deepEqual(signal.sent, [{ type: "accept", callId: ID }]);
  assert.equal(kindOf(calls[0]), "connecting");
  // The session is open already, without a microphone: the caller's offer
  // that comes before the microphone is read at once.
  assert.equal(w.sessions.length, 1);
  assert.equal(w.sessions[0].o.mic, null, "opened before the microphone");
  const offer: ServerMessage = { type: "offer", callId: ID, sdp: "v=0" };
  await signal.deliver(offer);
  assert.deepEqual(w.sessions[0].handled, [offer]);
  assert.deepEqual(w.sessions[0].micsUsed, [], "no microphone yet");
  // The microphone comes: its track joins the session.
  w.releaseMic();
  await answering;
  assert.deepEqual(w.sessions[0].micsUsed, [w.mic.stream]);
  assert.equal(w.sessions.length, 1, "the same session");

  // The microphone failing after the accept hangs up (the caller hears it).
  const b = ring({ holdMic: true, micGranted: true });
  await b.signal.deliver({ type: "incoming", callId: ID });
  b.calls[0].answer();
  await until(() => b.signal.sent.length === 1);
  b.w.micFails("NotReadableError");
  await until(() => kindOf(b.calls[0]) === "ended");
  assert.deepEqual(b.signal.last("hangup"), {
    type: "hangup",
    callId: ID,
    reason: "failed",
  });
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
    await signal.deliver({ type: "incoming", callId: ID });
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
    await signal.deliver({ type: "incoming", callId: ID });
    await calls[0].answer();
    await signal.deliver({ type: "hangup", callId: ID, reason });
    assert.equal((calls[0].state as { message: string }).message, message);
  }
});

Deno.test("callee: a verified caller is named at ring time, heard once the connection's key is the one it signed", async () => {
  const a = ring();
  await a.signal.deliver({
    type: "incoming",
    callId: ID,
    sealed: sealedAs("ok:alice"),
  });
  const [call] = a.calls;
  assert.deepEqual(a.w.opened, [{
    sealed: sealedAs("ok:alice"),
    callId: ID,
    ringMs: 60_000,
  }]);
  assert.deepEqual(call.caller, {
    kind: "verified",
    handle: "alice",
    wallet: "aliceWallet",
    fingerprint: FP("alice"),
  });
  assert.equal(ringLine(call.caller), "Call from @alice (verified)");
  assert.equal(call.peer, "@alice");
  assert.equal(call.audible, false, "held back until the key is checked");
  // First sight pins alice's wallet; the call is remembered for history.
  assert.deepEqual(JSON.parse(a.w.store.getItem("reach.pins")!), {
    alice: "aliceWallet",
  });
  assert.deepEqual(knownCallers(a.w.store), { [ID]: "alice" });
  await call.answer();
  const s = a.w.sessions[0];
  await a.signal.deliver({ type: "offer", callId: ID, sdp: "v=0" });
  s.media("connected");
  await tick();
  assert.deepEqual(s.remoteAsked, [FP("alice")]);
  assert.equal(call.identity, "Verified caller @alice");
  assert.equal(call.audible, true);
  // Back after a blip: not checked again.
  s.media("reconnecting");
  s.media("connected");
  await tick();
  assert.equal(s.remoteAsked.length, 1);
  assert.equal(call.identity, "Verified caller @alice");

  // Anonymous: as before, heard at once; a verify from it is ignored.
  const b = ring();
  await b.signal.deliver({ type: "incoming", callId: ID });
  assert.equal(ringLine(b.calls[0].caller), "Call from an anonymous caller");
  assert.deepEqual(b.w.opened, []);
  await b.calls[0].answer();
  b.w.sessions[0].media("connected");
  await b.signal.deliver(VERIFY(ID));
  assert.equal(b.w.sessions[0].verified.length, 0);
  assert.deepEqual(b.w.sessions[0].remoteAsked, []);
  assert.equal(b.calls[0].identity, "Unverified caller (anonymous)");
  assert.equal(b.calls[0].audible, true);
  assert.equal(kindOf(b.calls[0]), "connected");
});

Deno.test("callee: a sealed identity that does not check out never shows its handle", async () => {
  const a = ring();
  await a.signal.deliver({
    type: "incoming",
    callId: ID,
    sealed: sealedAs("bad:the caller's device did not sign this ring"),
  });
  const [call] = a.calls;
  assert.deepEqual(call.caller, {
    kind: "unverified",
    reason: "the caller's device did not sign this ring",
  });
  assert.equal(
    ringLine(call.caller),
    "Call from an unverified caller: the caller's device did not sign this ring",
  );
  assert.equal(call.peer, "an unverified caller");
  assert.equal(a.w.store.getItem("reach.pins"), null, "nothing pinned");
  assert.deepEqual(knownCallers(a.w.store), {});
  await call.answer();
  a.w.sessions[0].media("connected");
  assert.equal(
    call.identity,
    "Unverified caller: the caller's device did not sign this ring",
  );
  assert.equal(call.audible, true, "like an anonymous call");
  assert.deepEqual(a.w.sessions[0].remoteAsked, []);

  // A wallet other than the one pinned for the handle: refused.
  const b = ring();
  b.w.store.setItem("reach.pins", JSON.stringify({ alice: "OldWallet" }));
  await b.signal.deliver({
    type: "incoming",
    callId: ID,
    sealed: sealedAs("ok:alice"),
  });
  assert.equal(b.calls[0].caller.kind, "unverified");
  assert.ok(!ringLine(b.calls[0].caller).includes("alice"));
  assert.deepEqual(JSON.parse(b.w.store.getItem("reach.pins")!), {
    alice: "OldWallet",
  });

  // openRing failing outright is just as unverified.
  const c = ring();
  c.w.deps.openRing = () => Promise.reject(new Error("bug"));
  await c.signal.deliver({
    type: "incoming",
    callId: ID,
    sealed: sealedAs("ok:alice"),
  });
  assert.deepEqual(c.calls[0].caller, {
    kind: "unverified",
    reason: "its identity could not be checked",
  });
});

Deno.test("callee: a replayed ring has no identity; an Answer link's sealed identity stands in", async () => {
  const welcome: ServerMessage = {
    type: "welcome",
    role: "device",
    handle: "bob",
    heartbeatMs: 15000,
    ringMs: 45_000,
  };
  // The server marks a replay (the call rang before this device joined,
  // and its sealed identity was never kept)...
  const a = ring();
  await a.signal.deliver(welcome);
  await a.signal.deliver({ type: "incoming", callId: ID, replay: true });
  assert.equal(
    ringLine(a.calls[0].caller),
    "Call from a caller whose identity did not reach this device",
  );
  // ...and a ring without one, even right after the welcome, is anonymous.
  await a.signal.deliver({ type: "incoming", callId: OTHER });
  assert.equal(a.calls[1].caller.kind, "anonymous");

  // /me?answer=<id>#sealed=…: the page's copy, for that call only.
  const b = ring({}, (id) => id === ID ? sealedAs("ok:alice") : undefined);
  await b.signal.deliver(welcome);
  await b.signal.deliver({ type: "incoming", callId: ID, replay: true });
  await b.signal.deliver({ type: "incoming", callId: OTHER, replay: true });
  assert.equal(b.calls[0].peer, "@alice");
  assert.deepEqual(b.w.opened.map((o) => [o.callId, o.ringMs]), [
    [ID, 45_000],
  ]);
  assert.equal(b.calls[1].caller.kind, "lost");
  // The ring's own sealed identity wins over the page's.
  const c = ring({}, () => sealedAs("ok:mallory"));
  await c.signal.deliver({
    type: "incoming",
    callId: ID,
    sealed: sealedAs("ok:alice"),
  });
  assert.equal(c.calls[0].peer, "@alice");
});

Deno.test("callee: a ring is shown once its identity was checked, if it still rings", async () => {
  const w = world();
  const signal = new FakeSignal();
  const open: ((v: RingVerdict) => void)[] = [];
  w.deps.openRing = () => new Promise((r) => open.push(r));
  const shown: IncomingCall[] = [];
  watchRings(signal, w.deps, (c) => shown.push(c));
  await signal.deliver({
    type: "incoming",
    callId: ID,
    sealed: sealedAs("ok:alice"),
  });
  await signal.deliver({
    type: "incoming",
    callId: OTHER,
    sealed: sealedAs("ok:carol"),
  });
  assert.equal(shown.length, 0, "not while checking");
  // One ends meanwhile: it is never shown.
  await signal.deliver({ type: "ended", callId: OTHER, reason: "cancelled" });
  for (const o of open) {
    o({ ok: true, handle: "alice", wallet: "W", fingerprint: FP("alice") });
  }
  await tick();
  assert.deepEqual(shown.map((c) => c.id), [ID]);
  assert.equal(shown[0].peer, "@alice");
});

Deno.test("known callers: at most 500, the oldest forgotten first", () => {
  const s = new MemoryStore();
  for (let i = 0; i < MAX_KNOWN_CALLERS + 20; i++) {
    rememberCaller(s, `call-${i}`, `h${i}`);
  }
  const all = knownCallers(s);
  assert.equal(Object.keys(all).length, MAX_KNOWN_CALLERS);
  assert.equal(all["call-19"], undefined);
  assert.equal(all["call-20"], "h20");
  assert.equal(
    all[`call-${MAX_KNOWN_CALLERS + 19}`],
    `h${MAX_KNOWN_CALLERS + 19}`,
  );
  s.setItem(KNOWN_CALLERS, "not json");
  assert.deepEqual(knownCallers(s), {});
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
  await signal.deliver({ type: "incoming", callId: ID });
  await signal.deliver({ type: "incoming", callId: ID });
  assert.equal(calls.length, 1);
  assert.equal(kindOf(calls[0]), "ringing");
  await signal.deliver({
    type: "incoming",
    callId: OTHER,
    sealed: sealedAs("ok:carol", OTHER),
  });
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
    { type: "incoming", callId: id },
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
  const call = new IncomingCall(ID, signal, w.deps);
  if (kind === "idle") return { w, signal, call };
  await signal.deliver({ type: "incoming", callId: ID });
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
