/**
 * `GET /handles/bloom`: a Bloom filter of every claimed handle, so a browser
 * can tell that a handle is certainly free without asking. The body is the
 * bit array (`application/octet-stream`); the parameters are in headers:
 * `X-Bloom-Scheme: fnv1a32-double-blocked-v1`, `X-Bloom-Bits`,
 * `X-Bloom-Hashes`, `X-Bloom-Blocks`, `X-Bloom-Count` (handles in it) and
 * `X-Bloom-Capacity` (handles it holds at 1% false positives or fewer). The
 * scheme is specified in lib/bloom.ts. Cacheable for 60 s, with an ETag.
 *
 * This literal route wins over `handles/[handle].ts`.
 */
import type { Handlers } from "$fresh/server.ts";
import { app } from "@/lib/app.ts";
import { bloomHeaders } from "@/lib/bloom.ts";
import { readBloom } from "@/lib/store/bloom.ts";

export const handler: Handlers = {
  async GET(req) {
    const { kv } = await app();
    const bloom = await readBloom(kv);
    const headers = new Headers({
      ...bloomHeaders(bloom.generation, bloom.count, bloom.generation.capacity),
      "cache-control": "public, max-age=60",
      etag: bloom.etag,
    });
    if (matches(req.headers.get("if-none-match"), bloom.etag)) {
      return new Response(null, { status: 304, headers });
    }
    headers.set("content-type", "application/octet-stream");
    return new Response(bloom.bytes as BodyInit, { headers });
  },
};

function matches(header: string | null, etag: string): boolean {
  return !!header &&
    header.split(",").some((t) => {
      const tag = t.trim().replace(/^W\//, "");
      return tag === "*" || tag === etag;
    });
}
