/**
 * Lookup hashes of phone numbers: hex HMAC-SHA-256 under a secret pepper
 * (`REACH_PHONE_PEPPERS`, newest first) over the domain-separated input
 * `"phone" || 0x00 || e164`, so the same key used for other hashed
 * identifiers (lib/crypto/hash.ts labels) never yields the same value.
 *
 * Only E.164 (`+` and 2 to 15 digits, no leading zero) is hashed: the same
 * number written two ways must not hash two ways, so callers normalise first
 * (lib/phone/normalize.ts).
 */
import { hmacHex } from "./hash.ts";

export interface Pepper {
  kid: string;
  key: Uint8Array;
}

export const PHONE_HASH_LABEL = "phone";

const E164 = /^\+[1-9][0-9]{1,14}$/;

export function isE164(s: string): boolean {
  return E164.test(s);
}

/** Hex HMAC-SHA-256 of `e164` under `pepper`; throws on a non-E.164 input. */
export function phoneHmac(pepper: Pepper, e164: string): Promise<string> {
  if (!isE164(e164)) {
    return Promise.reject(new TypeError("phoneHmac wants an E.164 number"));
  }
  return hmacHex(pepper.key, PHONE_HASH_LABEL, e164);
}
