import { useState } from "preact/hooks";
import { callApi } from "../lib/client/api.ts";
import { useHydrated } from "../lib/client/hydrated.ts";
import { checkHandle, HANDLE_MAX } from "../lib/identity/handles.ts";

export default function ClaimHandle() {
  const hydrated = useHydrated();
  const [value, setValue] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const check = value ? checkHandle(value) : null;

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
          aria-describedby="claim-help"
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
      <button type="submit" class="button primary" disabled={busy || !hydrated}>
        {busy ? "Claiming…" : "Claim handle"}
      </button>
      {error && <p class="error" role="alert">{error}</p>}
    </form>
  );
}
