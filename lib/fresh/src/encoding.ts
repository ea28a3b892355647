// Content codings for precompressed files: which ones the build writes, how
// a request's Accept-Encoding chooses among them, and the ETag of each.

export type Coding = "br" | "gzip";

/** The server's order of preference, best first. */
export const CODINGS: readonly Coding[] = ["br", "gzip"];

/** File name suffix of each coding's precompressed copy. */
export const SUFFIX: Record<Coding, string> = { br: ".br", gzip: ".gz" };

/**
 * The coding to answer with, from those `available`, for this
 * Accept-Encoding header (RFC 9110 §12.5.3): the acceptable one (q > 0,
 * listed by name or through `*`) with the highest q, ties going to the
 * server's order (`available`, br before gzip). `null` means identity: no
 * header, nothing acceptable, or identity listed with a higher q than any
 * coding. (Were identity itself refused with `identity;q=0`, identity is
 * still what is sent when no coding is acceptable.)
 */
export function negotiate(
  acceptEncoding: string | null,
  available: readonly Coding[],
): Coding | null {
  if (!acceptEncoding || available.length === 0) return null;
  const q = new Map<string, number>();
  for (const part of acceptEncoding.split(",")) {
    const [rawName, ...params] = part.split(";");
    let name = rawName.trim().toLowerCase();
    if (!name) continue;
    if (name === "x-gzip") name = "gzip";
    let weight = 1;
    for (const p of params) {
      const m = p.trim().match(/^q\s*=\s*(.*)$/i);
      if (m) weight = /^[0-9.]+$/.test(m[1]) ? Number(m[1]) : NaN;
    }
    // An entry with a malformed q is ignored.
    if (!(weight >= 0 && weight <= 1)) continue;
    // A name listed twice: the first one counts.
    if (!q.has(name)) q.set(name, weight);
  }
  let best: Coding | null = null;
  let bestQ = 0;
  for (const c of available) {
    const w = q.get(c) ?? q.get("*") ?? 0;
    if (w > bestQ) {
      best = c;
      bestQ = w;
    }
  }
  const identity = q.get("identity");
  if (best && identity !== undefined && identity > bestQ) return null;
  return best;
}

/** Types worth compressing: text, JavaScript, JSON, XML, SVG, wasm. */
export function isCompressible(contentType: string): boolean {
  const t = contentType.split(";")[0].trim().toLowerCase();
  return t.startsWith("text/") || t === "image/svg+xml" ||
    t === "application/wasm" ||
    /^application\/(?:[a-z0-9.+-]+\+)?(?:json|xml|javascript)$/.test(t);
}

/** The ETag of a file's coded copy: the identity ETag's value plus a tag. */
export function codedEtag(identityEtag: string, coding: Coding | null): string {
  return coding ? `${identityEtag.slice(0, -1)}-${coding}"` : identityEtag;
}
