import { useState } from "preact/hooks";
import { callApi } from "../lib/client/api.ts";
import { useHydrated } from "../lib/client/hydrated.ts";

export default function SignOut() {
  const hydrated = useHydrated();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  async function run() {
    setBusy(true);
    const res = await callApi("/api/auth/logout");
    if (res.ok) {
      // Signed out, this browser calls anonymously: it forgets its device
      // certificate and handle attestation.
      await import("../lib/client/caller_identity.ts")
        .then((m) => m.forgetCallerIdentity())
        .catch(() => {});
      location.assign("/");
      return;
    }
    setBusy(false);
    setError(res.message);
  }
  return (
    <span>
      <button
        type="button"
        class="button"
        disabled={busy || !hydrated}
        onClick={run}
      >
        {busy ? "Signing out…" : "Sign out"}
      </button>
      {error && <span class="error" role="alert">{error}</span>}
    </span>
  );
}
