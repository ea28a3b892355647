/** This browser's DTLS certificate, kept across calls so its fingerprint is stable. */
import { keystoreGet, keystorePut } from "./keystore.ts";

/** A DTLS certificate kept across calls (regenerated when it expires). */
export async function persistentDtlsCert(): Promise<RTCCertificate> {
  let cert = await keystoreGet<RTCCertificate>("dtls-cert");
  if (!cert || cert.expires < Date.now() + 86400_000) {
    cert = await RTCPeerConnection.generateCertificate({
      name: "ECDSA",
      namedCurve: "P-256",
    } as EcKeyGenParams);
    await keystorePut("dtls-cert", cert);
  }
  return cert;
}
