// Static files from the static folder: ETag (content hash), 304, types,
// Cache-Control. Read-only file access.

import { ASSET_CACHE_BUST_KEY } from "./asset.ts";

export const IMMUTABLE = "public, max-age=31536000, immutable";
export const SHORT_CACHE = "public, max-age=60, must-revalidate";

const TYPES: Record<string, string> = {
  html: "text/html; charset=UTF-8",
  htm: "text/html; charset=UTF-8",
  css: "text/css; charset=UTF-8",
  js: "text/javascript; charset=UTF-8",
  mjs: "text/javascript; charset=UTF-8",
  json: "application/json; charset=UTF-8",
  map: "application/json; charset=UTF-8",
  webmanifest: "application/manifest+json; charset=UTF-8",
  txt: "text/plain; charset=UTF-8",
  md: "text/markdown; charset=UTF-8",
  xml: "application/xml; charset=UTF-8",
  svg: "image/svg+xml; charset=UTF-8",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  avif: "image/avif",
  ico: "image/x-icon",
  woff: "font/woff",
  woff2: "font/woff2",
  ttf: "font/ttf",
  otf: "font/otf",
  mp3: "audio/mpeg",
  ogg: "audio/ogg",
  oga: "audio/ogg",
  opus: "audio/ogg",
  wav: "audio/wav",
  weba: "audio/webm",
  webm: "video/webm",
  mp4: "video/mp4",
  wasm: "application/wasm",
  pdf: "application/pdf",
};

export function contentType(path: string): string {
  const ext = path.slice(path.lastIndexOf(".") + 1).toLowerCase();
  return TYPES[ext] ?? "application/octet-stream";
}

export async function sha1Hex(data: BufferSource | string): Promise<string> {
  const bytes = typeof data === "string"
    ? new TextEncoder().encode(data)
    : data;
  const digest = await crypto.subtle.digest("SHA-1", bytes);
  return Array.from(
    new Uint8Array(digest),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

/** Does an If-None-Match header match this (strong) ETag? */
export function etagMatches(ifNoneMatch: string | null, etag: string): boolean {
  if (!ifNoneMatch) return false;
  const bare = etag.replace(/^W\//, "");
  return ifNoneMatch.split(",").some((t) => {
    const tag = t.trim();
    return tag === "*" || tag.replace(/^W\//, "") === bare;
  });
}

interface Entry {
  file: string;
  etag?: string;
}

/** Recursively list files under `dir` as URL paths (`/css/app.css`). */
async function walk(dir: string, prefix = ""): Promise<[string, string][]> {
  const out: [string, string][] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return out;
    throw e;
  }
  for (const e of entries) {
    const file = `${dir}/${e.name}`;
    const path = `${prefix}/${e.name}`;
    if (e.isDirectory) out.push(...await walk(file, path));
    else if (e.isFile) out.push([path, file]);
  }
  return out;
}

export class StaticFiles {
  #files = new Map<string, Entry>();

  static async load(dir: string): Promise<StaticFiles> {
    const s = new StaticFiles();
    for (const [path, file] of await walk(dir)) s.#files.set(path, { file });
    return s;
  }

  has(pathname: string): boolean {
    return this.#files.has(pathname);
  }

  async serve(req: Request, url: URL, buildId: string): Promise<Response> {
    const entry = this.#files.get(url.pathname)!;
    const body = await Deno.readFile(entry.file);
    entry.etag ??= `"${await sha1Hex(body)}"`;
    const headers = new Headers({
      "content-type": contentType(entry.file),
      etag: entry.etag,
      vary: "If-None-Match",
      "cache-control": url.searchParams.get(ASSET_CACHE_BUST_KEY) === buildId
        ? IMMUTABLE
        : SHORT_CACHE,
    });
    if (etagMatches(req.headers.get("if-none-match"), entry.etag)) {
      return new Response(null, { status: 304, headers });
    }
    headers.set("content-length", String(body.byteLength));
    return new Response(req.method === "HEAD" ? null : body, { headers });
  }
}
