/**
 * A call ringing this device (the /me page): answer or decline, this
 * device's proof sent once it answered, and a signed-in caller's proof
 * checked. The device's socket is shared by every call it rings with.
 */
import type { Hello, SignalClient } from "../signal.ts";
import { Call, type CallDeps, type Clock, type Msg } from "./base.ts";
import { calleeText, type EndReason } from "./texts.ts";

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

/**
 * Every `incoming` on the device's socket becomes an IncomingCall, once per
 * call (the server says it again after a reconnect's welcome while the call
 * still rings). Returns what stops watching.
 */
export function watchRings(
  signal: SignalClient,
  d: CallDeps,
  ring: (call: IncomingCall) => void,
): () => void {
  const calls = new Map<string, IncomingCall>();
  return signal.listen({
    onMessage: (m) => {
      if (m.type !== "incoming" || calls.get(m.callId)?.live) return;
      const call = new IncomingCall(m.callId, m.from, signal, d);
      calls.set(m.callId, call);
      call.receive(m);
      ring(call);
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

export class IncomingCall extends Call {
  constructor(
    callId: string,
    /** The caller's handle when signed in with one; null: anonymous. */
    readonly from: string | null,
    signal: SignalClient,
    d: CallDeps,
  ) {
    super(callId, from ? `@${from}` : "an anonymous caller", d);
    this.attach(signal);
  }

  /** Answers: microphone and media session first, then `accept`. */
  async answer(): Promise<void> {
    if (!this.is("ringing")) return;
    if (!await this.prepare()) {
      const s = this.state;
      // No microphone (or no ICE servers): the caller hears "declined".
      if (
        s.kind === "ended" &&
        (s.reason === "microphone" || s.reason === "network")
      ) {
        this.send({ type: "decline", callId: this.id });
      }
      return;
    }
    this.open("callee");
    this.set({ kind: "connecting" });
    this.send({ type: "accept", callId: this.id });
  }

  /** Declines for every device of the handle. */
  decline(): void {
    if (this.is("ringing")) this.drop();
  }

  protected override onIncoming(): void {
    if (this.is("idle")) this.set({ kind: "ringing", devices: 0 });
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

  /** Only a caller with a handle has anything to prove. */
  protected override onVerify(m: Msg<"verify">): Promise<void> | void {
    if (this.from) return super.onVerify(m);
  }

  protected override onConnected(): void {
    if (!this.from) this.identity = "Unverified caller (anonymous)";
    else if (!this.proof) {
      this.identity = `Unverified caller: ${this.peer} has not proved it yet`;
    }
    this.changed();
    super.onConnected();
  }

  /** The wallet key the caller's handle has now, as the server says. */
  protected async expect(): Promise<{ handle: string; wallet: string }> {
    const who = await this.d.fetch(`/handles/${this.from}`)
      .then((r) => r.ok ? r.json() : null)
      .catch(() => null) as { walletPubkey?: string } | null;
    return { handle: this.from!, wallet: who?.walletPubkey ?? "unknown" };
  }

  protected verified(): void {
    this.identity = `Verified caller ${this.peer}`;
    this.changed();
  }

  protected text(reason: EndReason, detail?: string): string {
    return calleeText(reason, this.peer, detail);
  }

  protected drop(): void {
    this.send({ type: "decline", callId: this.id });
    this.end("declined");
  }
}
