/**
 * Opaque sealed-identity blocks of the right shape, for tests of what the
 * server does with `ring.sealed` (it can only check shape and size and relay
 * it). Random bytes: nothing in them can be opened.
 */
import type { SealedBox } from "@/signaling/protocol.ts";

const b64 = (n: number) => crypto.getRandomValues(new Uint8Array(n)).toBase64();

/** A block for `callId` and `handle` with `recipients` entries and `ctBytes` of ciphertext. */
export function fakeSealed(
  callId: string,
  handle: string,
  recipients = 1,
  ctBytes = 900,
): SealedBox {
  return {
    v: 1,
    callId,
    handle,
    iv: b64(12),
    ct: b64(ctBytes),
    recipients: Array.from({ length: recipients }, () => ({
      keyId: crypto.randomUUID(),
      epk: b64(32),
      iv: b64(12),
      wrapped: b64(48),
    })),
  };
}
