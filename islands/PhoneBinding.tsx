import { useEffect, useState } from "preact/hooks";
import { callApi } from "../lib/client/api.ts";
import { useHydrated } from "../lib/client/hydrated.ts";

interface View {
  masked: string;
  discoverable: boolean;
}

interface Props {
  initial: View | null;
  /** False when the server has no SMS provider: binding is refused. */
  available: boolean;
}

/** Bind a phone number (opt-in), verified by a one-time code. */
export default function PhoneBinding({ initial, available }: Props) {
  const hydrated = useHydrated();
  const [view, setView] = useState<View | null>(initial);
  const [phone, setPhone] = useState("");
  const [code, setCode] = useState("");
  const [sent, setSent] = useState(false);
  const [resendAt, setResendAt] = useState(0);
  const [now, setNow] = useState(Date.now());
  const [busy, setBusy] = useState(false);
  const [status, setStatus] = useState("");
  const [error, setError] = useState("");

  useEffect(() => {
    if (!sent) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [sent]);

  async function run<T>(
    path: string,
    init: { method?: string; body?: unknown },
    ok: (data: T) => void,
  ) {
    setBusy(true);
    setError("");
    const res = await callApi<T>(path, init);
    setBusy(false);
    if (res.ok) ok(res.data);
    else setError(res.message);
  }

  function sendCode(e?: Event) {
    e?.preventDefault();
    run<{ resendAfterSeconds: number }>(
      "/api/me/phone/start",
      { body: { phone } },
      (d) => {
        setSent(true);
        setCode("");
        setResendAt(Date.now() + d.resendAfterSeconds * 1000);
        setNow(Date.now());
        setStatus(
          "We sent a 6-digit code by text message. It works for 10 minutes.",
        );
      },
    );
  }

  function verify(e: Event) {
    e.preventDefault();
    run<{ phone: View }>(
      "/api/me/phone/verify",
      { body: { phone, code } },
      (d) => {
        setView(d.phone);
        setSent(false);
        setPhone("");
        setCode("");
        setStatus("Your number is bound.");
      },
    );
  }

  if (!available && !view) {
    return (
      <p class="hint">
        Phone binding is not available on this Reach server (no SMS provider is
        configured).
      </p>
    );
  }

  if (view) {
    return (
      <div class="phone">
        <p>
          Bound number: <strong class="masked">{view.masked}</strong>
        </p>
        <label class="switch">
          <input
            type="checkbox"
            role="switch"
            checked={view.discoverable}
            disabled={!hydrated || busy}
            onChange={(e) =>
              run<{ phone: View }>(
                "/api/me/phone",
                {
                  method: "PATCH",
                  body: {
                    discoverable: (e.target as HTMLInputElement).checked,
                  },
                },
                (d) => setView(d.phone),
              )}
          />{" "}
          Let people who have my number find me
        </label>
        <button
          type="button"
          class="button"
          disabled={!hydrated || busy}
          onClick={() =>
            run("/api/me/phone", { method: "DELETE" }, () => {
              setView(null);
              setStatus("Your number was removed.");
            })}
        >
          Remove my number
        </button>
        <p class="status" role="status" aria-live="polite">{status}</p>
        {error && <p class="error" role="alert">{error}</p>}
      </div>
    );
  }

  const wait = Math.max(0, Math.ceil((resendAt - now) / 1000));
  return (
    <div class="phone">
      <form onSubmit={sendCode} class="inline-form">
        <label for="phone-number">Mobile number, with country code</label>
        <input
          id="phone-number"
          type="tel"
          autoComplete="tel"
          placeholder="+44 7911 123456"
          value={phone}
          disabled={!hydrated || busy || sent}
          onInput={(e) => setPhone((e.target as HTMLInputElement).value)}
        />
        {!sent && (
          <button type="submit" class="button" disabled={!hydrated || busy}>
            Send code
          </button>
        )}
      </form>
      {sent && (
        <form onSubmit={verify} class="inline-form">
          <label for="phone-code">Code from the text message</label>
          <input
            id="phone-code"
            inputMode="numeric"
            autoComplete="one-time-code"
            maxLength={6}
            value={code}
            disabled={busy}
            onInput={(e) => setCode((e.target as HTMLInputElement).value)}
          />
          <button type="submit" class="button primary" disabled={busy}>
            Verify
          </button>
          <button
            type="button"
            class="button"
            disabled={busy || wait > 0}
            onClick={() => sendCode()}
          >
            {wait > 0 ? `Send again in ${wait}s` : "Send again"}
          </button>
          <button
            type="button"
            class="button"
            disabled={busy}
            onClick={() => {
              setSent(false);
              setStatus("");
            }}
          >
            Change number
          </button>
        </form>
      )}
      <p class="status" role="status" aria-live="polite">{status}</p>
      {error && <p class="error" role="alert">{error}</p>}
    </div>
  );
}
