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
import {
  Call,
  type CallDeps,
  type Keys,
  type Msg,
  type Prepared,
} from "./base.ts";
import { pin, pins, type Store } from "./prefs.ts";
import { allowsVoicemail, callerText, type EndReason } from "./texts.ts";

/** How long after connecting the callee has to prove who it is. */
export const VERIFY_WITHIN_MS = 8000;
/** How long a socket `warm` opened waits for the press. */
export const WARM_MS = 30_000;

/** Who calls, and the callee's inbox keys to seal it to. */
interface Sender {
  me: CallerIdentity | null;
  inbox: InboxKey[] | null;
}

/** What `warm` starts before the press. */
interface Warm {
  socket: Promise<SignalClient>;
  prepared: Promise<Prepared>;
  granted: Promise<boolean>;
  /** The ring's sealed identity, made before the press. */
  sealed: Promise<SealedBox | null>;
  /** Stops the expiry (the call was placed). */
  cool: () => void;
}

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

let sealedRing: Promise<typeof import("../../identity/sealed_ring.ts")> | null =
  null;
const sealing = () => sealedRing ??= import("../../identity/sealed_ring.ts");

/**
 * The real sealing, loaded only when a call is placed (the sealing code
 * loads while the identity is read, not after).
 */
export const browserSealing: Pick<OutgoingDeps, "callerIdentity" | "seal"> = {
  callerIdentity: () => {
    sealing().catch(() => {});
    return import("../caller_identity.ts").then((m) => m.loadCallerIdentity())
      .catch(() => null);
  },
  seal: (input, keys) => sealing().then((m) => m.sealRing(input, keys)),
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
  private ring: Promise<ClientMessage | null> | null = null;
  /** The ring went out: cancelling must tell the server. */
  private rang = false;
  /** The microphone, when the ring did not wait for it. */
  private micReady: Promise<boolean> | null = null;
  /** The welcome the ring was last sent after (one ring per welcome). */
  private welcomes = 0;
  private rangAfter = 0;
  /** What `warm` got ready before the press. */
  private warmed: Warm | null = null;
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
    // The socket opens while the microphone, ICE servers and keys are got
    // (or was opened by `warm`): its `welcome` sends the ring once they are,
    // and the ring is sealed. With the microphone allowed already (no prompt
    // can come), the ring does not wait for it: it follows while it rings.
    const w = this.warmed ?? this.warmUp();
    w.cool();
    this.set({ kind: "microphone" });
    const early = await w.granted;
    if (!this.is("microphone")) return; // cancelled meanwhile
    let ready: Promise<boolean>;
    // Warmed while offline, say: asked again now.
    const prepared = w.prepared.catch(() => this.fetchPrepared());
    if (early) {
      this.micReady = this.microphone();
      ready = this.network(prepared);
    } else ready = this.prepare(prepared);
    // Sealed with the certificate this call really uses.
    const sealed = w.prepared.then(
      () => w.sealed,
      () => this.sealFor(prepared, this.sender()),
    );
    this.ring = this.ringMessage(ready, sealed);
    try {
      const signal = await w.socket;
      // Cancelled or failed meanwhile: that socket has nothing to say.
      if (this.is("microphone")) {
        this.attach(signal);
        // Opened before the press: its welcome came before it was ours.
        if (signal.state === "open") this.onWelcome();
      } else signal.close();
    } catch {
      this.end("network");
    }
    // Placed (or failed) once the microphone, ICE servers and keys are in.
    await ready;
  }

  /**
   * The person is about to call (the pointer is over Call, or it has the
   * focus): the socket, ICE servers, this call's certificate, the caller
   * identity and the sealing code get ready now, the microphone not (that
   * waits for the press). Unused for WARM_MS, the socket is closed again.
   */
  warm(): void {
    if (this.is("idle") && !this.warmed) this.warmUp();
  }

  private warmUp(): Warm {
    const socket = Promise.resolve(this.d.connect({
      type: "hello",
      role: "caller",
      callerToken: callerToken(this.d.store),
    }));
    socket.catch(() => {});
    const prepared = this.fetchPrepared();
    prepared.catch(() => {});
    const sealed = this.sealFor(prepared, this.sender());
    const expire = this.d.clock.after(WARM_MS, () => {
      if (!this.is("idle", "keychanged")) return;
      this.warmed = null;
      socket.then((s) => s.close(), () => {});
    });
    return this.warmed = {
      socket,
      prepared,
      granted: this.d.micGranted().catch(() => false),
      sealed,
      cool: expire,
    };
  }

  /** The ring, once sealed (or anonymous); again after a reconnect before `ringing`. */
  protected override async onWelcome(): Promise<void> {
    const welcome = ++this.welcomes;
    if (!this.is("microphone") || this.token || !this.ring) return;
    const ring = await this.ring;
    if (
      ring && this.is("microphone") && !this.token &&
      this.rangAfter !== welcome
    ) {
      this.rangAfter = welcome;
      this.rang = true;
      this.send(ring);
    }
  }

  /**
   * The ring, once `ready` (the microphone when the ring waits for it, ICE
   * servers, this call's certificate): sealed with who calls when `sealed`
   * has a block, anonymous otherwise. Null: `ready` failed, nothing rings.
   */
  private async ringMessage(
    ready: Promise<boolean>,
    sealed: Promise<SealedBox | null>,
  ): Promise<ClientMessage | null> {
    const ring = { type: "ring" as const, callId: this.id, to: this.handle };
    if (!await ready) return null;
    const box = await sealed;
    return box ? { ...ring, sealed: box } : ring;
  }

  /**
   * Who calls, sealed for the callee's inbox keys with this call's
   * certificate fingerprint: made as soon as the identity, the keys and the
   * certificate are there (before the press, when warmed), so the ring
   * never waits for it. Null when this browser holds no caller identity,
   * the callee has no inbox keys, or anything fails: sealing never stops a
   * call, it rings anonymously.
   */
  private async sealFor(
    prepared: Promise<Prepared>,
    sender: Promise<Sender>,
  ): Promise<SealedBox | null> {
    try {
      const [[, keys], { me, inbox }] = await Promise.all([prepared, sender]);
      const fingerprint = certFingerprint(keys.certificate);
      if (!me || !fingerprint || !inbox?.length) return null;
      const box = await this.d.seal({
        callId: this.id,
        to: this.handle,
        fingerprint,
        identity: me.identity,
        attestation: me.attestation,
      }, inbox);
      this.callingAs = me.handle;
      return box;
    } catch {
      return null;
    }
  }

  /**
   * Who calls (this browser's caller identity) and the callee's inbox keys
   * to seal it to; looked up only when there is an identity.
   */
  private async sender(): Promise<Sender> {
    const me = await this.d.callerIdentity().catch(() => null);
    if (!me) return { me: null, inbox: null };
    // No cookie: the look-up says nothing about who asks.
    const inbox = await this.d.fetch(
      `/handles/${encodeURIComponent(this.handle)}/inbox-keys`,
      { credentials: "omit" },
    ).then(async (res) =>
      res.ok ? ((await res.json()) as { keys?: InboxKey[] }).keys ?? null : null
    ).catch(() => null);
    return { me, inbox };
  }

  /**
   * The ring reached the devices: the offer is made and candidates gathered
   * meanwhile. A ring that did not wait for the microphone does not wait for
   * it here either: its track joins the session when it comes.
   */
  protected override async onRinging(m: Msg<"ringing">): Promise<void> {
    if (!this.is("microphone")) return;
    this.token = m.resumeToken;
    this.set({ kind: "ringing", devices: m.devices });
    const session = this.open("caller");
    if (this.micReady) this.micJoins(session, this.micReady);
    await session.prepareOffer();
    // Accepted while the offer was made: it goes out now.
    if (this.is("connecting")) session.sendOffer();
  }

  /** A device answered: the offer goes out now (or once it is made). */
  protected override onAccepted(): void {
    if (!this.is("ringing")) return;
    this.set({ kind: "connecting" });
    this.session?.sendOffer();
  }

  /**
   * No microphone after the ring went out: the callee stops ringing, or,
   * answered meanwhile, hears the call end.
   */
  protected override micFailed(): void {
    if (!this.rang || !this.live) return;
    if (this.answered) {
      this.send({ type: "hangup", callId: this.id, reason: "failed" });
    } else this.send({ type: "cancel", callId: this.id });
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
    // Not rung yet (the socket opens while the microphone is asked for):
    // nothing to cancel on the server.
    if (this.rang) this.send({ type: "cancel", callId: this.id });
    this.end("cancelled");
  }

  protected override release(): void {
    this.deadline?.();
    this.signal?.close();
    // Warmed and never used (the page went away before the press).
    const w = this.warmed;
    if (w && !this.signal) w.socket.then((s) => s.close(), () => {});
  }
}
