// Static files from the static folder: ETag (content hash), 304, types,
// Cache-Control, and the build's precompressed copies chosen by
// Accept-Encoding. Read-only file access.

import { ASSET_CACHE_BUST_KEY } from "./asset.ts";
import {
  codedEtag,
  type Coding,
  CODINGS,
  negotiate,
  SUFFIX,
} from "./encoding.ts";

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

/**
 * One file as served: its bytes, its ETag (SHA-1 of the bytes) and the
 * precompressed copies the build wrote for it.
 */
export interface EncodedFile {
  body: Uint8Array<ArrayBuffer>;
  etag: string;
  coded: Partial<Record<Coding, Uint8Array<ArrayBuffer>>>;
}

/**
 * Reads `path` and, for each of `codings`, its copy at `codedPath(coding)`.
 * With `sha1` (the file's hash when the copies were made) the copies are
 * used only if the file still has that hash: a file edited after the build
 * is served as it is now, uncompressed.
 */
export async function loadEncodedFile(
  path: string,
  codings: readonly Coding[],
  codedPath: (c: Coding) => string,
  sha1?: string,
): Promise<EncodedFile> {
  const body = await Deno.readFile(path);
  const hash = await sha1Hex(body);
  const coded: EncodedFile["coded"] = {};
  if (sha1 === undefined || sha1 === hash) {
    for (const c of codings) {
      try {
        coded[c] = await Deno.readFile(codedPath(c));
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    }
  }
  return { body, etag: `"${hash}"`, coded };
}

/**
 * The answer for `file`: the coding the request's Accept-Encoding prefers
 * among the file's copies (br, gzip, else identity), with its own ETag,
 * Content-Encoding and Content-Length, `Vary: Accept-Encoding` when there
 * was a choice, and 304 when If-None-Match names the chosen copy. `headers`
 * brings the rest (type, caching).
 */
export function encodedResponse(
  req: Request,
  file: EncodedFile,
  headers: Headers,
): Response {
  const available = CODINGS.filter((c) => file.coded[c]);
  const coding = negotiate(req.headers.get("accept-encoding"), available);
  if (available.length > 0) headers.set("vary", "Accept-Encoding");
  const etag = codedEtag(file.etag, coding);
  headers.set("etag", etag);
  if (coding) headers.set("content-encoding", coding);
  if (etagMatches(req.headers.get("if-none-match"), etag)) {
    return new Response(null, { status: 304, headers });
  }
  const body = coding ? file.coded[coding]! : file.body;
  headers.set("content-length", String(body.byteLength));
  return new Response(req.method === "HEAD" ? null : body, { headers });
}

/** Files up to this size are kept in memory once read. */
const MAX_KEPT = 1024 * 1024;

interface Entry {
  file: string;
  etag?: string;
  kept?: Promise<EncodedFile>;
}

/** What the build precompressed from the static folder (snapshot.json). */
export interface StaticCoded {
  /** Where the copies are: `<dir><URL path><suffix>`. */
  dir: string;
  /** URL path → the file's SHA-1 when built, and the codings written. */
  files: Record<string, { sha1: string; codings: Coding[] }>;
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
  #coded?: StaticCoded;

  static async load(dir: string, coded?: StaticCoded): Promise<StaticFiles> {
    const s = new StaticFiles();
    s.#coded = coded;
    for (const [path, file] of await walk(dir)) s.#files.set(path, { file });
    return s;
  }

  has(pathname: string): boolean {
    return this.#files.has(pathname);
  }

  async serve(req: Request, url: URL, buildId: string): Promise<Response> {
    const entry = this.#files.get(url.pathname)!;
    const headers = new Headers({
      "content-type": contentType(entry.file),
      "cache-control": url.searchParams.get(ASSET_CACHE_BUST_KEY) === buildId
        ? IMMUTABLE
        : SHORT_CACHE,
    });
    if (!entry.kept) {
      const { size } = await Deno.stat(entry.file);
      if (size <= MAX_KEPT) {
        const built = this.#coded?.files[url.pathname];
        const dir = this.#coded?.dir;
        entry.kept = loadEncodedFile(
          entry.file,
          built?.codings ?? [],
          (c) => `${dir}${url.pathname}${SUFFIX[c]}`,
          built?.sha1,
        );
        entry.kept.catch(() => entry.kept = undefined);
      }
    }
    if (entry.kept) {
      return encodedResponse(req, await entry.kept, headers);
    }
    // A large file: read each time, served as it is.
    const body = await Deno.readFile(entry.file);
    entry.etag ??= `"${await sha1Hex(body)}"`;
    headers.set("etag", entry.etag);
    if (etagMatches(req.headers.get("if-none-match"), entry.etag)) {
      return new Response(null, { status: 304, headers });
    }
    headers.set("content-length", String(body.byteLength));
    return new Response(req.method === "HEAD" ? null : body, { headers });
  }
}
