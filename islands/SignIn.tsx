import { useEffect, useState } from "preact/hooks";
import { loadOrCreateBrowserKey } from "../lib/client/browser_key.ts";
import { signInWith } from "../lib/client/sign_in.ts";
import { findWallet, walletSigner } from "../lib/client/wallet.ts";

interface Props {
  /** Where to go after signing in. */
  next?: string;
}

export default function SignIn({ next = "/me" }: Props) {
  const [hasWallet, setHasWallet] = useState<boolean | null>(null);
  const [busy, setBusy] = useState(false);
  const [step, setStep] = useState("");
  const [error, setError] = useState("");

  useEffect(() => setHasWallet(findWallet() !== null), []);

  async function run(kind: "wallet" | "browser") {
    setBusy(true);
    setError("");
    const outcome = await signInWith(
      kind === "wallet"
        ? () => walletSigner(findWallet()!)
        : loadOrCreateBrowserKey,
      setStep,
    );
    if (outcome.ok) {
      // Your page: a new account claims its handle there first.
      setStep("Signed in. Opening your page…");
      location.assign(next);
      return;
    }
    setBusy(false);
    setStep("");
    setError(outcome.message);
  }

  return (
    <div class="signin" aria-busy={busy}>
      <button
        type="button"
        class="button primary"
        disabled={busy || hasWallet !== true}
        onClick={() => run("wallet")}
      >
        Sign in with a Solana wallet
      </button>
      <button
        type="button"
        class="button"
        disabled={busy || hasWallet === null}
        onClick={() => run("browser")}
      >
        Continue with a browser key
      </button>
      <p class="hint">
        {hasWallet === false
          ? "No Solana wallet found in this browser. A browser key works without one: it is made here and never leaves this browser."
          : "Your wallet signs a one-time sign-in message. No transaction, no fee."}
      </p>
      <p class="status" role="status" aria-live="polite">{step}</p>
      {error && <p class="error" role="alert">{error}</p>}
    </div>
  );
}
