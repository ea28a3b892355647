import { useEffect, useRef, useState } from "preact/hooks";
import { Check, HideIp } from "../components/Check.tsx";
import { LiveCall } from "../components/LiveCall.tsx";
import { notifyRing, RingPanel, useRinging } from "../components/Ringing.tsx";
import { browserDeps } from "../lib/client/call/base.ts";
import {
  answerLink,
  deviceHello,
  type IncomingCall,
  type IncomingDeps,
  NOT_RINGING,
  type RingVerdict,
  watchRings,
} from "../lib/client/call/incoming.ts";
import {
  readPref,
  RECEIVE,
  RING_WHEN_BUSY,
  writePref,
} from "../lib/client/call/prefs.ts";
import { ensureAttestation } from "../lib/client/caller_identity.ts";
import {
  type DeviceIdentity,
  loadDeviceIdentity,
} from "../lib/client/device_identity.ts";
import { useHydrated } from "../lib/client/hydrated.ts";
import { ensureInboxKey, loadInboxKey } from "../lib/client/inbox_key.ts";
import { SignalSocket, type SocketState } from "../lib/client/signal.ts";
import { IceCache } from "../lib/client/rtc.ts";
import { openRing } from "../lib/identity/sealed_ring.ts";

/**
 * A push notification's Answer link carries the ring's sealed caller
 * identity in the fragment (`#sealed=<base64url of its JSON>`), which never
 * reaches the server: the replayed `incoming` has none.
 */
function linkedSealed(): unknown {
  const m = /(?:^#|&)sealed=([A-Za-z0-9_-]+)/.exec(location.hash);
  if (!m) return undefined;
  try {
    const bytes = Uint8Array.fromBase64(m[1], { alphabet: "base64url" });
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
}

/**
 * The /me page's switch to receive calls here: a view of IncomingCalls.
 * `answer`: the call a push notification's Answer opened the page for
 * (/me?answer=<callId>); the page receives, and answers it when it rings.
 * On load it also makes sure this browser can speak for the owner when it
 * calls someone (a device certificate and the server's handle attestation,
 * lib/client/caller_identity.ts) and can open sealed rings and voicemail
 * (its inbox key).
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
  const identity = useRef<DeviceIdentity | null>(null);
  const speaking = useRef<Promise<void>>(Promise.resolve());
  const linked = useRef(answer ?? null);
  const sealed = useRef<unknown>(undefined);
  const rings = calls.filter((c) => c.state.kind === "ringing");
  const active = calls.find((c) => c.live && c.state.kind !== "ringing");

  /**
   * A device certificate and an attestation; `interactive` may ask a
   * wallet. One at a time: two at once could certify two device keys.
   */
  function speakFor(interactive: boolean): Promise<DeviceIdentity | null> {
    const next = speaking.current.then(async () => {
      const id = await loadDeviceIdentity(handle, wallet, interactive)
        .catch(() => null);
      if (id) identity.current = id;
      const ok = await ensureAttestation(handle, wallet).catch(() => false);
      setCallerReady(!!identity.current && ok);
      return id;
    });
    speaking.current = next.then(() => {}, () => {});
    return next;
  }

  useEffect(() => {
    setReceiving(readPref(RECEIVE) || !!linked.current);
    setRingWhenBusy(readPref(RING_WHEN_BUSY));
    if (linked.current) sealed.current = linkedSealed();
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
    let inboxKey: ReturnType<typeof loadInboxKey> | null = null;
    const ice = new IceCache((u, i) => fetch(u, i));
    const deps: IncomingDeps = {
      ...browserDeps(() =>
        Promise.resolve({
          identity: identity.current,
          certificate: identity.current?.dtls,
        })
      ),
      iceServers: () => ice.get(),
      async openRing(box, expect): Promise<RingVerdict> {
        // Read once per session, not per ring (it only ever gets made).
        const key = await (inboxKey ??= loadInboxKey());
        if (!key) {
          inboxKey = null;
          return { ok: false, reason: "this browser has no key to open it" };
        }
        return await openRing(box, key, {
          ...expect,
          handle,
          attestationKey,
        });
      },
    };
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
