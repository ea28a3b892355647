import { useEffect, useRef } from "preact/hooks";
import { type IncomingCall, ringLine } from "../lib/client/call/incoming.ts";

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

/** Ringtone and title while something rings. */
export function useRinging(rings: number): void {
  const stop = useRef<(() => void) | null>(null);
  useEffect(() => {
    if (rings && !stop.current) {
      stop.current = ringtone();
    } else if (!rings && stop.current) {
      stop.current();
      stop.current = null;
    }
    document.title = rings ? "Incoming call · Reach" : "Your page · Reach";
  }, [rings]);
}

/** A notification for a ring while the page is hidden. */
export function notifyRing(call: IncomingCall, handle: string): void {
  if (
    document.hidden && "Notification" in globalThis &&
    Notification.permission === "granted"
  ) {
    // The same words as the page: a handle only when it was verified.
    new Notification("Incoming call", {
      body: `${ringLine(call.caller)}, to @${handle}`,
      tag: call.id,
    });
  }
}

/** One ringing call: who calls (as far as it was checked), Answer, Decline. */
export function RingPanel({ call }: { call: IncomingCall }) {
  return (
    <div
      class={`ring panel caller-${call.caller.kind}`}
      role="alertdialog"
      aria-label="Incoming call"
    >
      <p>
        <strong>Incoming call</strong>
      </p>
      <p class="caller">{ringLine(call.caller)}</p>
      <div class="actions">
        <button
          type="button"
          class="button primary"
          onClick={() => call.answer()}
        >
          Answer
        </button>
        <button
          type="button"
          class="button danger"
          onClick={() => call.decline()}
        >
          Decline
        </button>
      </div>
    </div>
  );
}
