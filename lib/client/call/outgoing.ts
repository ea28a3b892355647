/**
 * A call this browser places to @handle (the /@handle page): key
 * continuity, its own signaling socket, the ring (sealed with who calls,
 * when this browser holds a caller identity), the offer once a device
 * accepted, and the callee's proof checked before any of its audio plays.
 *
 * Sealed sender (issue 13): the server never learns who calls. The socket
 * says hello as an anonymous caller; who calls travels in `ring.sealed`,
 * sealed to the callee's inbox keys, signed by this browser's certified
 * device key together with this call's DTLS fingerprint. Each call has a
 * fresh DTLS certificate, so nothing links two calls of one caller. This
 * side sends no `verify`: a certificate in the clear would name it.
 */
import type { ClientMessage } from "@/signaling/protocol.ts";
import type { InboxKey, SealedBox } from "../../crypto/sealed_box.ts";
import type { CallerIdentity } from "../caller_identity.ts";
import { certFingerprint, freshDtlsCert } from "../rtc.ts";
import type { Hello, SignalClient, SocketState } from "../signal.ts";
import { Call, type CallDeps, type Keys, type Msg } from "./base.ts";
import { pin, pins, type Store } from "./prefs.ts";
import { allowsVoicemail, callerText, type EndReason } from "./texts.ts";

/** How long after connecting the callee has to prove who it is. */
export const VERIFY_WITHIN_MS = 8000;

/** What lib/identity/sealed_ring.ts's sealRing takes besides the keys. */
export interface SealInput {
  callId: string;
  to: string;
  /** This call's DTLS fingerprint ("sha-256 AB:CD:.."). */
  fingerprint: string;
  identity: CallerIdentity["identity"];
  attestation: CallerIdentity["attestation"];
}

export interface OutgoingDeps extends CallDeps {
  /** Opens this call's own signaling socket (closed when the call ends). */
  connect(hello: Hello): SignalClient | Promise<SignalClient>;
  /** The caller identity this browser holds (no prompt), or null. */
  callerIdentity(): Promise<CallerIdentity | null>;
  /** Seals it for the callee's inbox keys (sealRing). */
  seal(input: SealInput, keys: InboxKey[]): Promise<SealedBox>;
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

/** A caller's keys: a fresh DTLS certificate for this call, no proof. */
export async function callerKeys(): Promise<Keys> {
  return {
    identity: null,
    certificate: await freshDtlsCert().catch(() => undefined),
  };
}

/** The real sealing, loaded only when a call is placed. */
export const browserSealing: Pick<OutgoingDeps, "callerIdentity" | "seal"> = {
  callerIdentity: () =>
    import("../caller_identity.ts").then((m) => m.loadCallerIdentity())
      .catch(() => null),
  seal: (input, keys) =>
    import("../../identity/sealed_ring.ts").then((m) =>
      m.sealRing(input, keys)
    ),
};

export class OutgoingCall extends Call<OutgoingDeps> {
  protected override solo = true;
  /** A certificate in the clear would name the caller to the server. */
  protected override proves = false;
  /** Muted until the callee proved who it is. */
  override audible = false;
  override identity = "Checking who answered…";
  /** After an unanswered call: what a voicemail upload needs. */
  voicemail: { callId: string; token: string } | null = null;
  /** The socket's state, for the "reconnecting to Reach" hint. */
  socket: SocketState = "open";
  /** The handle the sealed ring names; null: this call is anonymous. */
  callingAs: string | null = null;
  private ring: Promise<ClientMessage> | null = null;
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
    const pinned = pins(s)[this.handle];
    if (pinned && pinned !== this.wallet && !acceptNewKey) {
      return this.set({ kind: "keychanged", pinned });
    }
    pin(s, this.handle, this.wallet);
    if (!await this.prepare()) return;
    this.ring = this.ringMessage();
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

  /** The ring, once sealed (or anonymous); again after a reconnect before `ringing`. */
  protected override async onWelcome(): Promise<void> {
    if (!this.is("microphone") || this.token) return;
    const ring = await this.ring;
    if (ring && this.is("microphone") && !this.token) this.send(ring);
  }

  /**
   * The ring: sealed with who calls when this browser holds a caller
   * identity and the callee has inbox keys; anonymous otherwise, and on any
   * failure (sealing never stops a call).
   */
  private async ringMessage(): Promise<ClientMessage> {
    const ring = { type: "ring" as const, callId: this.id, to: this.handle };
    try {
      const me = await this.d.callerIdentity();
      const fingerprint = certFingerprint(this.keys.certificate);
      if (!me || !fingerprint) return ring;
      // No cookie: the look-up says nothing about who asks.
      const res = await this.d.fetch(
        `/handles/${encodeURIComponent(this.handle)}/inbox-keys`,
        { credentials: "omit" },
      );
      const keys = res.ok
        ? ((await res.json()) as { keys?: InboxKey[] }).keys
        : null;
      if (!keys?.length) return ring;
      const sealed = await this.d.seal({
        callId: this.id,
        to: this.handle,
        fingerprint,
        identity: me.identity,
        attestation: me.attestation,
      }, keys);
      this.callingAs = me.handle;
      this.changed();
      return { ...ring, sealed };
    } catch {
      return ring;
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
