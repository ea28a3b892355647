/**
 * Private contact discovery, the server's side (the protocol, with its byte
 * formats, is lib/phone/DISCOVERY.md). The server never sees a number
 * someone looks for:
 *
 * - {@link currentKey}: the VOPRF public key browsers blind against.
 * - {@link evaluate}: a signed-in owner's blinded elements (at most
 *   {@link EVALUATE_MAX} a request) evaluated under the secret key, with one
 *   batched DLEQ proof. Each element costs one unit of three limits kept in
 *   KV (lib/limits.ts), so every isolate shares them: per address
 *   (discoveryPerAddress), per handle (discoveryPerHandle) and for everyone
 *   together (discoveryGlobal), the requester's own budgets counted first.
 * - {@link directoryChunk}: the directory of bound, findable numbers, one
 *   entry per number, which only someone holding the number's OPRF output
 *   can find and open; the browser matches locally.
 *
 * Logs carry counts only.
 */
import type { Config } from "../config.ts";
import { fail, type Failure, ok, type Result } from "../http.ts";
import { atMost, retryIn, spend, type SpendResult } from "../limit_check.ts";
import { log } from "../log.ts";
import { chunkRevision, entryCount, listChunk } from "../store/discovery.ts";
import { chunkBits, encodeChunk } from "./directory.ts";
import {
  discoveryKey,
  fromB64u,
  isElement,
  MODE,
  SUITE,
  toB64u,
  voprf,
} from "./oprf.ts";

/** Blinded elements per evaluate request. */
export const EVALUATE_MAX = 100;

/** The subject of the global cap. */
const EVERYONE = "all";

type DiscoveryConfig = Pick<Config, "discoveryKeys" | "limits">;

export interface KeyInfo {
  suite: typeof SUITE;
  mode: typeof MODE;
  keyId: string;
  /** The serialised public key, base64url without padding. */
  publicKey: string;
}

/** What GET /api/discover/key answers: the key browsers blind against. */
export function currentKey(config: Pick<Config, "discoveryKeys">): KeyInfo {
  const k = discoveryKey(config.discoveryKeys[0]);
  return {
    suite: SUITE,
    mode: MODE,
    keyId: k.kid,
    publicKey: toB64u(k.publicKey),
  };
}

function refusal(
  config: Pick<Config, "limits">,
  r: Extract<SpendResult, { ok: false }>,
  asked: number,
): string {
  const words = atMost(config.limits, r.limit);
  if (asked > r.max) {
    return `This asks about ${asked} numbers, more than the limit allows (${words}); ask about fewer.`;
  }
  const when = `Try again ${retryIn(r.retryAfterMs)}.`;
  switch (r.limit) {
    case "discoveryPerHandle":
      return `Your handle has looked up too many numbers (${words}). ${when}`;
    case "discoveryGlobal":
      return `Reach is answering too many number lookups right now (${words} for everyone together). ${when}`;
    default:
      return `Too many numbers looked up from your network (${words}). ${when}`;
  }
}

/** `key_rotated` names the key to use instead. */
export type KeyRotated = Failure<"key_rotated"> & { keyId: string };

export interface Evaluated {
  keyId: string;
  /** One evaluated element per blinded one, in order, base64url. */
  evaluated: string[];
  /** The batch's DLEQ proof (c || s), base64url. */
  proof: string;
}

/**
 * Evaluates a signed-in owner's blinded elements under the current key.
 * `who.address` is the requester's `addressSubject` (lib/client_address.ts).
 * A key id other than the current one is `key_rotated`; an element that is
 * not a canonical, non-identity ristretto255 encoding is `invalid_point`;
 * neither spends anything.
 */
export async function evaluate(
  kv: Deno.Kv,
  config: DiscoveryConfig,
  who: { handle: string; address: string },
  req: { keyId: string; blinded: readonly string[] },
  now = Date.now(),
): Promise<
  Result<Evaluated, "key_rotated" | "invalid_point" | "rate_limited">
> {
  const key = discoveryKey(config.discoveryKeys[0]);
  if (req.keyId !== key.kid) {
    const rotated: KeyRotated = {
      ...fail("key_rotated", {
        message:
          `The contact-discovery key is now "${key.kid}": fetch it and blind the numbers again.`,
      }),
      keyId: key.kid,
    };
    return rotated;
  }
  const points: Uint8Array[] = [];
  for (const [i, text] of req.blinded.entries()) {
    const bytes = fromB64u(text);
    if (!bytes || !isElement(bytes)) {
      return fail("invalid_point", {
        message:
          `blinded.${i} is not a valid ristretto255 element (32 bytes, base64url without padding).`,
      });
    }
    points.push(bytes);
  }
  const n = points.length;
  const allowed = await spend(kv, config.limits, [
    { limit: "discoveryPerAddress", subject: who.address },
    { limit: "discoveryPerHandle", subject: who.handle },
    { limit: "discoveryGlobal", subject: EVERYONE },
  ], { cost: n, now });
  if (!allowed.ok) {
    return fail("rate_limited", {
      message: refusal(config, allowed, n),
      retryAfterMs: allowed.retryAfterMs,
    });
  }
  const out = voprf.blindEvaluateBatch(key.secretKey, key.publicKey, points);
  log("discover.evaluate", { count: n });
  return ok({
    keyId: key.kid,
    evaluated: out.evaluated.map(toB64u),
    proof: toB64u(out.proof),
  });
}

// ------------------------------------------------------------ directory

/** A chunk, or word that the asker's copy (If-None-Match) is current. */
export type DirectoryAnswer =
  | { current: false; etag: string; body: Uint8Array }
  | { current: true; etag: string };

/** Chunks this isolate built, per store, by key id, chunk count and index. */
const built = new WeakMap<
  Deno.Kv,
  Map<string, { etag: string; body: Uint8Array }>
>();

/** Whether an If-None-Match header names this ETag (weak or strong). */
function matches(ifNoneMatch: string | null, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch.split(",").some((t) => {
    const v = t.trim();
    return v === "*" || v === etag || v === `W/${etag}`;
  });
}

/**
 * One chunk of the directory under the current key: its bytes and ETag, or
 * `current` when `ifNoneMatch` already names that ETag (the route's 304). The ETag is read before
 * the entries, so a chunk is never older than its ETag says; bind, unbind,
 * the findable switch and rotation change it in the entry's own atomic.
 */
export async function directoryChunk(
  kv: Deno.Kv,
  config: Pick<Config, "discoveryKeys">,
  chunk: number,
  ifNoneMatch: string | null,
): Promise<Result<DirectoryAnswer, "invalid_request">> {
  const kid = config.discoveryKeys[0].kid;
  const bits = chunkBits(await entryCount(kv, kid));
  if (!Number.isInteger(chunk) || chunk < 0 || chunk >= 1 << bits) {
    return fail("invalid_request", {
      message: `The directory has ${
        1 << bits
      } chunk(s) now, numbered from 0; start again from chunk 0.`,
    });
  }
  const rev = await chunkRevision(kv, kid, bits, chunk);
  const etag = `"rdr1-${kid}-${bits}-${chunk}-${rev}"`;
  if (matches(ifNoneMatch, etag)) return ok({ current: true, etag });
  let cache = built.get(kv);
  if (!cache) built.set(kv, cache = new Map());
  const slot = `${kid}/${bits}/${chunk}`;
  const cached = cache.get(slot);
  if (cached?.etag === etag) {
    return ok({ current: false, etag, body: cached.body });
  }
  const entries = await listChunk(kv, kid, bits, chunk);
  const body = encodeChunk({ keyId: kid, bits, chunk }, entries);
  if (cache.size >= 512) cache.clear();
  cache.set(slot, { etag, body });
  return ok({ current: false, etag, body });
}
