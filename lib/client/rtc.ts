/**
 * One WebRTC voice call in the browser: microphone, peer connection, ICE
 * (with restart when the connection fails), and what the connection-details
 * panel shows. Signaling is passed in, so caller and callee share this code.
 */
import type { ServerMessage } from "@/signaling/protocol.ts";
import {
  sdpFingerprint,
  statementText,
  type Verdict,
  type VerifyInput,
  verifyPeer,
} from "../identity/device_cert.ts";

/** What signs this side's proof: a device identity (device_identity.ts). */
interface ProofSigner {
  cert: string;
  certSig: string;
  sign(text: string): Promise<string>;
}

/**
 * How long `verify` waits for the DTLS handshake to finish and show the
 * peer's certificate: within the caller's 8-second proof deadline.
 */
const DTLS_WAIT_MS = 6000;

const NO_KEY_SHOWN = "the connection did not show which encryption key it uses";

/**
 * A new DTLS certificate (ECDSA P-256): a caller's, for one call, so no two
 * of its calls share a key that would link them.
 */
export function freshDtlsCert(): Promise<RTCCertificate> {
  return RTCPeerConnection.generateCertificate({
    name: "ECDSA",
    namedCurve: "P-256",
  } as EcKeyGenParams);
}

/**
 * A certificate's SHA-256 fingerprint as SDP states it ("sha-256 AB:CD:.."),
 * or null when it has none.
 */
export function certFingerprint(cert?: RTCCertificate): string | null {
  const f = cert?.getFingerprints?.().find((x) =>
    x.algorithm?.toLowerCase() === "sha-256"
  );
  return f?.value ? `sha-256 ${f.value.toUpperCase()}` : null;
}

export type Send = (msg: Record<string, unknown> & { type: string }) => void;

export type MediaState =
  | "idle"
  | "connecting"
  | "connected"
  | "reconnecting"
  | "failed"
  | "closed";

export interface ConnectionDetails {
  dtlsState: string;
  tlsVersion: string;
  dtlsCipher: string;
  srtpCipher: string;
  localFingerprint: string;
  remoteFingerprint: string;
  localCandidateType: string;
  remoteCandidateType: string;
  relayed: boolean;
  packetsSent: number;
  packetsReceived: number;
  /** ICE restarts this side started or asked for during the call. */
  iceRestarts: number;
}

/** How long a disconnected call may try to recover before it gives up. */
export const GIVE_UP_MS = 30_000;
/** How long a connection may stay disconnected before an ICE restart. */
export const RESTART_AFTER_MS = 2_000;
/** Between ICE restart attempts while still disconnected. */
export const RETRY_RESTART_MS = 5_000;

type Fetch = (url: string, init?: RequestInit) => Promise<Response>;

/** `GET /api/ice`: the ICE servers and how long (s) their credentials last. */
async function fetchIce(
  f: Fetch,
): Promise<{ iceServers: RTCIceServer[]; ttl?: number }> {
  const res = await f("/api/ice", { credentials: "same-origin" });
  if (!res.ok) throw new Error(`ICE servers unavailable (${res.status})`);
  return await res.json();
}

export async function fetchIceServers(
  f: Fetch = fetch,
): Promise<RTCIceServer[]> {
  return (await fetchIce(f)).iceServers;
}

/**
 * ICE servers kept for a device page's calls: fetched at most once per
 * half their lifetime (the server's `ttl`, at most 10 minutes), so a call
 * that rings can have them before it is answered without a fetch per ring.
 */
export class IceCache {
  private got: { servers: Promise<RTCIceServer[]>; until: number } | null =
    null;

  constructor(private f: Fetch, private now: () => number = Date.now) {}

  get(): Promise<RTCIceServer[]> {
    const t = this.now();
    if (this.got && t < this.got.until) return this.got.servers;
    const servers = fetchIce(this.f).then((body) => {
      const keep = Math.min(600, Math.max(0, (body.ttl ?? 0) / 2)) * 1000;
      if (this.got?.servers === servers) this.got.until = t + keep;
      return body.iceServers;
    });
    // Until it answers, callers share this fetch; a failure is not kept.
    this.got = { servers, until: Infinity };
    servers.catch(() => {
      if (this.got?.servers === servers) this.got = null;
    });
    return servers;
  }
}

export async function getMicrophone(): Promise<MediaStream> {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new Error("This browser cannot use a microphone here.");
  }
  return await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: true, noiseSuppression: true },
    video: false,
  });
}

export function microphoneError(e: unknown): string {
  const name = (e as { name?: string })?.name;
  if (name === "NotAllowedError" || name === "SecurityError") {
    return "Microphone access was denied. Allow the microphone for this site in your browser's address bar, then try again.";
  }
  if (name === "NotFoundError" || name === "OverconstrainedError") {
    return "No microphone was found. Plug one in and try again.";
  }
  if (name === "NotReadableError") {
    return "The microphone is busy in another app. Close it and try again.";
  }
  return "Could not start the microphone.";
}

export interface CallSessionOptions {
  role: "caller" | "callee";
  callId: string;
  send: Send;
  iceServers: RTCIceServer[];
  /** "relay" hides this browser's addresses from the other side. */
  iceTransportPolicy?: RTCIceTransportPolicy;
  /**
   * The microphone; null when the session opens before it came (a caller
   * that made its offer while the microphone started, a callee that
   * answered meanwhile): its track joins with `useMic`, without a new
   * offer/answer.
   */
  mic: MediaStream | null;
  /**
   * The DTLS certificate: a callee's persistent one, or a caller's fresh
   * one whose fingerprint its sealed identity signed.
   */
  certificate?: RTCCertificate;
  onState: (s: MediaState) => void;
  onRemoteStream: (s: MediaStream) => void;
}

export class CallSession {
  readonly pc: RTCPeerConnection;
  state: MediaState = "idle";
  /** Why the call failed, in words a person understands. */
  failure = "";
  private gathered = 0;
  private turnError = 0;
  private pendingRemote: RTCIceCandidateInit[] = [];
  /** The caller holds its candidates until the offer may go out. */
  private held: (RTCIceCandidateInit | null)[] | null;
  private offerSent = false;
  private giveUp: ReturnType<typeof setTimeout> | undefined;
  private restarting = false;
  private restarts = 0;
  private mic: MediaStream | null;
  private muted = false;

  constructor(private o: CallSessionOptions) {
    this.mic = o.mic;
    this.held = o.role === "caller" ? [] : null;
    this.pc = new RTCPeerConnection({
      iceServers: o.iceServers,
      iceTransportPolicy: o.iceTransportPolicy ?? "all",
      ...(o.certificate ? { certificates: [o.certificate] } : {}),
    });
    if (o.mic) {
      for (const track of o.mic.getAudioTracks()) {
        this.pc.addTrack(track, o.mic);
      }
    } else if (o.role === "caller") {
      // The offer's audio line, sending once the microphone's track is on it.
      this.pc.addTransceiver("audio", { direction: "sendrecv" });
    }
    this.pc.onicecandidateerror = (e) => {
      const code = (e as RTCPeerConnectionIceErrorEvent).errorCode;
      if (code === 401 || code === 403) this.turnError = code;
    };
    this.pc.onicegatheringstatechange = () => {
      // Relay-only with no relay candidate can never connect: say so now.
      if (
        this.pc.iceGatheringState === "complete" && this.gathered === 0 &&
        (o.iceTransportPolicy ?? "all") === "relay"
      ) {
        this.fail(
          this.turnError
            ? "The relay server (TURN) refused our credentials, so the call cannot be relayed."
            : "No relay server (TURN) could be reached, so the call cannot be relayed.",
        );
      }
    };
    this.pc.onicecandidate = (e) => {
      if (e.candidate) this.gathered++;
      const c = e.candidate ? e.candidate.toJSON() : null;
      if (this.held) this.held.push(c);
      else this.o.send({ type: "candidate", callId: o.callId, candidate: c });
    };
    this.pc.ontrack = (e) => {
      o.onRemoteStream(e.streams[0] ?? new MediaStream([e.track]));
    };
    this.pc.onconnectionstatechange = () => this.onConnectionState();
  }

  private set(s: MediaState) {
    if (this.state === s || this.state === "closed") return;
    this.state = s;
    this.o.onState(s);
  }

  private onConnectionState() {
    const s = this.pc.connectionState;
    if (s === "connected") {
      clearTimeout(this.giveUp);
      this.giveUp = undefined;
      this.restarting = false;
      this.set("connected");
    } else if (s === "disconnected" || s === "failed") {
      if (this.state === "connected" || this.state === "reconnecting") {
        this.set("reconnecting");
        this.giveUp ??= setTimeout(() => this.fail(), GIVE_UP_MS);
        if (s === "failed") this.restartIce();
        else {
          // A short blip heals by itself; a longer one gets a fresh ICE round.
          setTimeout(() => {
            if (this.pc.connectionState === "disconnected") this.restartIce();
          }, RESTART_AFTER_MS);
        }
      } else if (s === "failed") {
        // Never connected: nothing to restore.
        this.fail("Could not connect the two browsers.");
      }
    } else if (s === "connecting" && this.state === "idle") {
      this.set("connecting");
    }
  }

  private fail(
    why = "The connection failed and could not be restored.",
  ) {
    if (this.state === "closed" || this.state === "failed") return;
    this.failure = why;
    // Tell the other side first: the state change below may close the socket.
    this.o.send({ type: "hangup", callId: this.o.callId, reason: "failed" });
    this.set("failed");
    this.close();
  }

  /** Caller: gather while ringing, so the answer comes fast. */
  async prepareOffer(): Promise<void> {
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
  }

  /**
   * Caller: a device accepted; now the offer and gathered candidates go out.
   * Before prepareOffer has made the offer it does nothing: call it again.
   */
  sendOffer(): void {
    // Not made yet (prepareOffer under way): called again once it is.
    if (this.offerSent || !this.pc.localDescription) return;
    this.offerSent = true;
    this.set("connecting");
    const sdp = this.pc.localDescription?.sdp;
    if (sdp) this.o.send({ type: "offer", callId: this.o.callId, sdp });
    for (const c of this.held ?? []) {
      this.o.send({ type: "candidate", callId: this.o.callId, candidate: c });
    }
    this.held = null;
  }

  /** ICE restart: the caller makes a new offer; the callee asks for one. */
  async restartIce(): Promise<void> {
    if (this.restarting || this.state === "closed") return;
    this.restarting = true;
    this.restarts++;
    // Still not back after a while: try another round (until giving up).
    setTimeout(() => {
      if (this.state === "reconnecting") {
        this.restarting = false;
        this.restartIce();
      }
    }, RETRY_RESTART_MS);
    if (this.o.role === "callee") {
      this.o.send({ type: "ice-restart", callId: this.o.callId });
      return;
    }
    // An earlier restart offer still unanswered (its answer was lost): drop it.
    if (this.pc.signalingState === "have-local-offer") {
      await this.pc.setLocalDescription({ type: "rollback" });
    }
    const offer = await this.pc.createOffer({ iceRestart: true });
    await this.pc.setLocalDescription(offer);
    this.o.send({ type: "offer", callId: this.o.callId, sdp: offer.sdp! });
  }

  async handle(msg: ServerMessage): Promise<void> {
    if (!("callId" in msg) || msg.callId !== this.o.callId) return;
    switch (msg.type) {
      case "offer": {
        await this.pc.setRemoteDescription({ type: "offer", sdp: msg.sdp });
        await this.sendAudio();
        await this.flushRemote();
        const answer = await this.pc.createAnswer();
        await this.pc.setLocalDescription(answer);
        this.o.send({
          type: "answer",
          callId: this.o.callId,
          sdp: answer.sdp!,
        });
        this.set(this.state === "idle" ? "connecting" : this.state);
        break;
      }
      case "answer":
        // Only the answer to our outstanding offer; a stale one is dropped.
        if (this.pc.signalingState !== "have-local-offer") break;
        await this.pc.setRemoteDescription({ type: "answer", sdp: msg.sdp });
        await this.flushRemote();
        break;
      case "candidate":
        if (!msg.candidate) break;
        if (this.pc.remoteDescription) {
          await this.pc.addIceCandidate(msg.candidate).catch(() => {});
        } else this.pendingRemote.push(msg.candidate);
        break;
      case "ice-restart":
        // The callee asks; a restart already under way answers it.
        if (this.o.role === "caller") await this.restartIce();
        break;
    }
  }

  /**
   * A session opened before its microphone came: the audio line (the
   * caller's own, or the one the caller's offer made, which the callee's
   * answer then says it sends on) gets the microphone's track once `useMic`
   * has it. Nothing to do when the track was added at once.
   */
  private async sendAudio(): Promise<void> {
    if (this.o.mic) return;
    const t = this.pc.getTransceivers().find((t) =>
      t.receiver.track.kind === "audio" && !t.sender.track
    );
    if (!t) return;
    if (t.direction === "recvonly" || t.direction === "inactive") {
      t.direction = t.direction === "recvonly" ? "sendrecv" : "sendonly";
    }
    const track = this.mic?.getAudioTracks()[0];
    if (track) await t.sender.replaceTrack(track);
  }

  /**
   * The microphone came after the session opened without it (a callee that
   * answered at once): its track is sent on the line the offer made, or
   * will be once the offer is read. No new offer/answer is needed.
   */
  async useMic(mic: MediaStream): Promise<void> {
    if (this.state === "closed") {
      for (const t of mic.getTracks()) t.stop();
      return;
    }
    this.mic = mic;
    for (const t of mic.getAudioTracks()) t.enabled = !this.muted;
    // A callee's line exists once the offer was read; sendAudio picks the
    // track up then.
    if (this.o.role === "caller" || this.pc.remoteDescription) {
      await this.sendAudio();
    }
  }

  private async flushRemote() {
    for (const c of this.pendingRemote.splice(0)) {
      await this.pc.addIceCandidate(c).catch(() => {});
    }
  }

  /** Ours and the peer's fingerprint as the SDP exchanged states them. */
  private sdpFingerprints(): {
    local: string | null;
    remoteSdp: string | null;
  } {
    const fp = (sdp?: string) => sdp ? sdpFingerprint(sdp) : null;
    return {
      local: fp(this.pc.localDescription?.sdp),
      remoteSdp: fp(this.pc.remoteDescription?.sdp),
    };
  }

  /**
   * The fingerprints for verification: ours and the peer's from the SDP
   * exchanged, and the peer's from the DTLS handshake ("sha-256 AB:..").
   */
  async fingerprints(): Promise<
    {
      local: string | null;
      remoteSdp: string | null;
      remoteDtls: string | null;
    }
  > {
    const sdp = this.sdpFingerprints();
    return {
      ...sdp,
      remoteDtls: await this.handshakeFingerprint(sdp.remoteSdp),
    };
  }

  /**
   * The peer's certificate as the DTLS handshake used it, hashed with the
   * algorithm its SDP fingerprint names. Read from the DTLS transport
   * itself: Chromium's getStats can keep reporting no remote certificate
   * for the whole call once it was asked before the handshake finished
   * (a signed-in caller's proof used to ask that early), which stopped
   * honest calls as unverifiable on a busy machine. getStats remains the
   * fallback where the transport API is missing.
   */
  private async handshakeFingerprint(
    remoteSdp: string | null,
  ): Promise<string | null> {
    const transport = this.pc.getSenders()[0]?.transport ??
      this.pc.getReceivers()[0]?.transport;
    const algorithm = remoteSdp?.split(" ")[0] ?? "sha-256";
    const digest = ({
      "sha-1": "SHA-1",
      "sha-256": "SHA-256",
      "sha-384": "SHA-384",
      "sha-512": "SHA-512",
    } as Record<string, string>)[algorithm];
    if (transport?.getRemoteCertificates && digest) {
      if (transport.state !== "connected") return null;
      const [der] = transport.getRemoteCertificates();
      if (!der) return null;
      const hash = new Uint8Array(await crypto.subtle.digest(digest, der));
      return `${algorithm} ${
        [...hash].map((b) => b.toString(16).padStart(2, "0")).join(":")
          .toUpperCase()
      }`;
    }
    const stats = await this.pc.getStats();
    let remoteDtls: string | null = null;
    stats.forEach((s) => {
      if (s.type !== "transport" || s.dtlsState !== "connected") return;
      const c = stats.get(String(s.remoteCertificateId));
      if (c?.fingerprint) {
        remoteDtls = `${String(c.fingerprintAlgorithm).toLowerCase()} ${
          String(c.fingerprint).toUpperCase()
        }`;
      }
    });
    return remoteDtls;
  }

  /**
   * This side's proof for the peer: both fingerprints as this browser saw
   * them, signed by its certified device key (a `verify` message body).
   */
  async proof(
    identity: ProofSigner,
  ): Promise<(VerifyInput & { callId: string }) | null> {
    // From the SDP only: nothing here may ask getStats before the handshake.
    const fps = this.sdpFingerprints();
    if (!fps.local || !fps.remoteSdp) return null;
    const statement = statementText({
      call: this.o.callId,
      role: this.o.role,
      signerFingerprint: fps.local,
      peerFingerprint: fps.remoteSdp,
      time: new Date().toISOString(),
    });
    return {
      callId: this.o.callId,
      cert: identity.cert,
      certSig: identity.certSig,
      statement,
      sig: await identity.sign(statement),
    };
  }

  /**
   * Checks the peer's proof against what this connection really negotiated:
   * the fingerprint in the SDP received and the one the DTLS handshake used.
   */
  async verify(
    proof: VerifyInput,
    expect: { handle: string; wallet: string },
  ): Promise<Verdict> {
    const fps = await this.handshakeDone();
    if (!fps.remoteDtls) {
      // Still fail closed, but say what happened: nothing was mismatched.
      return { ok: false, reason: NO_KEY_SHOWN };
    }
    return await verifyPeer(proof, {
      callId: this.o.callId,
      role: this.o.role === "caller" ? "callee" : "caller",
      handle: expect.handle,
      wallet: expect.wallet,
      remoteFps: [fps.remoteSdp ?? "missing", fps.remoteDtls],
      localFp: fps.local ?? "missing",
    });
  }

  /**
   * Whether the peer's key in this connection, as its SDP states it and as
   * the DTLS handshake used it, is `fingerprint` ("sha-256 AB:CD:.."): the
   * callee's check of the fingerprint a sealed caller identity signed.
   */
  async remoteIs(
    fingerprint: string,
  ): Promise<{ ok: true } | { ok: false; reason: string }> {
    const fps = await this.handshakeDone();
    if (!fps.remoteDtls) return { ok: false, reason: NO_KEY_SHOWN };
    const norm = (f: string | null) => (f ?? "").trim().toLowerCase();
    if (
      norm(fps.remoteSdp) !== norm(fingerprint) ||
      norm(fps.remoteDtls) !== norm(fingerprint)
    ) {
      return {
        ok: false,
        reason: "the encryption key in use is not the one the caller signed",
      };
    }
    return { ok: true };
  }

  /**
   * The fingerprints once the handshake's certificate shows (shortly after
   * connecting), or after DTLS_WAIT_MS without it: a key not yet visible
   * must never read as a different key.
   */
  private async handshakeDone() {
    let fps = await this.fingerprints();
    const until = Date.now() + DTLS_WAIT_MS;
    while (!fps.remoteDtls && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
      fps = await this.fingerprints();
    }
    return fps;
  }

  setMuted(muted: boolean): void {
    this.muted = muted;
    for (const t of this.mic?.getAudioTracks() ?? []) t.enabled = !muted;
  }

  async details(): Promise<ConnectionDetails | null> {
    if (this.state === "closed") return null;
    const stats = await this.pc.getStats();
    const byId = new Map<string, Record<string, unknown>>();
    stats.forEach((s) => byId.set(s.id, s as Record<string, unknown>));
    const d: ConnectionDetails = {
      dtlsState: "",
      tlsVersion: "",
      dtlsCipher: "",
      srtpCipher: "",
      localFingerprint: "",
      remoteFingerprint: "",
      localCandidateType: "",
      remoteCandidateType: "",
      relayed: false,
      packetsSent: 0,
      packetsReceived: 0,
      iceRestarts: this.restarts,
    };
    for (const s of byId.values()) {
      if (s.type === "transport") {
        d.dtlsState = String(s.dtlsState ?? "");
        d.tlsVersion = String(s.tlsVersion ?? "");
        d.dtlsCipher = String(s.dtlsCipher ?? "");
        d.srtpCipher = String(s.srtpCipher ?? "");
        const local = byId.get(String(s.localCertificateId));
        const remote = byId.get(String(s.remoteCertificateId));
        d.localFingerprint = String(local?.fingerprint ?? "");
        d.remoteFingerprint = String(remote?.fingerprint ?? "");
        const pair = byId.get(String(s.selectedCandidatePairId));
        if (pair) {
          d.localCandidateType = String(
            byId.get(String(pair.localCandidateId))?.candidateType ?? "",
          );
          d.remoteCandidateType = String(
            byId.get(String(pair.remoteCandidateId))?.candidateType ?? "",
          );
        }
      } else if (s.type === "outbound-rtp" && s.kind === "audio") {
        d.packetsSent += Number(s.packetsSent ?? 0);
      } else if (s.type === "inbound-rtp" && s.kind === "audio") {
        d.packetsReceived += Number(s.packetsReceived ?? 0);
      }
    }
    d.relayed = d.localCandidateType === "relay" ||
      d.remoteCandidateType === "relay";
    return d;
  }

  close(): void {
    clearTimeout(this.giveUp);
    this.state = "closed";
    this.pc.close();
    for (const t of this.mic?.getTracks() ?? []) t.stop();
  }
}

/** A 0..1 level of a stream, sampled on demand (for the level meter). */
export function levelMeter(stream: MediaStream): {
  read(): number;
  stop(): void;
} {
  const Ctx = globalThis.AudioContext;
  if (!Ctx) return { read: () => 0, stop: () => {} };
  const ctx = new Ctx();
  const src = ctx.createMediaStreamSource(stream);
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 512;
  src.connect(analyser);
  const buf = new Float32Array(analyser.fftSize);
  return {
    read() {
      analyser.getFloatTimeDomainData(buf);
      let sum = 0;
      for (const v of buf) sum += v * v;
      return Math.min(1, Math.sqrt(sum / buf.length) * 4);
    },
    stop() {
      ctx.close().catch(() => {});
    },
  };
}
