/**
 * The DTLS certificate a device that receives calls keeps across calls (its
 * fingerprint is stable). A caller makes a fresh one per call instead
 * (freshDtlsCert in rtc.ts), so nothing links two of its calls.
 */
import { keystoreGet, keystorePut } from "./keystore.ts";
import { freshDtlsCert } from "./rtc.ts";

/** A DTLS certificate kept across calls (regenerated when it expires). */
export async function persistentDtlsCert(): Promise<RTCCertificate> {
  let cert = await keystoreGet<RTCCertificate>("dtls-cert");
  if (!cert || cert.expires < Date.now() + 86400_000) {
    cert = await freshDtlsCert();
    await keystorePut("dtls-cert", cert);
  }
  return cert;
}
