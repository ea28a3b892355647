/** The SIWS round trip in the browser: ask for a nonce, sign it, verify. */
import { base58 } from "@scure/base";
import { formatSiwsMessage } from "../identity/siws_message.ts";
import type { NonceOffer } from "../identity/auth.ts";
import { callApi } from "./api.ts";
import type { Signer } from "./browser_key.ts";

export type SignInOutcome =
  | { ok: true; handle: string | null }
  | { ok: false; message: string };

export async function signInWith(
  getSigner: () => Promise<Signer>,
  onStep: (step: string) => void,
): Promise<SignInOutcome> {
  onStep("Preparing your key…");
  let signer: Signer;
  try {
    signer = await getSigner();
  } catch (e) {
    return { ok: false, message: describe(e, "Could not use that key.") };
  }
  onStep("Asking Reach for a sign-in request…");
  const offer = await callApi<NonceOffer>("/api/auth/nonce");
  if (!offer.ok) return { ok: false, message: offer.message };
  const address = base58.encode(signer.publicKey);
  const message = formatSiwsMessage({ ...offer.data, address });
  onStep("Signing the sign-in message…");
  let signature: Uint8Array;
  try {
    signature = await signer.sign(new TextEncoder().encode(message));
  } catch (e) {
    return { ok: false, message: describe(e, "Signing was cancelled.") };
  }
  onStep("Checking the signature…");
  const verified = await callApi<{ handle: string | null }>(
    "/api/auth/verify",
    {
      body: {
        message,
        signature: base58.encode(signature),
        publicKey: address,
      },
    },
  );
  if (!verified.ok) return { ok: false, message: verified.message };
  return { ok: true, handle: verified.data.handle };
}

function describe(e: unknown, fallback: string): string {
  const m = e instanceof Error ? e.message : "";
  return m ? `${fallback} (${m})` : fallback;
}
