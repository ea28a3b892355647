/**
 * The browser key: an Ed25519 key pair made with WebCrypto for people without
 * a wallet. The private key is non-extractable and lives in IndexedDB, so no
 * script (ours included) can read it out; it can only sign.
 */

import { keystoreGet, keystorePut } from "./keystore.ts";

const KEY_ID = "browser-key";

export interface Signer {
  /** Raw 32-byte Ed25519 public key. */
  publicKey: Uint8Array;
  sign(data: Uint8Array): Promise<Uint8Array>;
}

export function hasWebCryptoEd25519(): boolean {
  return typeof crypto !== "undefined" && !!crypto.subtle &&
    typeof indexedDB !== "undefined";
}

export async function loadOrCreateBrowserKey(): Promise<Signer> {
  let pair = await keystoreGet<CryptoKeyPair>(KEY_ID);
  if (!pair) {
    pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, [
      "sign",
      "verify",
    ]) as CryptoKeyPair;
    await keystorePut(KEY_ID, pair);
  }
  const { publicKey, privateKey } = pair;
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", publicKey));
  return {
    publicKey: raw,
    sign: async (data) =>
      new Uint8Array(
        await crypto.subtle.sign(
          { name: "Ed25519" },
          privateKey,
          data as BufferSource,
        ),
      ),
  };
}
