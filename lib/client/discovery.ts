/**
 * "Find people by phone", in the browser (protocol: lib/phone/DISCOVERY.md).
 * Loaded only when someone searches (islands/FindByPhone.tsx imports it
 * dynamically): it brings the OPRF and the phone-number rules with it.
 *
 * 1. Normalise each number exactly as binding does (lib/phone/normalize.ts)
 *    and drop the ones binding would refuse.
 * 2. Fetch the server's key; refuse it if this browser pinned a different
 *    public key under the same key id.
 * 3. Numbers whose output this browser already has (lib/client/oprf_cache.ts)
 *    need nothing more; the others are blinded here and only the blinded
 *    elements are sent, at most 100 a request. Every answer's batch proof is
 *    verified before anything from it is used.
 * 4. Download every chunk of the directory (all of them, whatever tags are
 *    wanted, so the download says nothing about them) and open, locally, the
 *    entries whose tags the outputs give.
 *
 * No number, in any form, leaves the browser.
 */
import { normalizePhone } from "../phone/normalize.ts";
import {
  type Chunk,
  chunkOf,
  decodeChunk,
  entriesWithTag,
  openEntry,
  tagOf,
} from "../phone/directory.ts";
import {
  ELEMENT_BYTES,
  fromB64u,
  isElement,
  MODE,
  oprfInput,
  PROOF_BYTES,
  SUITE,
  toB64u,
  voprf,
} from "../phone/oprf.ts";
import { defaultStore, type DiscoveryStore } from "./oprf_cache.ts";

/** Same-origin fetch (tests pass one that reaches a test server). */
export type Fetch = (path: string, init?: RequestInit) => Promise<Response>;

export const BATCH = 100;

export interface Match {
  /** The number, in E.164. */
  phone: string;
  handle: string;
}

export interface FindResult {
  matches: Match[];
  /** What was typed that is not a number Reach can bind. */
  invalid: string[];
  /** Numbers evaluated by the server this time (each spent budget). */
  evaluated: number;
  /** Numbers whose output this browser already had. */
  cached: number;
  /** Why some numbers could not be checked (a limit, a network error). */
  problem?: string;
}

export type Stage =
  | "key"
  | "blinding"
  | "evaluating"
  | "directory"
  | "matching";

export interface FindOptions {
  fetch?: Fetch;
  store?: DiscoveryStore;
  onProgress?: (stage: Stage, done: number, total: number) => void;
}

/** A refusal: the search stops and nothing from the server is used. */
export class DiscoveryError extends Error {
  constructor(
    readonly code:
      | "bad_key"
      | "key_changed"
      | "proof_failed"
      | "bad_answer"
      | "bad_directory"
      | "failed",
    message: string,
  ) {
    super(message);
    this.name = "DiscoveryError";
  }
}

const sameOrigin: Fetch = (path, init) =>
  fetch(path, { credentials: "same-origin", ...init });

interface ServerKey {
  keyId: string;
  publicKey: Uint8Array;
}

async function errorOf(
  res: Response,
): Promise<{ error: string; message: string; keyId?: string }> {
  try {
    const b = await res.json();
    return {
      error: String(b?.error ?? `http_${res.status}`),
      message: String(b?.message ?? `The server answered ${res.status}.`),
      keyId: typeof b?.keyId === "string" ? b.keyId : undefined,
    };
  } catch {
    return {
      error: `http_${res.status}`,
      message: `The server answered ${res.status}.`,
    };
  }
}

async function fetchKey(f: Fetch, store: DiscoveryStore): Promise<ServerKey> {
  const res = await f("/api/discover/key");
  if (!res.ok) {
    throw new DiscoveryError("failed", (await errorOf(res)).message);
  }
  const k = await res.json();
  const publicKey = typeof k?.publicKey === "string"
    ? fromB64u(k.publicKey)
    : null;
  if (
    k?.suite !== SUITE || k?.mode !== MODE ||
    typeof k?.keyId !== "string" || !/^[A-Za-z0-9_-]{1,32}$/.test(k.keyId) ||
    !publicKey || !isElement(publicKey)
  ) {
    throw new DiscoveryError(
      "bad_key",
      "The server offered a discovery key this page does not understand.",
    );
  }
  const pinned = await store.getPin(k.keyId);
  if (pinned === undefined) await store.pin(k.keyId, k.publicKey);
  else if (pinned !== k.publicKey) {
    throw new DiscoveryError(
      "key_changed",
      `The server's discovery key "${k.keyId}" is not the one this browser saw before, so nothing was sent.`,
    );
  }
  return { keyId: k.keyId, publicKey };
}

type Evaluation =
  | { ok: true; outputs: Map<string, Uint8Array> }
  | { ok: false; rotated: true }
  | { ok: false; rotated: false; message: string };

/** Blinds one batch, has it evaluated, verifies the proof, unblinds. */
async function evaluateBatch(
  f: Fetch,
  key: ServerKey,
  numbers: readonly string[],
): Promise<Evaluation> {
  const inputs = numbers.map(oprfInput);
  const blinds = inputs.map((input) => voprf.blind(input));
  const res = await f("/api/me/discover/evaluate", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      keyId: key.keyId,
      blinded: blinds.map((b) => toB64u(b.blinded)),
    }),
  });
  if (!res.ok) {
    const err = await errorOf(res);
    if (err.error === "key_rotated") return { ok: false, rotated: true };
    return { ok: false, rotated: false, message: err.message };
  }
  const body = await res.json().catch(() => null);
  const evaluated = Array.isArray(body?.evaluated)
    ? body.evaluated.map((e: unknown) =>
      typeof e === "string" ? fromB64u(e) : null
    )
    : [];
  const proof = typeof body?.proof === "string" ? fromB64u(body.proof) : null;
  if (
    body?.keyId !== key.keyId || evaluated.length !== numbers.length ||
    evaluated.some((e: Uint8Array | null) =>
      !e || e.length !== ELEMENT_BYTES
    ) || !proof || proof.length !== PROOF_BYTES
  ) {
    throw new DiscoveryError(
      "bad_answer",
      "The server's answer was malformed, so nothing from it was used.",
    );
  }
  let ys: Uint8Array[];
  try {
    ys = voprf.finalizeBatch(
      inputs.map((input, i) => ({
        input,
        blind: blinds[i].blind,
        blinded: blinds[i].blinded,
        evaluated: evaluated[i]!,
      })),
      key.publicKey,
      proof,
    );
  } catch {
    throw new DiscoveryError(
      "proof_failed",
      "The server's answer did not prove it used its published key, so nothing from it was used.",
    );
  }
  return { ok: true, outputs: new Map(numbers.map((n, i) => [n, ys[i]])) };
}

async function fetchChunk(f: Fetch, index: number): Promise<Chunk> {
  const res = await f(`/api/discover/directory?chunk=${index}`);
  if (!res.ok) {
    throw new DiscoveryError("failed", (await errorOf(res)).message);
  }
  const chunk = decodeChunk(new Uint8Array(await res.arrayBuffer()));
  if (!chunk || chunk.chunk !== index) {
    throw new DiscoveryError(
      "bad_directory",
      "The directory the server sent is malformed.",
    );
  }
  return chunk;
}

/** Every chunk of the directory under `keyId`, all of one version of its layout. */
export async function fetchDirectory(
  f: Fetch,
  keyId: string,
): Promise<Chunk[] | null> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const first = await fetchChunk(f, 0);
    if (first.keyId !== keyId) return null;
    const rest = await Promise.all(
      Array.from(
        { length: (1 << first.bits) - 1 },
        (_, i) => fetchChunk(f, i + 1).catch(() => null),
      ),
    );
    const all = [first, ...rest];
    // The directory split or merged meanwhile: fetch it again.
    if (all.every((c) => c && c.bits === first.bits && c.keyId === keyId)) {
      return all as Chunk[];
    }
  }
  throw new DiscoveryError(
    "bad_directory",
    "The directory kept changing while it downloaded; try again.",
  );
}

/** The handles the directory gives these outputs (number -> handle). */
export async function matchOutputs(
  chunks: readonly Chunk[],
  outputs: Map<string, Uint8Array>,
): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const bits = chunks[0]?.bits ?? 0;
  for (const [phone, y] of outputs) {
    const tag = await tagOf(y);
    const chunk = chunks[chunkOf(tag, bits)];
    if (!chunk) continue;
    for (const entry of entriesWithTag(chunk, tag)) {
      const handle = await openEntry(y, entry);
      if (handle) {
        found.set(phone, handle);
        break;
      }
    }
  }
  return found;
}

/** Which of these numbers belong to findable Reach handles. */
export async function findByPhone(
  typed: readonly string[],
  opts: FindOptions = {},
): Promise<FindResult> {
  const f = opts.fetch ?? sameOrigin;
  const store = opts.store ?? defaultStore();
  const progress = opts.onProgress ?? (() => {});
  const invalid: string[] = [];
  const numbers: string[] = [];
  for (const t of typed) {
    const n = normalizePhone(t);
    if (!n.ok) invalid.push(t);
    else if (!numbers.includes(n.e164)) numbers.push(n.e164);
  }
  const result: FindResult = { matches: [], invalid, evaluated: 0, cached: 0 };
  if (!numbers.length) return result;

  for (let rotations = 0;; rotations++) {
    progress("key", 0, 1);
    const key = await fetchKey(f, store);
    const outputs = await store.getOutputs(key.keyId, numbers);
    result.cached = outputs.size;
    result.evaluated = 0;
    result.problem = undefined;
    const missing = numbers.filter((n) => !outputs.has(n));
    let rotated = false;
    for (let at = 0; at < missing.length; at += BATCH) {
      progress("evaluating", at, missing.length);
      const batch = missing.slice(at, at + BATCH);
      const r = await evaluateBatch(f, key, batch);
      if (!r.ok) {
        if (r.rotated) rotated = true;
        else result.problem = r.message;
        break;
      }
      await store.putOutputs(key.keyId, r.outputs);
      for (const [n, y] of r.outputs) outputs.set(n, y);
      result.evaluated += batch.length;
    }
    if (rotated && rotations < 2) continue;
    if (rotated) {
      throw new DiscoveryError(
        "failed",
        "The server's discovery key kept changing; try again in a minute.",
      );
    }
    progress("directory", 0, 1);
    const chunks = await fetchDirectory(f, key.keyId);
    // The directory is under a newer key already: start again with it.
    if (!chunks) {
      if (rotations < 2) continue;
      throw new DiscoveryError(
        "failed",
        "The directory is being rebuilt under a new key; try again in a minute.",
      );
    }
    progress("matching", 0, outputs.size);
    const found = await matchOutputs(chunks, outputs);
    result.matches = numbers.filter((n) => found.has(n)).map((n) => ({
      phone: n,
      handle: found.get(n)!,
    }));
    return result;
  }
}
