/**
 * This browser's voicemail inbox key (X25519): made once, private key
 * non-extractable in IndexedDB, public key registered on the owner's handle
 * so callers can seal voicemails to it.
 */
import { generateInboxKeyPair } from "../voicemail/envelope.ts";
import { callApi } from "./api.ts";
import { keystoreGet, keystorePut } from "./keystore.ts";

const ID = "inbox-key";

export interface StoredInboxKey {
  keyId: string;
  publicKey: string;
  privateKey: CryptoKey;
  createdAt: number;
}

export async function loadInboxKey(): Promise<StoredInboxKey | undefined> {
  return await keystoreGet<StoredInboxKey>(ID);
}

/** Makes the key if needed and (re-)registers it; returns an error message or "". */
export async function ensureInboxKey(): Promise<string> {
  let key = await loadInboxKey();
  if (!key) {
    key = { ...(await generateInboxKeyPair()), createdAt: Date.now() };
    await keystorePut(ID, key);
  }
  const res = await callApi("/api/me/inbox-keys", {
    body: { keyId: key.keyId, publicKey: key.publicKey },
  });
  return res.ok ? "" : res.message;
}
