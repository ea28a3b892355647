/**
 * VAPID (RFC 8292) application-server keys: an ECDSA P-256 key pair that
 * signs the JWT every push request carries, so a push service knows pushes
 * to a subscription come from the server the browser subscribed with.
 *
 * Formats, as `@block65/webcrypto-web-push` and the browser's
 * `pushManager.subscribe({applicationServerKey})` expect them:
 * - public key: the 65-byte uncompressed point (0x04 || x || y), base64url
 *   without padding (87 characters);
 * - private key: the 32-byte scalar (the JWK `d`), base64url without padding
 *   (43 characters).
 *
 * Synchronous (noble), so lib/config.ts can validate and generate keys while
 * it builds the config.
 */
import { p256 } from "@noble/curves/nist.js";

export interface VapidKeys {
  publicKey: string;
  privateKey: string;
  /** `mailto:` address or `https:` URL a push service may contact. */
  subject: string;
}

/** base64url without padding. */
export function toB64u(bytes: Uint8Array): string {
  return bytes.toBase64({ alphabet: "base64url", omitPadding: true });
}

/** base64url with or without padding; null when it is not base64url. */
export function fromB64u(s: string): Uint8Array | null {
  if (typeof s !== "string" || !/^[A-Za-z0-9_-]*={0,2}$/.test(s)) return null;
  try {
    return Uint8Array.fromBase64(s, { alphabet: "base64url" });
  } catch {
    return null;
  }
}

/** Is `bytes` a 65-byte uncompressed P-256 point on the curve (not infinity)? */
export function isUncompressedP256(bytes: Uint8Array): boolean {
  if (bytes.length !== 65 || bytes[0] !== 0x04) return false;
  try {
    p256.Point.fromBytes(bytes).assertValidity();
    return true;
  } catch {
    return false;
  }
}

/** Why a VAPID public key is unusable, or null when it is fine. */
export function vapidPublicKeyProblem(s: string): string | null {
  const bytes = fromB64u(s.trim());
  if (!bytes) return "must be base64url";
  if (bytes.length !== 65 || bytes[0] !== 0x04) {
    return "must be a 65-byte uncompressed P-256 point, base64url (deno task vapid-keys makes one)";
  }
  if (!isUncompressedP256(bytes)) return "is not a point on the P-256 curve";
  return null;
}

/** Why a VAPID private key is unusable, or null when it is fine. */
export function vapidPrivateKeyProblem(s: string): string | null {
  const bytes = fromB64u(s.trim());
  if (!bytes) return "must be base64url";
  if (bytes.length !== 32) {
    return "must be a 32-byte P-256 private key, base64url (deno task vapid-keys makes one)";
  }
  if (!p256.utils.isValidSecretKey(bytes)) {
    return "is not a valid P-256 private key";
  }
  return null;
}

/** Does the private key belong to the public key? (Both already valid.) */
export function vapidKeysMatch(publicKey: string, privateKey: string): boolean {
  const pub = fromB64u(publicKey.trim())!;
  const derived = p256.getPublicKey(fromB64u(privateKey.trim())!, false);
  return derived.length === pub.length && derived.every((b, i) => b === pub[i]);
}

/** Why a VAPID subject is unusable, or null: `mailto:` with an address, or an https URL. */
export function vapidSubjectProblem(s: string): string | null {
  if (/^mailto:[^@\s]+@[^@\s]+$/.test(s)) return null;
  try {
    const u = new URL(s);
    if (u.protocol === "https:" && !u.username && !u.password) return null;
  } catch {
    // not a URL
  }
  return "must be a mailto: address or an https: URL";
}

/** A fresh key pair (not the subject). */
export function generateVapidKeys(): { publicKey: string; privateKey: string } {
  const secret = p256.utils.randomSecretKey();
  return {
    publicKey: toB64u(p256.getPublicKey(secret, false)),
    privateKey: toB64u(secret),
  };
}
