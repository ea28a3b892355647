// asset(): cache-busting URLs. Shared by server and browser; the server and
// the client boot module set the build id.

export const ASSET_CACHE_BUST_KEY = "__frsh_c";
export const IS_BROWSER = typeof document !== "undefined";

let buildId = "";

/** Internal: set by createHandler (server) and the boot module (browser). */
export function setBuildId(id: string): void {
  buildId = id;
}

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
