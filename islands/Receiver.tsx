import { useEffect, useRef, useState } from "preact/hooks";
import { Check, HideIp } from "../components/Check.tsx";
import { LiveCall } from "../components/LiveCall.tsx";
import { notifyRing, RingPanel, useRinging } from "../components/Ringing.tsx";
import {
  answerLink,
  deviceHello,
  type IncomingCall,
  NOT_RINGING,
  watchRings,
} from "../lib/client/call/incoming.ts";
import {
  readPref,
  RECEIVE,
  RING_WHEN_BUSY,
  writePref,
} from "../lib/client/call/prefs.ts";
import { useHydrated } from "../lib/client/hydrated.ts";
import { ensureInboxKey } from "../lib/client/inbox_key.ts";
import { deviceDeps, linkedSealed, OwnerKeys } from "../lib/client/receiver.ts";
import { SignalSocket, type SocketState } from "../lib/client/signal.ts";

/**
 * The /me page's switch to receive calls here: a view of IncomingCalls.
 * `answer`: the call a push notification's Answer opened the page for
 * (/me?answer=<callId>); the page receives, and answers it when it rings.
 * On load it also makes sure this browser can speak for the owner when it
 * calls someone and can open sealed rings and voicemail (OwnerKeys and
 * deviceDeps, lib/client/receiver.ts).
 */
export default function Receiver(
  { handle, wallet, answer, attestationKey }: {
    handle: string;
    wallet: string;
    answer?: string | null;
    /** The server's handle-attestation key (base58): checks sealed callers. */
    attestationKey: string;
  },
) {
  const hydrated = useHydrated();
  const [receiving, setReceiving] = useState(false);
  const [ringWhenBusy, setRingWhenBusy] = useState(false);
  const [state, setState] = useState<SocketState | "off">("off");
  const [refused, setRefused] = useState("");
  const [calls, setCalls] = useState<IncomingCall[]>([]);
  const [note, setNote] = useState("");
  const [callerReady, setCallerReady] = useState<boolean | null>(null);
  const [, render] = useState(0);
  const [keys] = useState(() => new OwnerKeys(handle, wallet));
  const linked = useRef(answer ?? null);
  const sealed = useRef<unknown>(undefined);
  const rings = calls.filter((c) => c.state.kind === "ringing");
  const active = calls.find((c) => c.live && c.state.kind !== "ringing");

  /** Keys to speak for the owner; `interactive` may ask a wallet. */
  async function speakFor(interactive: boolean) {
    const { identity, callerReady } = await keys.prepare(interactive);
    setCallerReady(callerReady);
    return identity;
  }

  useEffect(() => {
    setReceiving(readPref(RECEIVE) || !!linked.current);
    setRingWhenBusy(readPref(RING_WHEN_BUSY));
    if (linked.current) sealed.current = linkedSealed(location.hash);
    // This browser opens sealed rings and voicemail with its inbox key.
    ensureInboxKey().then((err) => err && setNote(`Voicemail: ${err}`))
      .catch(() => setNote("Voicemail could not be set up in this browser."))
      .then(() => speakFor(false));
  }, []);

  useRinging(rings.length);

  useEffect(() => {
    if (!receiving) {
      setState("off");
      return;
    }
    // Verified calls: this device's key, certified by the owner's wallet.
    const ready = speakFor(true).then((id) => {
      if (!id) {
        setNote(
          "This browser could not get your wallet's signature, so callers will not be able to verify your calls.",
        );
      }
    }).catch(() => {});
    const s = new SignalSocket({
      hello: deviceHello(ringWhenBusy),
      onState: (st, detail) => {
        setState(st);
        if (st === "closed" && detail) {
          setRefused(detail.reason || `closed (${detail.code})`);
        }
      },
    });
    const deps = deviceDeps(keys, attestationKey);
    const mine: IncomingCall[] = [];
    // Answered from a notification: once, then the address forgets it.
    const link = linked.current
      ? answerLink(s, linked.current, deps.clock, () => ready, () => {
        linked.current = null;
        history.replaceState(null, "", "/me");
        setNote(NOT_RINGING);
      })
      : null;
    const stop = watchRings(s, deps, (call) => {
      mine.push(call);
      setNote("");
      if (link?.take(call)) {
        linked.current = null;
        history.replaceState(null, "", "/me");
      } else notifyRing(call, handle);
      call.listen((st) => {
        if (st.kind === "ended") {
          setCalls((l) => l.filter((x) => x !== call));
          if (st.message) setNote(st.message);
        }
        render((n) => n + 1);
      });
      setCalls((l) => [...l, call]);
    }, {
      sealedFor: (id) => id === linked.current ? sealed.current : undefined,
    });
    return () => {
      link?.stop();
      stop();
      s.close();
      // Rings on this socket can no longer be answered.
      const gone = mine.filter((c) => c.state.kind === "ringing");
      for (const c of gone) c.dispose();
      setCalls((l) => l.filter((c) => !gone.includes(c)));
    };
  }, [receiving, ringWhenBusy]);

  function toggle(on: boolean) {
    writePref(RECEIVE, on);
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
      <Check
        class="switch"
        role="switch"
        checked={receiving}
        disabled={!hydrated}
        onChange={toggle}
      >
        Receive calls in this browser
      </Check>
      <Check
        checked={ringWhenBusy}
        disabled={!hydrated}
        onChange={(on) => {
          writePref(RING_WHEN_BUSY, on);
          setRingWhenBusy(on);
        }}
      >
        Ring me even while I am on a call (otherwise callers hear "busy")
      </Check>
      <HideIp disabled={!hydrated}>
        Hide my IP address from callers (relay my calls through TURN)
      </HideIp>
      <p class="status receiver-state" role="status" aria-live="polite">
        {state === "off" && "Not receiving calls in this browser."}
        {state === "connecting" && "Connecting…"}
        {state === "open" && `Receiving calls for @${handle}.`}
        {state === "reconnecting" && "Connection lost; reconnecting…"}
        {state === "closed" && refused &&
          `Reach refused this device: ${refused}`}
      </p>
      {callerReady !== null && (
        <p class="hint caller-identity">
          {callerReady
            ? `Calls you make from this browser show you as @${handle}, verified, to the person you call only.`
            : "Calls you make from this browser are anonymous until it holds your wallet's signature (turn on receiving calls here)."}
        </p>
      )}
      {rings.map((c) => <RingPanel key={c.id} call={c} />)}
      {active?.state.kind === "connecting" && <p class="status">Connecting…</p>}
      {active && <LiveCall call={active} />}
      {note && <p class="note">{note}</p>}
    </div>
  );
}
