// The ahead-of-time island bundle: <outDir>/snapshot.json and <outDir>/js/*.
// The server only reads it.

import { type Coding, SUFFIX } from "./encoding.ts";
import {
  type EncodedFile,
  encodedResponse,
  IMMUTABLE,
  loadEncodedFile,
} from "./static.ts";

export const SNAPSHOT_FILE = "snapshot.json";
export const JS_DIR = "js";
/** Precompressed copies of the static folder's files: <outDir>/static/. */
export const STATIC_DIR = "static";
export const JS_PREFIX = "/_frsh/js/";

export interface Snapshot {
  version: 1;
  buildId: string;
  /** Chunk of the boot module, relative to `<outDir>/js/`. */
  boot: string;
  /** island id → its chunk, relative to `<outDir>/js/`. */
  islands: Record<string, string>;
  /** Every file under `<outDir>/js/` (not counting coded copies). */
  files: string[];
  /**
   * file → the files it imports statically (what loads with it; `import()`
   * is left out), for `<link rel="modulepreload">`.
   */
  imports?: Record<string, string[]>;
  /** file → codings written next to it (`<file>.br`, `<file>.gz`). */
  codings?: Record<string, Coding[]>;
  /**
   * Static folder files precompressed into `<outDir>/static/`: URL path →
   * the file's SHA-1 when built and the codings written.
   */
  static?: Record<string, { sha1: string; codings: Coding[] }>;
}

export async function loadSnapshot(
  outDir: string,
): Promise<Snapshot | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(`${outDir}/${SNAPSHOT_FILE}`);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  const snap = JSON.parse(text) as Snapshot;
  if (snap.version !== 1 || typeof snap.buildId !== "string") {
    throw new Error(`Unsupported ${outDir}/${SNAPSHOT_FILE}`);
  }
  return snap;
}

export function chunkUrl(buildId: string, file: string, basePath = ""): string {
  return `${basePath}${JS_PREFIX}${buildId}/${file}`;
}

/**
 * `file` and every file it imports statically, transitively, each once:
 * what the browser fetches when it imports `file`.
 */
export function staticClosure(snap: Snapshot, files: string[]): string[] {
  const out = new Set<string>();
  const visit = (f: string) => {
    if (out.has(f)) return;
    out.add(f);
    for (const dep of snap.imports?.[f] ?? []) visit(dep);
  };
  files.forEach(visit);
  return [...out];
}

/**
 * Serves `/_frsh/js/<BUILD_ID>/<file>` from a snapshot (immutable, in the
 * best coding the request accepts); else 404. Chunks are read once and
 * kept in memory: the build's output does not change under a server.
 */
export class ChunkServer {
  #kept = new Map<string, Promise<EncodedFile>>();

  constructor(
    readonly outDir: string,
    readonly snap: Snapshot | undefined,
  ) {}

  async serve(req: Request, pathname: string): Promise<Response> {
    const snap = this.snap;
    const rest = pathname.slice(JS_PREFIX.length);
    const slash = rest.indexOf("/");
    const id = rest.slice(0, slash);
    const file = rest.slice(slash + 1);
    if (
      !snap || slash < 0 || id !== snap.buildId || !snap.files.includes(file)
    ) {
      return new Response("Not Found", { status: 404 });
    }
    let kept = this.#kept.get(file);
    if (!kept) {
      const path = `${this.outDir}/${JS_DIR}/${file}`;
      kept = loadEncodedFile(
        path,
        snap.codings?.[file] ?? [],
        (c) => `${path}${SUFFIX[c]}`,
      );
      this.#kept.set(file, kept);
      kept.catch(() => this.#kept.delete(file));
    }
    return encodedResponse(
      req,
      await kept,
      new Headers({
        "content-type": "text/javascript; charset=utf-8",
        "cache-control": IMMUTABLE,
      }),
    );
  }
}
