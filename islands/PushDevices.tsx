import { useEffect, useRef, useState } from "preact/hooks";
import { Check } from "../components/Check.tsx";
import { useHydrated } from "../lib/client/hydrated.ts";
import {
  browserPushDeps,
  type PushDevice,
  type PushState,
  RingAnywhere,
} from "../lib/client/push.ts";

const when = (ms: number) =>
  new Date(ms).toLocaleString(undefined, {
    dateStyle: "medium",
    timeStyle: "short",
  });

/** The /me page's "Ring this device even when Reach is closed": a view of RingAnywhere. */
export default function PushDevices() {
  const hydrated = useHydrated();
  const ring = useRef<RingAnywhere | null>(null);
  const [state, setState] = useState<PushState>({ kind: "loading" });
  const [name, setName] = useState("");
  const [, render] = useState(0);

  useEffect(() => {
    const r = new RingAnywhere(browserPushDeps());
    ring.current = r;
    setName(r.name);
    const stop = r.listen((s) => {
      setState(s);
      render((n) => n + 1);
    });
    r.init();
    return stop;
  }, []);

  const r = ring.current;
  const busy = state.kind === "busy" || state.kind === "loading";
  const on = state.kind === "on";
  const devices: PushDevice[] = r?.devices ?? [];
  const mine = r?.deviceId;

  return (
    <div class="push-devices">
      <Check
        class="switch"
        role="switch"
        checked={on}
        disabled={!hydrated || busy || state.kind === "unsupported"}
        onChange={(v) => v ? r?.enable(name) : r?.disable()}
      >
        Ring this device even when Reach is closed
      </Check>
      <form
        class="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (on) r?.rename(name);
          else r?.enable(name);
        }}
      >
        <label for="push-device-name">Name of this device</label>
        <input
          id="push-device-name"
          maxLength={64}
          value={name}
          disabled={!hydrated || busy}
          onInput={(e) => setName((e.target as HTMLInputElement).value)}
        />
        {on && (
          <button type="submit" class="button" disabled={busy}>
            Save name
          </button>
        )}
      </form>
      <p class="status push-state" role="status" aria-live="polite">
        {state.kind === "loading" && "Checking this browser…"}
        {state.kind === "unsupported" &&
          "This browser cannot ring for Reach while Reach is closed."}
        {state.kind === "off" &&
          "This browser rings only while a Reach tab is open."}
        {state.kind === "busy" && state.step}
        {on &&
          "This browser rings for your calls even when Reach is closed."}
      </p>
      {r?.error && <p class="error" role="alert">{r.error}</p>}
      {devices.length > 0 && (
        <ul
          class="push-list"
          aria-label="Browsers that ring when Reach is closed"
        >
          {devices.map((d) => (
            <li key={d.id}>
              <strong>{d.name ?? "Unnamed browser"}</strong>
              {d.id === mine && " (this browser)"}
              <span class="hint">
                {` added ${when(d.createdAt)}; last rung ${
                  d.lastRungAt ? when(d.lastRungAt) : "never"
                }`}
              </span>{" "}
              <button
                type="button"
                class="button"
                aria-label={`Remove ${d.name ?? "unnamed browser"}`}
                disabled={!hydrated || busy}
                onClick={() => r?.remove(d.id)}
              >
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
