/**
 * Is a handle taken? Fetches `GET /handles/bloom` once per page (kept in
 * memory) and tests the handle locally: "absent" from the Bloom filter means
 * free for sure; "maybe" is confirmed with `GET /handles/:handle`. The answer
 * is advice only: the claim itself decides.
 */
import {
  type BloomFilter,
  createFilter,
  has,
  paramsFromHeaders,
} from "../bloom.ts";

export type HandleStatus = "free" | "taken" | "unknown";

/** The filter from a `/handles/bloom` response, or null if unusable. */
export async function filterFromResponse(
  res: Response,
): Promise<BloomFilter | null> {
  const params = res.ok ? paramsFromHeaders(res.headers) : null;
  if (!params) return null;
  const bytes = new Uint8Array(await res.arrayBuffer());
  return bytes.length === params.bits / 8 ? createFilter(params, bytes) : null;
}

let cached: Promise<BloomFilter | null> | undefined;

function loadFilter(): Promise<BloomFilter | null> {
  cached ??= fetch("/handles/bloom").then(filterFromResponse, () => null);
  return cached;
}

/** `handle` must already be valid and case-folded (checkHandle). */
export async function handleStatus(handle: string): Promise<HandleStatus> {
  const filter = await loadFilter();
  if (filter && !has(filter, handle)) return "free";
  try {
    const res = await fetch(`/handles/${handle}`);
    if (res.status === 404) return "free";
    const type = res.headers.get("content-type") ?? "";
    if (!res.ok || !type.includes("json")) return "unknown";
    const body = await res.json() as { handle?: string };
    return body.handle === handle ? "taken" : "unknown";
  } catch {
    return "unknown";
  }
}
