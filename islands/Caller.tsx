import { useEffect, useRef, useState } from "preact/hooks";
import { InCall } from "../components/InCall.tsx";
import { useHydrated } from "../lib/client/hydrated.ts";
import {
  CallSession,
  fetchIceServers,
  getMicrophone,
  type MediaState,
  microphoneError,
} from "../lib/client/rtc.ts";
import { SignalSocket } from "../lib/client/signal.ts";
import { persistentDtlsCert } from "../lib/client/dtls_cert.ts";
import type { VerifyInput } from "../lib/identity/device_cert.ts";
import type { DeviceIdentity } from "../lib/client/device_identity.ts";

/** How long after connecting the callee has to prove who it is. */
const VERIFY_WITHIN_MS = 8000;
import type { ServerMessage } from "../signaling/protocol.ts";

interface Props {
  handle: string;
  online: boolean;
  /** Longest voicemail the caller may record. */
  voicemailSeconds: number;
  /** The handle's wallet key as this page shows it (pinned on first call). */
  walletPubkey: string;
  /** The signed-in caller, if any: it proves itself to the callee. */
  me: { handle: string; wallet: string } | null;
}

const PINS_KEY = "reach.pins";

function readPins(): Record<string, string> {
  try {
    return JSON.parse(localStorage.getItem(PINS_KEY) ?? "{}");
  } catch {
    return {};
  }
}

/** Remembers the key this browser called @handle under (trust on first use). */
function pin(handle: string, key: string) {
  localStorage.setItem(
    PINS_KEY,
    JSON.stringify({ ...readPins(), [handle]: key }),
  );
}

type Recorder =
  typeof import("../components/VoicemailRecorder.tsx").VoicemailRecorder;

/** Unanswered calls may leave a voicemail. */
const VOICEMAIL_AFTER = new Set(["declined", "missed", "unavailable", "busy"]);

type Phase =
  | { kind: "idle" }
  | { kind: "keychanged"; pinned: string }
  | { kind: "mic" }
  | { kind: "ringing"; devices: number }
  | { kind: "connecting" }
  | { kind: "connected"; since: number }
  | { kind: "ended"; message: string };

const ENDED: Record<string, (h: string) => string> = {
  declined: (h) => `@${h} declined the call.`,
  missed: (h) => `@${h} did not answer.`,
  unavailable: (h) => `@${h} is not receiving calls right now.`,
  busy: (h) => `@${h} is on another call.`,
  cancelled: () => "Call cancelled.",
};

function callerToken(): string {
  const k = "reach.callerToken";
  let t = localStorage.getItem(k);
  if (!t || !/^[0-9a-f]{32}$/.test(t)) {
    t = [...crypto.getRandomValues(new Uint8Array(16))]
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    localStorage.setItem(k, t);
  }
  return t;
}

export default function Caller(
  { handle, online, voicemailSeconds, walletPubkey, me }: Props,
) {
  const hydrated = useHydrated();
  const [phase, setPhase] = useState<Phase>({ kind: "idle" });
  const [remote, setRemote] = useState<MediaStream | null>(null);
  const [media, setMedia] = useState<MediaState>("idle");
  const [signal, setSignal] = useState("open");
  const [hideIp, setHideIp] = useState(false);
  const [voicemail, setVoicemail] = useState<
    { callId: string; token: string } | null
  >(null);
  const [Recorder, setRecorder] = useState<Recorder | null>(null);
  const call = useRef<
    | {
      id: string;
      socket: SignalSocket;
      session: CallSession | null;
      token: string;
      /** The callee's identity proof, once it arrives. */
      proof?: VerifyInput;
      /** This caller's own identity (signed in), and whether it has proved it. */
      mine?: DeviceIdentity | null;
      proved?: boolean;
      checking?: boolean;
      verified?: boolean;
      deadline?: ReturnType<typeof setTimeout>;
    }
    | null
  >(null);
  const [verified, setVerified] = useState(false);
  const [identity, setIdentity] = useState("");

  /** A signed-in caller signs both fingerprints for the callee to check. */
  async function proveMine(c: NonNullable<typeof call.current>) {
    if (!c.mine || !c.session) return;
    const proof = await c.session.proof(c.mine);
    if (!proof) return;
    c.proved = true;
    c.socket.send({ type: "verify", ...proof });
  }

  /** Security stop: hang up before any audio played, and say why. */
  function securityStop(c: NonNullable<typeof call.current>, reason: string) {
    c.socket.send({ type: "hangup", callId: c.id, reason: "failed" });
    end(
      `Security warning: this call could not be verified (${reason}), so it was ended before any audio played. Someone may be intercepting it.`,
    );
  }

  /** Checks the callee's proof against what this browser actually negotiated. */
  async function checkProof(c: NonNullable<typeof call.current>) {
    if (!c.proof || !c.session || c.checking || c.verified) return;
    if (c.session.state !== "connected") return;
    c.checking = true;
    const verdict = await c.session.verify(c.proof, {
      handle,
      wallet: walletPubkey,
    });
    c.checking = false;
    if (call.current !== c) return;
    if (!verdict.ok) return securityStop(c, verdict.reason);
    c.verified = true;
    clearTimeout(c.deadline);
    setVerified(true);
    setIdentity(
      `Verified: @${handle}'s device, certified by their wallet key ${
        walletPubkey.slice(0, 6)
      }…`,
    );
  }

  useEffect(() => () => finish(), []);

  function finish() {
    const c = call.current;
    call.current = null;
    clearTimeout(c?.deadline);
    c?.session?.close();
    c?.socket.close();
  }

  function end(message: string) {
    finish();
    setRemote(null);
    setPhase({ kind: "ended", message });
  }

  async function start(acceptNewKey = false) {
    setVoicemail(null);
    const pinned = readPins()[handle];
    if (pinned && pinned !== walletPubkey && !acceptNewKey) {
      return setPhase({ kind: "keychanged", pinned });
    }
    pin(handle, walletPubkey);
    setPhase({ kind: "mic" });
    let mic: MediaStream;
    let iceServers: RTCIceServer[];
    try {
      mic = await getMicrophone();
    } catch (e) {
      return setPhase({ kind: "ended", message: microphoneError(e) });
    }
    try {
      iceServers = await fetchIceServers();
    } catch {
      mic.getTracks().forEach((t) => t.stop());
      return setPhase({
        kind: "ended",
        message:
          "Could not prepare the connection. Check your network and try again.",
      });
    }
    // Signed in with a handle: this browser's device identity, when it can
    // be had without a prompt (a wallet account certifies it on /me).
    const mine = me
      ? await import("../lib/client/device_identity.ts").then((m) =>
        m.loadDeviceIdentity(me.handle, me.wallet, false)
      ).catch(() => null)
      : null;
    const dtls = mine?.dtls ??
      await persistentDtlsCert().catch(() => undefined);
    setVerified(false);
    setIdentity("");
    const id = crypto.randomUUID();
    const onMessage = async (m: ServerMessage) => {
      const c = call.current;
      if (!c || ("callId" in m && m.callId !== c.id)) return;
      switch (m.type) {
        case "welcome":
          if (!c.token) socket.send({ type: "ring", callId: id, to: handle });
          break;
        case "ringing":
          c.token = m.resumeToken;
          setPhase({ kind: "ringing", devices: m.devices });
          c.session = new CallSession({
            role: "caller",
            callId: id,
            send: (x) => socket.send(x as never),
            iceServers,
            iceTransportPolicy: hideIp ? "relay" : "all",
            certificate: dtls,
            mic,
            onState: (s) => {
              setMedia(s);
              if (s === "connected") {
                setPhase((p) =>
                  p.kind === "connected"
                    ? p
                    : { kind: "connected", since: Date.now() }
                );
                reportPath(c);
                checkProof(c);
                c.deadline ??= setTimeout(() => {
                  if (call.current === c && !c.verified) {
                    securityStop(c, "the device did not prove its identity");
                  }
                }, VERIFY_WITHIN_MS);
              } else if (s === "failed") {
                end(c.session?.failure || "The connection failed.");
              }
            },
            onRemoteStream: setRemote,
          });
          await c.session.prepareOffer();
          break;
        case "accepted":
          setPhase({ kind: "connecting" });
          c.session?.sendOffer();
          break;
        case "ended":
          mic.getTracks().forEach((t) => t.stop());
          if (VOICEMAIL_AFTER.has(m.reason)) {
            const token = m.resumeToken ?? c.token;
            setVoicemail(token ? { callId: id, token } : null);
            // Loaded only now: the recorder and sealing code stay off the page until needed.
            import("../components/VoicemailRecorder.tsx").then((mod) =>
              setRecorder(() => mod.VoicemailRecorder)
            ).catch(() => {});
          }
          end((ENDED[m.reason] ?? (() => "The call ended."))(handle));
          break;
        case "hangup":
          end(
            m.reason === "normal"
              ? `@${handle} hung up.`
              : "The call ended: the connection was lost.",
          );
          break;
        case "resumed":
          if (m.state === "ended") end("The call ended.");
          break;
        case "error":
          mic.getTracks().forEach((t) => t.stop());
          end(
            m.code === "unknown_handle"
              ? `No one has the handle @${handle}.`
              : m.message,
          );
          break;
        case "verify":
          c.proof = m;
          await checkProof(c);
          break;
        default:
          await c.session?.handle(m);
          if (m.type === "answer" && c.mine && !c.proved) await proveMine(c);
      }
    };
    const socket = new SignalSocket({
      hello: { type: "hello", role: "caller", callerToken: callerToken() },
      onMessage: (m) => {
        onMessage(m).catch(() =>
          end("Something went wrong setting up the call.")
        );
      },
      onState: (s, detail) => {
        setSignal(s);
        if (s === "closed" && detail && call.current) {
          end(
            `The connection to Reach was refused (${
              detail.reason || detail.code
            }).`,
          );
        }
      },
      onReconnect: () => {
        const c = call.current;
        if (c?.token) {
          socket.send({ type: "resume", callId: c.id, token: c.token });
        }
      },
    });
    call.current = { id, socket, session: null, token: "", mine };
  }

  async function reportPath(c: NonNullable<typeof call.current>) {
    // The call log records whether media went through TURN; nothing else.
    for (let i = 0; i < 10 && c.session; i++) {
      const d = await c.session.details();
      if (d?.localCandidateType) {
        c.socket.send({ type: "report", callId: c.id, relayed: d.relayed });
        return;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  function hangup() {
    const c = call.current;
    if (!c) return;
    c.socket.send(
      phase.kind === "ringing"
        ? { type: "cancel", callId: c.id }
        : { type: "hangup", callId: c.id, reason: "normal" },
    );
    end(phase.kind === "ringing" ? "Call cancelled." : "You hung up.");
  }

  const busy = phase.kind !== "idle" && phase.kind !== "ended" &&
    phase.kind !== "keychanged";
  if (phase.kind === "keychanged") {
    return (
      <div class="call key-warning" role="alert">
        <p>
          <strong>Warning: @{handle}'s key has changed</strong>{" "}
          since you last called from this browser. That happens when someone
          moves to a new wallet, and also when someone else is pretending to be
          @{handle}. Compare the safety number on this page with them (in person
          or on another channel) before you trust this call.
        </p>
        <div class="actions">
          <button
            type="button"
            class="button danger"
            onClick={() => start(true)}
          >
            Accept the new key and call
          </button>
          <button
            type="button"
            class="button"
            onClick={() => setPhase({ kind: "idle" })}
          >
            Cancel
          </button>
        </div>
      </div>
    );
  }
  return (
    <div class="call">
      {!busy && (
        <>
          <button
            type="button"
            class="button call-button"
            disabled={!hydrated}
            onClick={() => start()}
          >
            Call @{handle}
          </button>
          <label class="check">
            <input
              type="checkbox"
              checked={hideIp}
              disabled={!hydrated}
              onChange={(e) =>
                setHideIp((e.target as HTMLInputElement).checked)}
            />{" "}
            Hide my IP address (relay the call)
          </label>
          {!online && phase.kind === "idle" && (
            <p class="hint">@{handle} looks offline; you can still try.</p>
          )}
        </>
      )}
      <p class="status" role="status" aria-live="polite">
        {phase.kind === "mic" && "Asking for your microphone…"}
        {phase.kind === "ringing" && `Ringing @${handle}…`}
        {phase.kind === "connecting" && "Answered. Connecting…"}
        {phase.kind === "ended" && phase.message}
        {busy && signal === "reconnecting" && " (reconnecting to Reach…)"}
      </p>
      {(phase.kind === "ringing" || phase.kind === "connecting" ||
        phase.kind === "mic") && (
        <button type="button" class="button danger" onClick={hangup}>
          Cancel
        </button>
      )}
      {phase.kind === "ended" && voicemail && Recorder && (
        <Recorder
          key={voicemail.callId}
          handle={handle}
          callId={voicemail.callId}
          callToken={voicemail.token}
          maxSeconds={voicemailSeconds}
        />
      )}
      {phase.kind === "connected" && call.current?.session && (
        <InCall
          session={call.current.session}
          remote={remote}
          startedAt={phase.since}
          peerLabel={`@${handle}`}
          reconnecting={media === "reconnecting"}
          verified={verified}
          identity={identity || "Checking who answered…"}
          onHangup={hangup}
        />
      )}
    </div>
  );
}
