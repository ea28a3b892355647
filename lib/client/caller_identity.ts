/**
 * This browser's identity as a caller (sealed sender, issue 13): the device
 * certificate and key it holds for the account signed in here, and the
 * server's handle attestation for that account. Both are fetched or made on
 * /me, never when a call is placed: a request then would tell the server who
 * is about to call. The /@handle page only reads them, without a prompt; a
 * browser with neither calls anonymously. Signing out forgets both.
 */
import { parseAttestation } from "../identity/handle_attestation.ts";
import {
  type DeviceSigner,
  forgetDeviceCert,
  storedDeviceSigner,
} from "./device_identity.ts";
import { keystoreGet, keystorePut } from "./keystore.ts";

const ATTESTATION = "attestation";
const DAY_MS = 86_400_000;
/** An attestation with less than this left is fetched again on /me. */
export const ATTESTATION_REFRESH_MS = 7 * DAY_MS;

export interface SignedText {
  text: string;
  sig: string;
}

/** What a sealed ring needs to say who calls (lib/identity/sealed_ring.ts). */
export interface CallerIdentity {
  /** The handle it names (shown to the caller: "Calling as @alice"). */
  handle: string;
  identity: DeviceSigner;
  attestation: SignedText;
}

/** `a` attests `handle` for `wallet` for `ms` more at least. */
function holds(
  a: SignedText | null | undefined,
  handle: string,
  wallet: string,
  ms: number,
): boolean {
  const p = a && typeof a.text === "string" ? parseAttestation(a.text) : null;
  return !!p && p.handle === handle && p.wallet === wallet &&
    Date.parse(p.expires) > Date.now() + ms;
}

/** The caller identity this browser holds, or null: it calls anonymously. */
export async function loadCallerIdentity(): Promise<CallerIdentity | null> {
  const identity = await storedDeviceSigner();
  if (!identity) return null;
  const a = await keystoreGet<SignedText | null>(ATTESTATION);
  if (!holds(a, identity.handle, identity.wallet, 60_000)) return null;
  return {
    handle: identity.handle,
    identity,
    attestation: { text: a!.text, sig: a!.sig },
  };
}

/**
 * On /me, for the signed-in owner: a current attestation of `handle` for
 * `wallet` (GET /api/me/attestation when there is none or it has less than
 * a week left). True when this browser holds one.
 */
export async function ensureAttestation(
  handle: string,
  wallet: string,
  f: (url: string, init?: RequestInit) => Promise<Response> = fetch,
): Promise<boolean> {
  const held = await keystoreGet<SignedText | null>(ATTESTATION);
  if (holds(held, handle, wallet, ATTESTATION_REFRESH_MS)) return true;
  const fresh = await f("/api/me/attestation", { credentials: "same-origin" })
    .then((r) => r.ok ? r.json() : null)
    .catch(() => null) as Partial<SignedText> | null;
  if (
    fresh && typeof fresh.text === "string" && typeof fresh.sig === "string" &&
    holds({ text: fresh.text, sig: fresh.sig }, handle, wallet, 0)
  ) {
    await keystorePut(ATTESTATION, { text: fresh.text, sig: fresh.sig });
    return true;
  }
  return holds(held, handle, wallet, 60_000);
}

/** Signing out: this browser's calls are anonymous from now on. */
export async function forgetCallerIdentity(): Promise<void> {
  await Promise.all([forgetDeviceCert(), keystorePut(ATTESTATION, null)]);
}
