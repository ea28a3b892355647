import { useEffect, useState } from "preact/hooks";
import { callApi } from "../lib/client/api.ts";
import { type HandleStatus, handleStatus } from "../lib/client/handle_taken.ts";
import { useHydrated } from "../lib/client/hydrated.ts";
import { checkHandle, HANDLE_MAX } from "../lib/identity/handles.ts";

export default function ClaimHandle() {
  const hydrated = useHydrated();
  const [value, setValue] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const check = value ? checkHandle(value) : null;
  const wanted = check?.ok ? check.handle : "";
  const [known, setKnown] = useState<[string, HandleStatus]>(["", "unknown"]);

  // Advice while typing (debounced); it never blocks the claim.
  useEffect(() => {
    if (!wanted) return;
    let live = true;
    const timer = setTimeout(async () => {
      const status = await handleStatus(wanted);
      if (live) setKnown([wanted, status]);
    }, 300);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [wanted]);
  const availability = known[0] === wanted && known[1] !== "unknown"
    ? `@${wanted} is ${known[1]}`
    : "";

  async function submit(e: Event) {
    e.preventDefault();
    const c = checkHandle(value);
    if (!c.ok) {
      setError(c.message);
      return;
    }
    setBusy(true);
    setError("");
    const res = await callApi<{ handle: string }>("/api/handles", {
      body: { handle: c.handle },
    });
    if (res.ok) {
      location.assign("/me");
      return;
    }
    setBusy(false);
    setError(res.message);
  }

  return (
    <form class="claim" onSubmit={submit} noValidate>
      <label for="claim-handle">Choose your handle</label>
      <div class="handle-input">
        <span aria-hidden="true">@</span>
        <input
          id="claim-handle"
          name="handle"
          autoComplete="off"
          autoCapitalize="none"
          spellcheck={false}
          maxLength={HANDLE_MAX + 1}
          value={value}
          disabled={!hydrated}
          aria-invalid={check !== null && !check.ok}
          aria-describedby="claim-help claim-status"
          onInput={(e) => setValue((e.target as HTMLInputElement).value)}
        />
      </div>
      <p id="claim-help" class="hint">
        {check && !check.ok
          ? check.message
          : check?.ok
          ? `Your page will be ${location.host}/@${check.handle}`
          : "3 to 30 letters, digits or underscores."}
      </p>
      <p id="claim-status" class="status" aria-live="polite">
        {availability}
      </p>
      <button type="submit" class="button primary" disabled={busy || !hydrated}>
        {busy ? "Claiming…" : "Claim handle"}
      </button>
      {error && <p class="error" role="alert">{error}</p>}
    </form>
  );
}
