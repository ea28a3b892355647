/**
 * The browser key: an Ed25519 key pair made with WebCrypto for people without
 * a wallet. The private key is non-extractable and lives in IndexedDB, so no
 * script (ours included) can read it out; it can only sign.
 */

const DB_NAME = "reach";
const STORE = "keys";
const KEY_ID = "browser-key";

export interface Signer {
  /** Raw 32-byte Ed25519 public key. */
  publicKey: Uint8Array;
  sign(data: Uint8Array): Promise<Uint8Array>;
}

function openDb(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function request<T>(
  db: IDBDatabase,
  mode: IDBTransactionMode,
  run: (store: IDBObjectStore) => IDBRequest,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const req = run(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(req.result as T);
    tx.onerror = () => reject(tx.error);
  });
}

export function hasWebCryptoEd25519(): boolean {
  return typeof crypto !== "undefined" && !!crypto.subtle &&
    typeof indexedDB !== "undefined";
}

export async function loadOrCreateBrowserKey(): Promise<Signer> {
  const db = await openDb();
  try {
    let pair = await request<CryptoKeyPair | undefined>(
      db,
      "readonly",
      (s) => s.get(KEY_ID),
    );
    if (!pair) {
      pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, [
        "sign",
        "verify",
      ]) as CryptoKeyPair;
      await request(db, "readwrite", (s) => s.put(pair, KEY_ID));
    }
    const { publicKey, privateKey } = pair;
    const raw = new Uint8Array(
      await crypto.subtle.exportKey("raw", publicKey),
    );
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
  } finally {
    db.close();
  }
}
