/**
 * A call ringing this device (the /me page): who is calling, answer or
 * decline, and this device's proof sent once it answered. The device's
 * socket is shared by every call it rings with.
 *
 * Who is calling (sealed sender, issue 13): the server relays the caller's
 * sealed identity (`incoming.sealed`) without reading it; this device opens
 * it with its inbox key and checks it (lib/identity/sealed_ring.ts). A
 * handle is shown only when that check passed; once answered, the key the
 * connection uses must be the one the caller signed, or the call is
 * stopped before any audio plays.
 */
import type { Hello, SignalClient } from "../signal.ts";
import { Call, type CallDeps, type Clock, type Msg } from "./base.ts";
import { rememberCaller } from "./known_callers.ts";
import { pin, pins } from "./prefs.ts";
import { calleeText, type EndReason } from "./texts.ts";

/** What opening a sealed identity says (lib/identity/sealed_ring.ts). */
export type RingVerdict =
  | { ok: true; handle: string; wallet: string; fingerprint: string }
  | { ok: false; reason: string };

/** Who is calling, as far as this device could check. */
export type CallerId =
  /** The sealed identity is being opened. */
  | { kind: "checking" }
  /** The ring came without a sealed identity. */
  | { kind: "anonymous" }
  /** A ring replayed to this device after it joined: its identity is lost. */
  | { kind: "lost" }
  | { kind: "verified"; handle: string; wallet: string; fingerprint: string }
  /** A sealed identity that did not check out; its handle is never shown. */
  | { kind: "unverified"; reason: string };

export interface IncomingDeps extends CallDeps {
  /**
   * Opens a sealed identity with this device's inbox key, for this handle
   * and the server's attestation key (openRing); never throws.
   */
  openRing(
    sealed: unknown,
    expect: {
      callId: string;
      ringMs: number;
      pinned: (handle: string) => string | undefined;
    },
  ): Promise<RingVerdict>;
}

/** The caller as the page names it ("@alice", "an anonymous caller"). */
export function callerName(c: CallerId): string {
  switch (c.kind) {
    case "verified":
      return `@${c.handle}`;
    case "anonymous":
      return "an anonymous caller";
    case "lost":
      return "a caller whose identity did not reach this device";
    case "unverified":
      return "an unverified caller";
    case "checking":
      return "a caller";
  }
}

/** The ringing line: "Call from @alice (verified)", never an unchecked handle. */
export function ringLine(c: CallerId): string {
  if (c.kind === "verified") return `Call from @${c.handle} (verified)`;
  if (c.kind === "unverified") {
    return `Call from an unverified caller: ${c.reason}`;
  }
  return `Call from ${callerName(c)}`;
}

/** One device per tab: two open tabs are two sockets, each its own device. */
export function deviceHello(ringWhenBusy: boolean): Hello {
  const k = "reach.deviceId";
  let id = sessionStorage.getItem(k);
  if (!id) {
    id = crypto.randomUUID();
    sessionStorage.setItem(k, id);
  }
  return {
    type: "hello",
    role: "device",
    deviceId: id,
    whenBusy: ringWhenBusy ? "ring" : "busy",
  };
}

const DEFAULT_RING_MS = 60_000;

/**
 * Every `incoming` on the device's socket becomes an IncomingCall, once per
 * call (the server says it again after a reconnect's welcome while the call
 * still rings); `ring` hears of it once the caller's identity was checked
 * (a few milliseconds), if it still rings. `sealedFor`: a sealed identity
 * the page got elsewhere (a push notification's Answer link), used when
 * the `incoming` has none. Returns what stops watching.
 */
export function watchRings(
  signal: SignalClient,
  d: IncomingDeps,
  ring: (call: IncomingCall) => void,
  o: { sealedFor?: (callId: string) => unknown } = {},
): () => void {
  const calls = new Map<string, IncomingCall>();
  let ringMs = DEFAULT_RING_MS;
  return signal.listen({
    onMessage: (m) => {
      if (m.type === "welcome") {
        ringMs = m.ringMs;
        return;
      }
      if (m.type !== "incoming" || calls.get(m.callId)?.live) return;
      const call = new IncomingCall(m.callId, signal, d);
      calls.set(m.callId, call);
      call.receive(m);
      const sealed = m.sealed ?? o.sealedFor?.(m.callId);
      // A replay (the call rang before this device joined): the server
      // never kept its sealed identity, so none is no sign of anonymity.
      const replay = m.replay === true;
      call.identify(sealed, { ringMs, replay }).then(() => {
        if (call.state.kind === "ringing") ring(call);
      });
    },
  });
}

/** How long after `welcome` a linked call's `incoming` may take to arrive. */
export const LINK_WAIT_MS = 3000;
export const NOT_RINGING = "That call is no longer ringing.";

export interface AnswerLink {
  /** For watchRings' callback: answers `call` if it is the linked one. */
  take(call: IncomingCall): boolean;
  stop(): void;
}

/**
 * /me?answer=<callId>, a push notification's Answer: the device's socket is
 * told of every call still ringing right after its `welcome`, and the linked
 * one is answered as soon as `ready` settled (this device's keys, so its
 * proof goes out as usual). No such ring within LINK_WAIT_MS of the welcome:
 * `gone` (the call was answered elsewhere, ended or never rang here).
 */
export function answerLink(
  signal: SignalClient,
  callId: string,
  clock: Pick<Clock, "after">,
  ready: () => Promise<unknown>,
  gone: () => void,
): AnswerLink {
  let done = false;
  let timer: (() => void) | undefined;
  const stop = () => {
    done = true;
    timer?.();
    unlisten();
  };
  const unlisten = signal.listen({
    onMessage: (m) => {
      if (m.type !== "welcome" || done || timer) return;
      timer = clock.after(LINK_WAIT_MS, () => {
        if (done) return;
        stop();
        gone();
      });
    },
  });
  return {
    take(call) {
      if (done || call.id !== callId) return false;
      stop();
      ready().catch(() => {}).then(() => call.answer());
      return true;
    },
    stop,
  };
}

export class IncomingCall extends Call<IncomingDeps> {
  /** Who is calling: shown only as far as it was checked. */
  caller: CallerId = { kind: "checking" };
  private keyChecked = false;
  /** Whether the microphone is allowed already, asked when it rings. */
  private granted: Promise<boolean> | null = null;

  constructor(callId: string, signal: SignalClient, d: IncomingDeps) {
    super(callId, callerName({ kind: "checking" }), d);
    this.attach(signal);
  }

  /**
   * Opens and checks the caller's sealed identity (none: an anonymous
   * caller, or with `replay` one whose identity did not reach this device).
   * A verified caller is pinned on first sight, remembered for "Recent
   * calls", and its audio held back until the connection's key is checked.
   */
  async identify(
    sealed: unknown,
    o: { ringMs: number; replay?: boolean },
  ): Promise<void> {
    let c: CallerId;
    if (sealed === undefined || sealed === null) {
      c = { kind: o.replay ? "lost" : "anonymous" };
    } else {
      const s = this.d.store;
      const v: RingVerdict = await this.d.openRing(sealed, {
        callId: this.id,
        ringMs: o.ringMs,
        pinned: (handle) => pins(s)[handle],
      }).catch(() => ({
        ok: false,
        reason: "its identity could not be checked",
      }));
      if (v.ok) {
        try {
          if (!pins(s)[v.handle]) pin(s, v.handle, v.wallet);
          rememberCaller(s, this.id, v.handle);
        } catch {
          // A full storage forgets; the call rings all the same.
        }
        c = {
          kind: "verified",
          handle: v.handle,
          wallet: v.wallet,
          fingerprint: v.fingerprint,
        };
        this.audible = false;
      } else c = { kind: "unverified", reason: v.reason };
    }
    this.caller = c;
    this.peer = callerName(c);
    this.changed();
  }

  /** Answers: microphone and media session first, then `accept`. */
  async answer(): Promise<void> {
    if (!this.is("ringing")) return;
    this.set({ kind: "microphone" });
    const early = await (this.granted ?? this.d.micGranted())
      .catch(() => false);
    if (!this.is("microphone")) return; // ended meanwhile
    if (early) {
      // Allowed already, no prompt can come: the accept goes as soon as the
      // ICE servers and keys are in, while the microphone comes. The media
      // session opens now, so the caller's offer is answered the moment it
      // arrives; the microphone's track joins it when it comes.
      const mic = this.microphone();
      if (!await this.network()) return this.unanswered();
      const session = this.open("callee");
      this.set({ kind: "connecting" });
      this.send({ type: "accept", callId: this.id });
      return await this.micJoins(session, mic);
    }
    if (!await this.prepare()) return this.unanswered();
    this.open("callee");
    this.set({ kind: "connecting" });
    this.send({ type: "accept", callId: this.id });
  }

  /** Answering failed: no microphone (or no ICE servers). */
  private unanswered(): void {
    const s = this.state;
    // The caller hears "declined".
    if (
      s.kind === "ended" &&
      (s.reason === "microphone" || s.reason === "network")
    ) {
      this.send({ type: "decline", callId: this.id });
    }
  }

  /** The microphone failed after the accept went: the call is over. */
  protected override micFailed(): void {
    if (this.is("connecting")) {
      this.send({ type: "hangup", callId: this.id, reason: "failed" });
    }
  }

  /** Declines for every device of the handle. */
  decline(): void {
    if (this.is("ringing")) this.drop();
  }

  protected override onIncoming(): void {
    if (!this.is("idle")) return;
    this.set({ kind: "ringing", devices: 0 });
    // Asked now, so an answer need not wait for them (ICE servers are
    // kept across calls; the microphone is never asked before an answer).
    this.d.iceServers?.().catch(() => {});
    this.granted = this.d.micGranted().catch(() => false);
  }

  /** This device won the accept: its token resumes the call. */
  protected override onConnectedCall(m: Msg<"connected-call">): void {
    if (this.answered) this.token = m.resumeToken;
  }

  protected override onAnsweredElsewhere(): void {
    if (this.is("ringing", "microphone", "connecting")) this.end("elsewhere");
  }

  /** Over before it was answered: missed, cancelled, declined elsewhere. */
  protected onEnded(m: Msg<"ended">): void {
    if (this.is("ringing", "microphone", "connecting")) this.end(m.reason);
  }

  /** Callers prove themselves inside the sealed ring, never with `verify`. */
  protected override onVerify(): void {}

  protected override onConnected(): void {
    const c = this.caller;
    if (!this.keyChecked) {
      this.keyChecked = true;
      if (c.kind === "verified") {
        this.identity = `Checking ${this.peer}'s encryption key…`;
        this.checkKey(c.fingerprint).catch(() => this.end("broken"));
      } else if (c.kind === "unverified") {
        this.identity = `Unverified caller: ${c.reason}`;
      } else if (c.kind === "lost") {
        this.identity =
          "Unverified caller (identity did not reach this device)";
      } else this.identity = "Unverified caller (anonymous)";
    }
    this.changed();
    super.onConnected();
  }

  /**
   * A verified caller's key: the one its sealed identity signed must be
   * the one this connection negotiated (SDP and DTLS handshake).
   */
  private async checkKey(fingerprint: string): Promise<void> {
    const v = await this.session!.remoteIs(fingerprint);
    if (!this.live) return;
    if (!v.ok) return this.securityStop(v.reason);
    this.audible = true;
    this.identity = `Verified caller ${this.peer}`;
    this.changed();
  }

  /** Unused: callers send no proof this side would check. */
  protected expect(): Promise<{ handle: string; wallet: string }> {
    return Promise.reject(new Error("callers prove themselves in the ring"));
  }

  protected verified(): void {}

  protected text(reason: EndReason, detail?: string): string {
    return calleeText(reason, this.peer, detail);
  }

  protected drop(): void {
    this.send({ type: "decline", callId: this.id });
    this.end("declined");
  }
}
