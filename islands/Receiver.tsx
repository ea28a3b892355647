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
import { ensureInboxKey } from "../lib/client/inbox_key.ts";
import {
  type DeviceIdentity,
  loadDeviceIdentity,
} from "../lib/client/device_identity.ts";
import type { VerifyInput } from "../lib/identity/device_cert.ts";
import { SignalSocket, type SocketState } from "../lib/client/signal.ts";
import type { ServerMessage } from "../signaling/protocol.ts";

const RECEIVE_KEY = "reach.receive";
const DEVICE_KEY = "reach.deviceId";
const WHEN_BUSY_KEY = "reach.ringWhenBusy";
const HIDE_IP_KEY = "reach.hideIp";

interface Ring {
  callId: string;
  from: string | null;
}

interface Active {
  callId: string;
  from: string | null;
  session: CallSession;
  token: string;
  since: number | null;
  /** Whether this device's identity proof went out for this call. */
  proved?: boolean;
  /** The caller's proof, if a signed-in caller sent one. */
  callerProof?: VerifyInput;
  checked?: boolean;
}

/** One device per tab: two open tabs are two sockets, each its own device. */
function deviceId(): string {
  let id = sessionStorage.getItem(DEVICE_KEY);
  if (!id) {
    id = crypto.randomUUID();
    sessionStorage.setItem(DEVICE_KEY, id);
  }
  return id;
}

/** A soft two-tone ring made with WebAudio (no file to load). */
function ringtone(): () => void {
  const Ctx = globalThis.AudioContext;
  if (!Ctx) return () => {};
  const ctx = new Ctx();
  const gain = ctx.createGain();
  gain.gain.value = 0;
  gain.connect(ctx.destination);
  const osc = ctx.createOscillator();
  osc.frequency.value = 480;
  osc.connect(gain);
  osc.start();
  let on = false;
  const t = setInterval(() => {
    on = !on;
    gain.gain.setTargetAtTime(on ? 0.15 : 0, ctx.currentTime, 0.02);
    osc.frequency.value = on ? 480 : 440;
  }, 700);
  return () => {
    clearInterval(t);
    ctx.close().catch(() => {});
  };
}

const label = (from: string | null) =>
  from ? `@${from}` : "an anonymous caller";

export default function Receiver(
  { handle, wallet }: { handle: string; wallet: string },
) {
  const hydrated = useHydrated();
  const [receiving, setReceiving] = useState(false);
  const [ringWhenBusy, setRingWhenBusy] = useState(false);
  const [hideIp, setHideIp] = useState(false);
  const [state, setState] = useState<SocketState | "off">("off");
  const [refused, setRefused] = useState("");
  const [rings, setRings] = useState<Ring[]>([]);
  const [active, setActive] = useState<Active | null>(null);
  const [remote, setRemote] = useState<MediaStream | null>(null);
  const [media, setMedia] = useState<MediaState>("idle");
  const [note, setNote] = useState("");
  const [callerIdentity, setCallerIdentity] = useState("");
  const socket = useRef<SignalSocket | null>(null);
  const identity = useRef<DeviceIdentity | null>(null);
  const activeRef = useRef<Active | null>(null);
  const stopRing = useRef<(() => void) | null>(null);

  useEffect(() => {
    setReceiving(localStorage.getItem(RECEIVE_KEY) === "1");
    setRingWhenBusy(localStorage.getItem(WHEN_BUSY_KEY) === "1");
    setHideIp(localStorage.getItem(HIDE_IP_KEY) === "1");
  }, []);

  useEffect(() => {
    activeRef.current = active;
  }, [active]);

  // Ringtone and title while something rings; a notification when hidden.
  useEffect(() => {
    if (rings.length && !stopRing.current) {
      stopRing.current = ringtone();
    } else if (!rings.length && stopRing.current) {
      stopRing.current();
      stopRing.current = null;
    }
    document.title = rings.length
      ? "Incoming call · Reach"
      : "Your page · Reach";
  }, [rings.length]);

  useEffect(() => {
    if (!receiving) {
      setState("off");
      return;
    }
    // This browser can also open voicemail sealed to its own inbox key.
    // Verified calls: this device's key, certified by the owner's wallet.
    loadDeviceIdentity(handle, wallet, true).then((id) => {
      identity.current = id;
      if (!id) {
        setNote(
          "This browser could not get your wallet's signature, so callers will not be able to verify your calls.",
        );
      }
    }).catch(() => {});
    ensureInboxKey().then((err) => err && setNote(`Voicemail: ${err}`)).catch(
      () => setNote("Voicemail could not be set up in this browser."),
    );
    const s = new SignalSocket({
      hello: {
        type: "hello",
        role: "device",
        deviceId: deviceId(),
        whenBusy: ringWhenBusy ? "ring" : "busy",
      },
      onMessage: (m) => {
        onMessage(m).catch(() =>
          setNote("Something went wrong with that call.")
        );
      },
      onState: (st, detail) => {
        setState(st);
        if (st === "closed" && detail) {
          setRefused(detail.reason || `closed (${detail.code})`);
        }
      },
      onReconnect: () => {
        const a = activeRef.current;
        if (a) s.send({ type: "resume", callId: a.callId, token: a.token });
      },
    });
    socket.current = s;
    return () => {
      s.close();
      socket.current = null;
    };
  }, [receiving, ringWhenBusy]);

  function dropRing(callId: string) {
    setRings((r) => r.filter((x) => x.callId !== callId));
  }

  function endActive(message: string) {
    const a = activeRef.current;
    a?.session.close();
    activeRef.current = null;
    setActive(null);
    setRemote(null);
    setNote(message);
  }

  async function onMessage(m: ServerMessage) {
    const a = activeRef.current;
    switch (m.type) {
      case "incoming":
        setNote("");
        setRings((r) => [...r, { callId: m.callId, from: m.from }]);
        if (
          document.hidden && "Notification" in globalThis &&
          Notification.permission === "granted"
        ) {
          new Notification("Incoming call", {
            body: `${label(m.from)} is calling @${handle}`,
            tag: m.callId,
          });
        }
        break;
      case "answered-elsewhere":
        dropRing(m.callId);
        setNote("Answered on another device.");
        break;
      case "ended":
        dropRing(m.callId);
        if (m.reason === "missed") setNote("Missed call.");
        if (m.reason === "cancelled") setNote("The caller hung up.");
        break;
      case "hangup":
        if (a?.callId === m.callId) {
          endActive(
            m.reason === "normal"
              ? "The caller hung up."
              : "The call ended: the connection was lost.",
          );
        }
        break;
      case "connected-call":
        if (a?.callId === m.callId) a.token = m.resumeToken;
        break;
      case "resumed":
        if (a?.callId === m.callId && m.state === "ended") {
          endActive("The call ended.");
        }
        break;
      case "error":
        if (a?.callId === m.callId) endActive(m.message);
        else if (m.callId) dropRing(m.callId);
        break;
      case "verify":
        if (a?.callId === m.callId) {
          a.callerProof = m;
          await checkCaller(a);
        }
        break;
      default:
        if (a && "callId" in m && m.callId === a.callId) {
          await a.session.handle(m);
          if (m.type === "offer" && !a.proved) await prove(a);
        }
    }
  }

  /**
   * Who is calling: anonymous callers are unverified; a caller signed in with
   * a handle proves its DTLS key is certified by that handle's wallet key.
   */
  async function checkCaller(a: Active) {
    if (!a.from) return setCallerIdentity("Unverified caller (anonymous)");
    if (!a.callerProof) {
      return setCallerIdentity(
        `Unverified caller: @${a.from} has not proved it yet`,
      );
    }
    if (a.checked || a.session.state !== "connected") return;
    a.checked = true;
    const who = await fetch(`/handles/${a.from}`).then((r) =>
      r.ok ? r.json() : null
    )
      .catch(() => null) as { walletPubkey?: string } | null;
    const verdict = await a.session.verify(a.callerProof, {
      handle: a.from,
      wallet: who?.walletPubkey ?? "unknown",
    });
    if (activeRef.current?.callId !== a.callId) return;
    if (verdict.ok) return setCallerIdentity(`Verified caller @${a.from}`);
    socket.current?.send({
      type: "hangup",
      callId: a.callId,
      reason: "failed",
    });
    endActive(
      `Security warning: the call from @${a.from} could not be verified (${verdict.reason}) and was ended. Someone may be intercepting it.`,
    );
  }

  /** Signs "I answered with this fingerprint, and saw yours as this" for the caller. */
  async function prove(a: Active) {
    if (!identity.current) return;
    const proof = await a.session.proof(identity.current);
    if (!proof) return;
    a.proved = true;
    socket.current?.send({ type: "verify", ...proof });
  }

  async function answer(ring: Ring) {
    const s = socket.current;
    if (!s) return;
    dropRing(ring.callId);
    let mic: MediaStream;
    let iceServers: RTCIceServer[];
    try {
      mic = await getMicrophone();
      iceServers = await fetchIceServers();
    } catch (e) {
      s.send({ type: "decline", callId: ring.callId });
      setNote(microphoneError(e));
      return;
    }
    const session = new CallSession({
      role: "callee",
      callId: ring.callId,
      send: (x) => s.send(x as never),
      iceServers,
      iceTransportPolicy: hideIp ? "relay" : "all",
      certificate: identity.current?.dtls,
      mic,
      onState: (st) => {
        setMedia(st);
        const cur = activeRef.current;
        if (st === "connected" && cur && !cur.since) {
          const next = { ...cur, since: Date.now() };
          activeRef.current = next;
          setActive(next);
          checkCaller(next);
        } else if (st === "failed") {
          endActive(
            activeRef.current?.session.failure || "The connection failed.",
          );
        }
      },
      onRemoteStream: setRemote,
    });
    setCallerIdentity("");
    const a: Active = {
      callId: ring.callId,
      from: ring.from,
      session,
      token: "",
      since: null,
    };
    activeRef.current = a;
    setActive(a);
    s.send({ type: "accept", callId: ring.callId });
  }

  function decline(ring: Ring) {
    socket.current?.send({ type: "decline", callId: ring.callId });
    dropRing(ring.callId);
  }

  function hangup() {
    const a = activeRef.current;
    if (!a) return;
    socket.current?.send({
      type: "hangup",
      callId: a.callId,
      reason: "normal",
    });
    endActive("You hung up.");
  }

  function toggle(on: boolean) {
    localStorage.setItem(RECEIVE_KEY, on ? "1" : "0");
    setRefused("");
    setReceiving(on);
    if (
      on && "Notification" in globalThis &&
      Notification.permission === "default"
    ) {
      Notification.requestPermission().catch(() => {});
    }
  }

  return (
    <div class="receiver">
      <label class="switch">
        <input
          type="checkbox"
          role="switch"
          checked={receiving}
          disabled={!hydrated}
          onChange={(e) => toggle((e.target as HTMLInputElement).checked)}
        />{" "}
        Receive calls in this browser
      </label>
      <label class="check">
        <input
          type="checkbox"
          checked={ringWhenBusy}
          disabled={!hydrated}
          onChange={(e) => {
            const on = (e.target as HTMLInputElement).checked;
            localStorage.setItem(WHEN_BUSY_KEY, on ? "1" : "0");
            setRingWhenBusy(on);
          }}
        />{" "}
        Ring me even while I am on a call (otherwise callers hear "busy")
      </label>
      <label class="check">
        <input
          type="checkbox"
          checked={hideIp}
          disabled={!hydrated}
          onChange={(e) => {
            const on = (e.target as HTMLInputElement).checked;
            localStorage.setItem(HIDE_IP_KEY, on ? "1" : "0");
            setHideIp(on);
          }}
        />{" "}
        Hide my IP address from callers (relay my calls through TURN)
      </label>
      <p class="status receiver-state" role="status" aria-live="polite">
        {state === "off" && "Not receiving calls in this browser."}
        {state === "connecting" && "Connecting…"}
        {state === "open" && `Receiving calls for @${handle}.`}
        {state === "reconnecting" && "Connection lost; reconnecting…"}
        {state === "closed" && refused &&
          `Reach refused this device: ${refused}`}
      </p>
      {rings.map((r) => (
        <div
          class="ring panel"
          role="alertdialog"
          aria-label="Incoming call"
          key={r.callId}
        >
          <p>
            <strong>Incoming call</strong> from {label(r.from)}
          </p>
          <div class="actions">
            <button
              type="button"
              class="button primary"
              onClick={() => answer(r)}
            >
              Answer
            </button>
            <button
              type="button"
              class="button danger"
              onClick={() => decline(r)}
            >
              Decline
            </button>
          </div>
        </div>
      ))}
      {active && !active.since && <p class="status">Connecting…</p>}
      {active?.since && (
        <InCall
          session={active.session}
          remote={remote}
          startedAt={active.since}
          peerLabel={label(active.from)}
          reconnecting={media === "reconnecting"}
          identity={callerIdentity || undefined}
          onHangup={hangup}
        />
      )}
      {note && <p class="note">{note}</p>}
    </div>
  );
}
