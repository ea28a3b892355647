import { useEffect, useRef, useState } from "preact/hooks";
import { HideIp } from "../components/Check.tsx";
import { browserDeps, type CallState } from "../lib/client/call/base.ts";
import {
  browserSealing,
  callerKeys,
  OutgoingCall,
} from "../lib/client/call/outgoing.ts";
import { useHydrated } from "../lib/client/hydrated.ts";
import { openSignalSocket } from "../lib/client/signal_open.ts";

interface Props {
  handle: string;
  online: boolean;
  /** Longest voicemail the caller may record. */
  voicemailSeconds: number;
  /** The handle's wallet key as this page shows it (pinned on first call). */
  walletPubkey: string;
}

type Recorder =
  typeof import("../components/VoicemailRecorder.tsx").VoicemailRecorder;
type View = typeof import("../components/LiveCall.tsx").LiveCall;

const IDLE: CallState = { kind: "idle" };

/**
 * The /@handle page's call button: a view of an OutgoingCall. The page is
 * the same for everyone; who calls comes from this browser's own keys
 * (sealed for the callee, lib/client/caller_identity.ts), never from the
 * server.
 */
export default function Caller(
  { handle, online, voicemailSeconds, walletPubkey }: Props,
) {
  const hydrated = useHydrated();
  const call = useRef<OutgoingCall | null>(null);
  const [, render] = useState(0);
  const [Recorder, setRecorder] = useState<Recorder | null>(null);
  const [View, setView] = useState<View | null>(null);

  useEffect(() => () => call.current?.dispose(), []);

  /** The call object for the next press: the current one unless it ended. */
  function next(): OutgoingCall {
    let c = call.current;
    if (!c || c.state.kind === "ended") {
      // The socket and the in-call view load while the microphone is asked
      // for, not with the page.
      const signal = import("../lib/client/signal.ts");
      import("../components/LiveCall.tsx").then((m) =>
        setView(() => m.LiveCall)
      ).catch(() => {});
      c = new OutgoingCall(handle, walletPubkey, {
        ...browserDeps(callerKeys),
        ...browserSealing,
        // The socket opens now; the code that speaks on it is still loading.
        connect: async (hello) => {
          const socket = openSignalSocket();
          return new (await signal).SignalSocket({ hello, socket });
        },
      });
      const self = c;
      c.listen((s) => {
        // Loaded only now: the recorder and sealing code stay off the page until needed.
        if (s.kind === "ended" && self.voicemail) {
          import("../components/VoicemailRecorder.tsx").then((mod) =>
            setRecorder(() => mod.VoicemailRecorder)
          ).catch(() => {});
        }
        render((n) => n + 1);
      });
      call.current?.dispose();
      call.current = c;
    }
    return c;
  }

  /** Calls (again), or goes on past a changed-key warning. */
  function place(acceptNewKey = false) {
    next().start(acceptNewKey);
    render((n) => n + 1);
  }

  /**
   * About to press Call: what the ring needs gets ready (not the
   * microphone). Not over an ended call: its last words stay on screen.
   */
  function intent() {
    const c = call.current;
    if (!hydrated || (c && c.state.kind !== "idle")) return;
    (c ?? next()).warm();
  }

  function reset() {
    call.current?.dispose();
    call.current = null;
    render((n) => n + 1);
  }

  const c = call.current;
  const s = c?.state ?? IDLE;
  if (s.kind === "keychanged") {
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
            onClick={() => place(true)}
          >
            Accept the new key and call
          </button>
          <button type="button" class="button" onClick={reset}>
            Cancel
          </button>
        </div>
      </div>
    );
  }
  const busy = !!c?.live;
  return (
    <div class="call">
      {!busy && (
        <>
          <button
            type="button"
            class="button call-button"
            disabled={!hydrated}
            onClick={() => place()}
            onPointerEnter={intent}
            onFocus={intent}
            onTouchStart={intent}
          >
            Call @{handle}
          </button>
          <HideIp disabled={!hydrated}>
            Hide my IP address (relay the call)
          </HideIp>
          {!online && s.kind === "idle" && (
            <p class="hint">@{handle} looks offline; you can still try.</p>
          )}
        </>
      )}
      <p class="status" role="status" aria-live="polite">
        {s.kind === "microphone" && "Asking for your microphone…"}
        {s.kind === "ringing" && `Ringing @${handle}…`}
        {s.kind === "connecting" && "Answered. Connecting…"}
        {s.kind === "ended" && s.message}
        {busy && c?.socket === "reconnecting" && " (reconnecting to Reach…)"}
      </p>
      {busy && s.kind !== "microphone" && (
        <p class="hint calling-as">
          {c?.callingAs
            ? `Calling as @${c.callingAs}: only @${handle} can see who calls.`
            : "Calling anonymously."}
        </p>
      )}
      {(s.kind === "ringing" || s.kind === "connecting" ||
        s.kind === "microphone") && (
        <button
          type="button"
          class="button danger"
          onClick={() => c?.hangup()}
        >
          Cancel
        </button>
      )}
      {s.kind === "ended" && c?.voicemail && Recorder && (
        <Recorder
          key={c.voicemail.callId}
          handle={handle}
          callId={c.voicemail.callId}
          callToken={c.voicemail.token}
          maxSeconds={voicemailSeconds}
        />
      )}
      {c && View && <View call={c} />}
    </div>
  );
}
