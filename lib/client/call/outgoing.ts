/**
 * A call this browser places to @handle (the /@handle page): key
 * continuity, its own signaling socket, the ring, the offer once a device
 * accepted, and the callee's proof checked before any of its audio plays.
 */
import { persistentDtlsCert } from "../dtls_cert.ts";
import type { Hello, SignalClient, SocketState } from "../signal.ts";
import { Call, type CallDeps, type Keys, type Msg } from "./base.ts";
import type { Store } from "./prefs.ts";
import { allowsVoicemail, callerText, type EndReason } from "./texts.ts";

/** How long after connecting the callee has to prove who it is. */
export const VERIFY_WITHIN_MS = 8000;
const PINS = "reach.pins";

export interface OutgoingDeps extends CallDeps {
  /** Opens this call's own signaling socket (closed when the call ends). */
  connect(hello: Hello): SignalClient | Promise<SignalClient>;
}

/** The keys this browser pinned per handle (trust on first use). */
function pins(s: Store): Record<string, string> {
  try {
    return JSON.parse(s.getItem(PINS) ?? "{}");
  } catch {
    return {};
  }
}

/** A random token this browser keeps to name itself as a caller. */
function callerToken(s: Store): string {
  const k = "reach.callerToken";
  let t = s.getItem(k);
  if (!t || !/^[0-9a-f]{32}$/.test(t)) {
    t = [...crypto.getRandomValues(new Uint8Array(16))]
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    s.setItem(k, t);
  }
  return t;
}

/**
 * A signed-in caller's device identity when it can be had without a prompt
 * (a wallet account certifies it on /me), and this browser's DTLS
 * certificate. The identity code loads only for a signed-in caller.
 */
export async function callerKeys(
  me: { handle: string; wallet: string } | null,
): Promise<Keys> {
  const identity = me
    ? await import("../device_identity.ts").then((m) =>
      m.loadDeviceIdentity(me.handle, me.wallet, false)
    ).catch(() => null)
    : null;
  return {
    identity,
    certificate: identity?.dtls ??
      await persistentDtlsCert().catch(() => undefined),
  };
}

export class OutgoingCall extends Call<OutgoingDeps> {
  protected override solo = true;
  /** Muted until the callee proved who it is. */
  override audible = false;
  override identity = "Checking who answered…";
  /** After an unanswered call: what a voicemail upload needs. */
  voicemail: { callId: string; token: string } | null = null;
  /** The socket's state, for the "reconnecting to Reach" hint. */
  socket: SocketState = "open";
  private deadline?: () => void;

  constructor(
    readonly handle: string,
    /** The handle's wallet key as the page shows it (pinned on first call). */
    readonly wallet: string,
    d: OutgoingDeps,
  ) {
    super(crypto.randomUUID(), `@${handle}`, d);
  }

  /** Places the call; a key other than the pinned one waits for consent. */
  async start(acceptNewKey = false): Promise<void> {
    if (!this.is("idle", "keychanged")) return;
    const s = this.d.store;
    const all = pins(s);
    const pinned = all[this.handle];
    if (pinned && pinned !== this.wallet && !acceptNewKey) {
      return this.set({ kind: "keychanged", pinned });
    }
    s.setItem(PINS, JSON.stringify({ ...all, [this.handle]: this.wallet }));
    if (!await this.prepare()) return;
    try {
      const signal = await this.d.connect({
        type: "hello",
        role: "caller",
        callerToken: callerToken(s),
      });
      // Cancelled meanwhile: that socket has nothing to say.
      if (this.is("microphone")) this.attach(signal);
      else signal.close();
    } catch {
      this.end("network");
    }
  }

  protected override onWelcome(): void {
    if (this.is("microphone") && !this.token) {
      this.send({ type: "ring", callId: this.id, to: this.handle });
    }
  }

  /** The ring reached the devices: gather candidates meanwhile. */
  protected override async onRinging(m: Msg<"ringing">): Promise<void> {
    if (!this.is("microphone")) return;
    this.token = m.resumeToken;
    this.set({ kind: "ringing", devices: m.devices });
    await this.open("caller").prepareOffer();
  }

  /** A device answered: the offer goes out now. */
  protected override onAccepted(): void {
    if (!this.is("ringing")) return;
    this.set({ kind: "connecting" });
    this.session?.sendOffer();
  }

  /** Unanswered: the server's verdict, and maybe a voicemail. */
  protected onEnded(m: Msg<"ended">): void {
    if (!this.is("microphone", "ringing")) return;
    const token = m.resumeToken ?? this.token;
    if (allowsVoicemail(m.reason) && token) {
      this.voicemail = { callId: this.id, token };
    }
    this.end(m.reason);
  }

  protected override onSocket(
    s: SocketState,
    detail?: { code: number; reason: string },
  ): void {
    this.socket = s;
    if (s === "closed" && detail) {
      this.end("refused", detail.reason || String(detail.code));
    } else this.changed();
  }

  protected override onConnected(): void {
    this.report().catch(() => {});
    this.deadline ??= this.d.clock.after(VERIFY_WITHIN_MS, () => {
      if (this.live && !this.audible) {
        this.securityStop("the device did not prove its identity");
      }
    });
    super.onConnected();
  }

  /** The call log records whether media went through TURN; nothing else. */
  private async report(): Promise<void> {
    for (let i = 0; i < 10 && this.live; i++) {
      const d = await this.session?.details();
      if (d?.localCandidateType) {
        return this.send({
          type: "report",
          callId: this.id,
          relayed: d.relayed,
        });
      }
      await new Promise<void>((r) => this.d.clock.after(500, r));
    }
  }

  protected expect(): Promise<{ handle: string; wallet: string }> {
    return Promise.resolve({ handle: this.handle, wallet: this.wallet });
  }

  protected verified(): void {
    this.deadline?.();
    this.audible = true;
    this.identity =
      `Verified: ${this.peer}'s device, certified by their wallet key ${
        this.wallet.slice(0, 6)
      }…`;
    this.changed();
  }

  protected text(reason: EndReason, detail?: string): string {
    return callerText(reason, this.peer, detail);
  }

  protected drop(): void {
    this.send({ type: "cancel", callId: this.id });
    this.end("cancelled");
  }

  protected override release(): void {
    this.deadline?.();
    this.signal?.close();
  }
}
