/**
 * A call's reference for logs and the operator's CSV: a short keyed hash of
 * its id (HMAC-SHA-256 under the server key, 12 hex characters), so the two
 * can be matched with each other but a reader of either cannot use the id
 * (a raw call id was enough to hijack a live call). Synchronous, so that
 * logging stays synchronous.
 */
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";

// Until the server key is set (early start-up, some unit tests), a random
// per-process key: references are then unlinkable, never raw.
let key: Uint8Array = crypto.getRandomValues(new Uint8Array(32));

export function setCallRefKey(next: Uint8Array): void {
  key = next;
}

export function callRef(callId: string): string {
  const mac = hmac(
    sha256,
    key,
    new TextEncoder().encode(`call-ref\0${callId}`),
  );
  return mac.subarray(0, 6).toHex();
}
