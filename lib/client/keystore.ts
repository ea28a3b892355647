/**
 * This browser's key store: one IndexedDB object store ("reach" / "keys")
 * holding CryptoKeys by name. Keys made non-extractable stay that way when
 * stored: the page can use them, never read them out.
 */
const DB_NAME = "reach";
const STORE = "keys";

function openDb(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function run<T>(
  mode: IDBTransactionMode,
  fn: (store: IDBObjectStore) => IDBRequest,
): Promise<T> {
  const db = await openDb();
  try {
    return await new Promise<T>((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = fn(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req.result as T);
      tx.onerror = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

export function keystoreGet<T>(id: string): Promise<T | undefined> {
  return run<T | undefined>("readonly", (s) => s.get(id));
}

export async function keystorePut(id: string, value: unknown): Promise<void> {
  await run("readwrite", (s) => s.put(value, id));
}
