/**
 * The call object both pages share: one per call, in the shape of
 * matrix-js-sdk's MatrixCall (one `CallState`, one setter that tells the
 * listeners the new and the old state, one named handler per server
 * message). It owns the call's signaling subscription (lib/client/signal.ts),
 * its media session (CallSession, lib/client/rtc.ts), this side's identity
 * proof, the check of the peer's proof and the security stop. Everything it
 * takes from the browser comes in through `CallDeps`, so tests drive it with
 * fakes (tests/unit/call_core_test.ts).
 *
 * The two sides: OutgoingCall (outgoing.ts, the /@handle page) and
 * IncomingCall (incoming.ts, the /me page).
 */
import type { ClientMessage, ServerMessage } from "@/signaling/protocol.ts";
import type { VerifyInput } from "@/lib/identity/device_cert.ts";
import type { DeviceIdentity } from "../device_identity.ts";
import {
  CallSession,
  type CallSessionOptions,
  fetchIceServers,
  getMicrophone,
  type MediaState,
  microphoneError,
} from "../rtc.ts";
import type { SignalClient, SocketState } from "../signal.ts";
import { icePolicy, type Store } from "./prefs.ts";
import type { EndReason } from "./texts.ts";

export type CallState =
  | { kind: "idle" }
  /** Caller: the handle's wallet key is not the one this browser pinned. */
  | { kind: "keychanged"; pinned: string }
  /** Getting the microphone, the ICE servers and the keys. */
  | { kind: "microphone" }
  /** `devices`: how many devices ring (the caller's view; 0 for the callee). */
  | { kind: "ringing"; devices: number }
  /** Answered; the media connection is being made. */
  | { kind: "connecting" }
  | { kind: "connected"; since: number }
  /** The media path was lost; ICE restarts are under way. */
  | { kind: "reconnecting"; since: number }
  | { kind: "ended"; reason: EndReason; message: string };

export type Kind = CallState["kind"];
export type Msg<T extends ServerMessage["type"]> = Extract<
  ServerMessage,
  { type: T }
>;
export type Listener = (state: CallState, old: CallState) => void;
/** What a call gets before it connects, besides the microphone. */
export type Prepared = [RTCIceServer[], Keys];

/**
 * This side's device identity (for its `verify` proof: the callee's; a
 * caller proves itself inside its sealed ring) and DTLS certificate.
 */
export interface Keys {
  identity: DeviceIdentity | null;
  certificate?: RTCCertificate;
}

export interface Clock {
  now(): number;
  /** Runs `f` after `ms`; returns what cancels it. */
  after(ms: number, f: () => void): () => void;
}

export interface CallDeps {
  /** Makes the call's media session: a CallSession, or a fake. */
  session(o: CallSessionOptions): CallSession;
  /** getUserMedia for the microphone. */
  microphone(): Promise<MediaStream>;
  /**
   * Whether this site may use the microphone already (no prompt will come):
   * then a call need not wait for it before ringing.
   */
  micGranted(): Promise<boolean>;
  /** For the ICE servers (and the callee's look-up of a caller's key). */
  fetch(url: string, init?: RequestInit): Promise<Response>;
  /** This side's keys, read when the call is placed or answered. */
  keys(): Promise<Keys>;
  /** ICE servers kept across calls (an IceCache); else fetched per call. */
  iceServers?(): Promise<RTCIceServer[]>;
  clock: Clock;
  /** Where preferences live (localStorage). */
  store: Store;
}

/** The real browser behind CallDeps. */
export const browserDeps = (keys: () => Promise<Keys>): CallDeps => ({
  session: (o) => new CallSession(o),
  microphone: getMicrophone,
  micGranted: () =>
    navigator.permissions?.query({ name: "microphone" as PermissionName })
      .then((p) => p.state === "granted", () => false) ??
      Promise.resolve(false),
  fetch: (u, i) => fetch(u, i),
  keys,
  clock: {
    now: () => Date.now(),
    after(ms, f) {
      const t = setTimeout(f, ms);
      return () => clearTimeout(t);
    },
  },
  store: localStorage,
});

export abstract class Call<D extends CallDeps = CallDeps> {
  private st: CallState = { kind: "idle" };
  session: CallSession | null = null;
  /** The other side's audio. */
  remote: MediaStream | null = null;
  /** A line about who is on the other end, as far as it was checked. */
  identity = "";
  /** Whether the other side's audio may play. */
  audible = true;
  /** Resumes this side's part of the call after a reconnect. */
  protected token = "";
  /** The socket's messages for this call reach it; a solo socket's others too. */
  protected solo = false;
  protected signal: SignalClient | null = null;
  protected mic: MediaStream | null = null;
  protected ice: RTCIceServer[] = [];
  protected keys: Keys = { identity: null };
  /**
   * Whether this side sends a `verify` proof once the offer/answer exchange
   * is done (the callee; a caller proves itself in its sealed ring only).
   */
  protected proves = true;
  /** The peer's identity proof, once it arrived. */
  protected proof: VerifyInput | null = null;
  private proved = false;
  private checked = false;
  private listeners = new Set<Listener>();
  private unlisten?: () => void;

  constructor(
    readonly id: string,
    /**
     * The other side as the page names it (`@bob`, "an anonymous caller");
     * the callee's changes once the caller's identity was checked.
     */
    public peer: string,
    protected d: D,
  ) {}

  get state(): CallState {
    return this.st;
  }

  /** Neither idle nor ended: placed or answered. */
  get live(): boolean {
    return !this.is("idle", "keychanged", "ended");
  }

  /** Tells `l` every change, with the state before; returns what stops it. */
  listen(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** The person ends it: cancel or decline before, hang up once answered. */
  hangup(): void {
    if (this.is("microphone", "ringing")) this.drop();
    else if (this.answered) {
      this.send({ type: "hangup", callId: this.id, reason: "normal" });
      this.end("local");
    }
  }

  /** The page goes away: let go of everything, tell no one. */
  dispose(): void {
    this.listeners.clear();
    this.end("local");
  }

  /** One server message, to its named handler; one that throws ends the call. */
  async receive(m: ServerMessage): Promise<void> {
    if ("callId" in m ? m.callId !== this.id : !this.solo) return;
    try {
      switch (m.type) {
        case "welcome":
          return this.onWelcome?.();
        case "ringing":
          return await this.onRinging?.(m);
        case "incoming":
          return this.onIncoming?.();
        case "accepted":
          return this.onAccepted?.();
        case "connected-call":
          return this.onConnectedCall?.(m);
        case "answered-elsewhere":
          return this.onAnsweredElsewhere?.();
        case "ended":
          return this.onEnded(m);
        case "hangup":
          return this.onHangup(m);
        case "verify":
          return await this.onVerify(m);
        case "resumed":
          return this.onResumed(m);
        case "error":
          return this.onError(m);
        case "heartbeat-ack":
          return;
        default:
          return await this.onMedia(m);
      }
    } catch {
      this.end("broken");
    }
  }

  // What only one side hears: each side has its own.
  protected onWelcome?(): void;
  protected onRinging?(m: Msg<"ringing">): Promise<void>;
  protected onIncoming?(): void;
  protected onAccepted?(): void;
  protected onConnectedCall?(m: Msg<"connected-call">): void;
  protected onAnsweredElsewhere?(): void;
  /** Over before it was answered (`ended`). */
  protected abstract onEnded(m: Msg<"ended">): void;
  protected onSocket?(
    s: SocketState,
    detail?: { code: number; reason: string },
  ): void;

  /** The other side hung up (or its connection was lost). */
  protected onHangup(m: Msg<"hangup">): void {
    if (this.answered) this.end(m.reason === "normal" ? "hungup" : "lost");
  }

  /** The peer's proof: kept, and checked once the media is connected. */
  protected onVerify(m: Msg<"verify">): Promise<void> | void {
    if (!this.answered) return;
    this.proof = m;
    return this.check();
  }

  /** Back after a reconnect: a call that ended meanwhile is over. */
  protected onResumed(m: Msg<"resumed">): void {
    if (m.state === "ended" && this.live) this.end("over");
  }

  protected onError(m: Msg<"error">): void {
    if (this.live) {
      this.end(m.code === "unknown_handle" ? "unknown" : "error", m.message);
    }
  }

  /** offer, answer, candidate, ice-restart: for the media session. */
  protected async onMedia(m: ServerMessage): Promise<void> {
    if (!this.session || !this.answered) return;
    await this.session.handle(m);
    // Both fingerprints are known once the offer/answer exchange is done.
    if (m.type === "offer" || m.type === "answer") await this.prove();
  }

  /** The media session's state: connected (again), reconnecting, failed. */
  protected onMediaState(s: MediaState): void {
    // A relay-only caller finds out while ringing that it has no relay.
    if (s === "failed") return this.end("failed", this.session?.failure);
    if (!this.answered) return;
    const since = "since" in this.st ? this.st.since : this.d.clock.now();
    if (s === "connected") {
      this.set({ kind: "connected", since });
      this.onConnected();
    } else if (s === "reconnecting") this.set({ kind: "reconnecting", since });
  }

  protected onConnected(): void {
    this.check().catch(() => this.end("broken"));
  }

  /** What the peer must prove to be: its handle and wallet key. */
  protected abstract expect(): Promise<{ handle: string; wallet: string }>;
  /** The peer proved who it is. */
  protected abstract verified(): void;
  /** Cancel (caller) or decline (callee) before the call was answered. */
  protected abstract drop(): void;
  /** What this side's page says when the call ends (texts.ts). */
  protected abstract text(reason: EndReason, detail?: string): string;
  /** Lets go of what only this side holds (at the end). */
  protected release(): void {}

  /** The only writer of the state: tells every listener (new, old). */
  protected set(next: CallState): void {
    const old = this.st;
    this.st = next;
    for (const l of [...this.listeners]) l(next, old);
  }

  /** Something shown changed, the state did not. */
  protected changed(): void {
    this.set(this.st);
  }

  protected is(...kinds: Kind[]): boolean {
    return kinds.includes(this.st.kind);
  }

  /** Answered: the media session exists and the peer is known. */
  protected get answered(): boolean {
    return this.is("connecting", "connected", "reconnecting");
  }

  protected send(m: ClientMessage): void {
    this.signal?.send(m);
  }

  /** Subscribes this call to its socket: messages, state, reconnects. */
  protected attach(signal: SignalClient): void {
    this.signal = signal;
    this.unlisten = signal.listen({
      onMessage: (m) => this.receive(m),
      onState: (s, detail) => this.onSocket?.(s, detail),
      onReconnect: () => {
        if (this.token) {
          this.send({ type: "resume", callId: this.id, token: this.token });
        }
      },
    });
  }

  /**
   * Microphone, ICE servers and keys; false when one is missing (the call
   * then ended, and says why) or the call ended meanwhile.
   */
  protected async prepare(pending?: Promise<Prepared>): Promise<boolean> {
    if (!this.is("microphone")) this.set({ kind: "microphone" });
    // All at once: the call waits for the slowest, not for their sum.
    const network = this.network(pending);
    if (!await this.microphone()) return false;
    return await network;
  }

  /** ICE servers and keys, with no effect on the call. */
  protected fetchPrepared(): Promise<Prepared> {
    return Promise.all([
      this.d.iceServers?.() ?? fetchIceServers(this.d.fetch),
      this.d.keys(),
    ]);
  }

  /** The microphone; false (and the call ended) when it cannot be had. */
  protected async microphone(): Promise<boolean> {
    try {
      this.mic = await this.d.microphone();
    } catch (e) {
      this.micFailed();
      this.end("microphone", microphoneError(e));
      return false;
    }
    if (this.live) return true;
    this.stopMic();
    return false;
  }

  /**
   * A session opened before the microphone came: its track joins once
   * `ready` says it is here (and the call still goes on). A track that
   * cannot be put on the session ends the call.
   */
  protected micJoins(session: CallSession, ready: Promise<boolean>) {
    return ready.then((ok) => {
      if (ok && this.live) return session.useMic(this.mic!);
    }).catch(() => this.end("broken"));
  }

  /** The microphone could not be had: before the call ends for it. */
  protected micFailed(): void {}

  /**
   * ICE servers and keys (`pending`: asked for already, see `fetchPrepared`);
   * false (and the call ended) when they cannot be had.
   */
  protected async network(pending?: Promise<Prepared>): Promise<boolean> {
    try {
      [this.ice, this.keys] = await (pending ?? this.fetchPrepared());
    } catch {
      this.end("network");
    }
    if (this.live) return true;
    this.stopMic();
    return false;
  }

  protected open(role: "caller" | "callee"): CallSession {
    return this.session = this.d.session({
      role,
      callId: this.id,
      send: (m) => this.send(m as ClientMessage),
      iceServers: this.ice,
      iceTransportPolicy: icePolicy(this.d.store),
      certificate: this.keys.certificate,
      mic: this.mic,
      onState: (s) => this.onMediaState(s),
      onRemoteStream: (r) => {
        this.remote = r;
        this.changed();
      },
    });
  }

  /** This side's proof, once: both fingerprints signed by its device key. */
  private async prove(): Promise<void> {
    const me = this.keys.identity;
    if (!this.proves || !me || this.proved || !this.session) return;
    this.proved = true;
    const proof = await this.session.proof(me);
    if (proof) this.send({ type: "verify", ...proof });
    else this.proved = false;
  }

  /** The peer's proof against what this browser negotiated; checked once. */
  private async check(): Promise<void> {
    const s = this.session;
    if (!this.proof || !s || this.checked || s.state !== "connected") return;
    this.checked = true;
    const verdict = await s.verify(this.proof, await this.expect());
    if (!this.live) return;
    if (verdict.ok) this.verified();
    else this.securityStop(verdict.reason);
  }

  /** Hang up before any audio played, and say why. */
  protected securityStop(why: string): void {
    this.send({ type: "hangup", callId: this.id, reason: "failed" });
    this.end("security", why);
  }

  protected stopMic() {
    for (const t of this.mic?.getTracks() ?? []) t.stop();
  }

  protected end(reason: EndReason, detail?: string): void {
    if (this.is("ended")) return;
    this.session?.close();
    this.stopMic();
    this.remote = null;
    this.audible = false;
    this.unlisten?.();
    this.release();
    this.set({
      kind: "ended",
      reason,
      message: this.text(reason, detail),
    });
  }
}
