/**
 * What the browser keeps for contact discovery, in its own IndexedDB
 * database ("reach-discovery"): the public key pinned per key id, and each
 * number's OPRF output under that key, so looking again (or after the
 * directory changed) costs no evaluation and no budget. Outputs under any
 * other key are deleted when a new key is pinned.
 *
 * Where IndexedDB is missing (tests, some private modes) a memory store
 * stands in: it lasts as long as the page.
 */

export interface DiscoveryStore {
  getPin(keyId: string): Promise<string | undefined>;
  /** Pins `publicKey` for `keyId` and forgets outputs under other keys. */
  pin(keyId: string, publicKey: string): Promise<void>;
  getOutputs(
    keyId: string,
    numbers: readonly string[],
  ): Promise<Map<string, Uint8Array>>;
  putOutputs(keyId: string, outputs: Map<string, Uint8Array>): Promise<void>;
}

const id = (keyId: string, e164: string) => `${keyId} ${e164}`;

export function memoryStore(): DiscoveryStore {
  const pins = new Map<string, string>();
  const outputs = new Map<string, Uint8Array>();
  return {
    getPin: (keyId) => Promise.resolve(pins.get(keyId)),
    pin(keyId, publicKey) {
      pins.set(keyId, publicKey);
      for (const k of outputs.keys()) {
        if (!k.startsWith(`${keyId} `)) outputs.delete(k);
      }
      return Promise.resolve();
    },
    getOutputs(keyId, numbers) {
      const out = new Map<string, Uint8Array>();
      for (const n of numbers) {
        const y = outputs.get(id(keyId, n));
        if (y) out.set(n, y);
      }
      return Promise.resolve(out);
    },
    putOutputs(keyId, more) {
      for (const [n, y] of more) outputs.set(id(keyId, n), y);
      return Promise.resolve();
    },
  };
}

const DB = "reach-discovery";

function openDb(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => {
      req.result.createObjectStore("pins");
      req.result.createObjectStore("outputs");
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function tx<T>(
  store: "pins" | "outputs",
  mode: IDBTransactionMode,
  fn: (s: IDBObjectStore) => T,
): Promise<T> {
  const db = await openDb();
  try {
    return await new Promise<T>((resolve, reject) => {
      const t = db.transaction(store, mode);
      const result = fn(t.objectStore(store));
      t.oncomplete = () => resolve(result);
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error);
    });
  } finally {
    db.close();
  }
}

export function indexedDbStore(): DiscoveryStore {
  return {
    async getPin(keyId) {
      const req = await tx("pins", "readonly", (s) => s.get(keyId));
      return req.result as string | undefined;
    },
    async pin(keyId, publicKey) {
      await tx("pins", "readwrite", (s) => s.put(publicKey, keyId));
      await tx("outputs", "readwrite", (s) => {
        const cursor = s.openCursor();
        cursor.onsuccess = () => {
          const c = cursor.result;
          if (!c) return;
          if (!String(c.key).startsWith(`${keyId} `)) c.delete();
          c.continue();
        };
      });
    },
    async getOutputs(keyId, numbers) {
      const reqs = await tx(
        "outputs",
        "readonly",
        (s) => numbers.map((n) => [n, s.get(id(keyId, n))] as const),
      );
      const out = new Map<string, Uint8Array>();
      for (const [n, r] of reqs) {
        if (r.result instanceof Uint8Array) out.set(n, r.result);
      }
      return out;
    },
    async putOutputs(keyId, more) {
      await tx("outputs", "readwrite", (s) => {
        for (const [n, y] of more) s.put(y, id(keyId, n));
      });
    },
  };
}

/** IndexedDB where the browser has it, else memory. */
export function defaultStore(): DiscoveryStore {
  return typeof indexedDB === "undefined" ? memoryStore() : indexedDbStore();
}
