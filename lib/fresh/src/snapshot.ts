// The ahead-of-time island bundle: <outDir>/snapshot.json and <outDir>/js/*.
// The server only reads it.

import { IMMUTABLE } from "./static.ts";

export const SNAPSHOT_FILE = "snapshot.json";
export const JS_DIR = "js";
export const JS_PREFIX = "/_frsh/js/";

export interface Snapshot {
  version: 1;
  buildId: string;
  /** Chunk of the boot module, relative to `<outDir>/js/`. */
  boot: string;
  /** island id → its chunk, relative to `<outDir>/js/`. */
  islands: Record<string, string>;
  /** Every file under `<outDir>/js/`. */
  files: string[];
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

/** Serves `/_frsh/js/<BUILD_ID>/<file>` from a snapshot; else 404. */
export async function serveChunk(
  req: Request,
  pathname: string,
  outDir: string,
  snap: Snapshot | undefined,
): Promise<Response> {
  const rest = pathname.slice(JS_PREFIX.length);
  const slash = rest.indexOf("/");
  const id = rest.slice(0, slash);
  const file = rest.slice(slash + 1);
  if (!snap || slash < 0 || id !== snap.buildId || !snap.files.includes(file)) {
    return new Response("Not Found", { status: 404 });
  }
  const body = await Deno.readFile(`${outDir}/${JS_DIR}/${file}`);
  return new Response(req.method === "HEAD" ? null : body, {
    headers: {
      "content-type": "text/javascript; charset=utf-8",
      "content-length": String(body.byteLength),
      "cache-control": IMMUTABLE,
    },
  });
}
