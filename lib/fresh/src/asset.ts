// asset(): cache-busting URLs. Shared by server and browser; the server and
// the client boot module set the build id.

export const ASSET_CACHE_BUST_KEY = "__frsh_c";
export const IS_BROWSER = typeof document !== "undefined";

let buildId = "";

/** Internal: set by createHandler (server) and the boot module (browser). */
export function setBuildId(id: string): void {
  if (id !== buildId) memo.clear();
  buildId = id;
}

// asset() runs for every <link>/<img> of every render, and parsing a URL is
// the costly part: answers are kept per path (a bounded number of them).
const memo = new Map<string, string>();
const MEMO_MAX = 512;

export function getBuildId(): string {
  return buildId;
}

/**
 * Add `?__frsh_c=<BUILD_ID>` to a local absolute path so it may be cached
 * forever. External URLs, relative paths and already-busted paths are
 * returned untouched.
 */
export function asset(path: string): string {
  if (!path.startsWith("/") || path.startsWith("//")) return path;
  if (!buildId) return path;
  let out = memo.get(path);
  if (out === undefined) {
    out = bust(path);
    if (memo.size >= MEMO_MAX) memo.clear();
    memo.set(path, out);
  }
  return out;
}

function bust(path: string): string {
  try {
    const url = new URL(path, "https://freshassetcache.local");
    if (
      url.protocol !== "https:" || url.host !== "freshassetcache.local" ||
      url.searchParams.has(ASSET_CACHE_BUST_KEY)
    ) {
      return path;
    }
    url.searchParams.set(ASSET_CACHE_BUST_KEY, buildId);
    return url.pathname + url.search + url.hash;
  } catch {
    return path;
  }
}
