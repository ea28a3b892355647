// Ahead-of-time island build: `deno bundle` (code-split, minified) of the
// boot module and every island file into <outDir>/js/, brotli and gzip
// copies of those chunks and of the static folder's text files, plus
// snapshot.json.

import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import { gitSha } from "./build_id.ts";
import { computeBuildId } from "./build_id.ts";
import { type Coding, CODINGS, isCompressible, SUFFIX } from "./encoding.ts";
import { fromFileUrl, normalize } from "./paths.ts";
import {
  JS_DIR,
  type Snapshot,
  SNAPSHOT_FILE,
  STATIC_DIR,
} from "./snapshot.ts";
import { collectIslands } from "./islands.ts";
import { mergeChunks } from "./merge_chunks.ts";
import { contentType, sha1Hex } from "./static.ts";
import type { Manifest } from "./types.ts";

/** Build-time compression: the smallest output; time is no object. */
export function compress(coding: Coding, data: Uint8Array): Uint8Array {
  if (coding === "br") {
    return new Uint8Array(brotliCompressSync(data, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
        [constants.BROTLI_PARAM_SIZE_HINT]: data.byteLength,
      },
    }));
  }
  return new Uint8Array(gzipSync(data, { level: 9 }));
}

/** A coded copy is written only when it is at least this much smaller. */
const MIN_SAVING = 0.1;

/**
 * Writes `<path><suffix>` for each coding that saves at least
 * {@link MIN_SAVING} of `data`; returns the codings written.
 */
async function writeCoded(path: string, data: Uint8Array): Promise<Coding[]> {
  const out: Coding[] = [];
  for (const c of CODINGS) {
    const coded = compress(c, data);
    if (coded.byteLength > data.byteLength * (1 - MIN_SAVING)) continue;
    await Deno.writeFile(`${path}${SUFFIX[c]}`, coded);
    out.push(c);
  }
  return out;
}

const STATIC_IMPORT = /(?:\bfrom\s*|\bimport\s*)["']([^"']+\.js)["']/g;

/** Files of `files` that `file` (minified ESM) imports statically. */
function staticImports(file: string, code: string, files: string[]): string[] {
  const deps = new Set<string>();
  for (const m of code.matchAll(STATIC_IMPORT)) {
    const dep = new URL(m[1], `file:///${file}`).pathname.slice(1);
    if (dep !== file && files.includes(dep)) deps.add(dep);
  }
  return [...deps].sort();
}

async function walkStatic(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(`${dir}${prefix}`));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return out;
    throw e;
  }
  for (const e of entries) {
    const rel = `${prefix}/${e.name}`;
    if (e.isDirectory) out.push(...await walkStatic(dir, rel));
    else if (e.isFile) out.push(rel);
  }
  return out.sort();
}

/** Static files worth compressing: text types, 256 bytes to 1 MiB. */
async function compressStatic(
  staticDir: string,
  outDir: string,
): Promise<NonNullable<Snapshot["static"]>> {
  const out: NonNullable<Snapshot["static"]> = {};
  for (const path of await walkStatic(staticDir)) {
    if (!isCompressible(contentType(path))) continue;
    const data = await Deno.readFile(`${staticDir}${path}`);
    if (data.byteLength < 256 || data.byteLength > 1024 * 1024) continue;
    const dest = `${outDir}/${STATIC_DIR}${path}`;
    await Deno.mkdir(dest.slice(0, dest.lastIndexOf("/")), { recursive: true });
    const codings = await writeCoded(dest, data);
    if (codings.length) out[path] = { sha1: await sha1Hex(data), codings };
  }
  return out;
}

const BOOT = fromFileUrl(new URL("./client/boot.ts", import.meta.url));

async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(`${dir}${prefix}`)) {
    const rel = `${prefix}/${e.name}`;
    if (e.isDirectory) out.push(...await listFiles(dir, rel));
    else out.push(rel.slice(1));
  }
  return out.sort();
}

/** The output file of `entry`: the longest output path that ends its path. */
function outputFor(entry: string, outputs: string[]): string {
  const stem = entry.replace(/\.[jt]sx?$/, ".js");
  const candidates = outputs.filter((o) => stem.endsWith(`/${o}`));
  candidates.sort((a, b) => b.length - a.length);
  if (!candidates[0]) {
    throw new Error(`deno bundle produced no file for ${entry}`);
  }
  return candidates[0];
}

async function gitShaFromCli(dir: string): Promise<string | undefined> {
  try {
    const out = await new Deno.Command("git", {
      args: ["rev-parse", "HEAD"],
      cwd: dir,
      stdout: "piped",
      stderr: "null",
    }).output();
    const sha = new TextDecoder().decode(out.stdout).trim();
    return out.success && /^[0-9a-f]{40}$/.test(sha) ? sha : undefined;
  } catch {
    return undefined;
  }
}

/** `deno bundle` of `entry` (a file of `dir`) into `out`, `externals` kept. */
export async function rebundle(
  dir: string,
  entry: string,
  externals: string[],
  out: string,
): Promise<void> {
  const res = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--no-config",
      "--platform",
      "browser",
      "--minify",
      ...externals.flatMap((e) => ["--external", e]),
      "--output",
      out,
      entry,
    ],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!res.success) {
    throw new Error(
      `deno bundle (merging chunks) failed:\n${
        new TextDecoder().decode(res.stderr)
      }`,
    );
  }
}

export interface BuildOptions {
  manifest: Manifest;
  /** Project folder: `deno bundle` runs here, so deno.json applies. */
  baseDir: string;
  outDir: string;
  /** The static folder, whose text files get precompressed copies. */
  staticDir?: string;
}

export async function build(opts: BuildOptions): Promise<Snapshot> {
  const { manifest, baseDir } = opts;
  const outDir = normalize(opts.outDir);
  if (baseDir.startsWith(outDir + "/") || baseDir === outDir) {
    throw new Error(`Refusing to use ${outDir} as build.outDir`);
  }
  const islands = collectIslands(manifest.islands);
  const islandFiles = [...new Set(islands.map((i) => i.file))];
  const entries = [
    BOOT,
    ...islandFiles.map((f) => fromFileUrl(new URL(f, manifest.baseUrl))),
  ];

  const tmp = await Deno.makeTempDir({ prefix: "fresh-build-" });
  try {
    const res = await new Deno.Command(Deno.execPath(), {
      args: [
        "bundle",
        "--quiet",
        "--platform",
        "browser",
        "--code-splitting",
        "--minify",
        "--outdir",
        tmp,
        ...entries,
      ],
      cwd: baseDir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!res.success) {
      throw new Error(
        `deno bundle failed:\n${new TextDecoder().decode(res.stderr)}`,
      );
    }
    const bundled = await listFiles(tmp);
    const islandOutputs = islands.map((i) =>
      outputFor(fromFileUrl(new URL(i.file, manifest.baseUrl)), bundled)
    );
    const { files } = await mergeChunks(
      tmp,
      bundled,
      outputFor(entries[0], bundled),
      islandOutputs,
      (entry, externals, out) => rebundle(tmp, entry, externals, out),
    );
    const sha = await gitShaFromCli(baseDir) ?? await gitSha(baseDir);
    const snapshot: Snapshot = {
      version: 1,
      buildId: await computeBuildId(baseDir, sha),
      boot: outputFor(entries[0], files),
      islands: Object.fromEntries(islands.map((i) => [
        i.id,
        outputFor(fromFileUrl(new URL(i.file, manifest.baseUrl)), files),
      ])),
      files,
    };
    await Deno.remove(outDir, { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
    await Deno.mkdir(`${outDir}/${JS_DIR}`, { recursive: true });
    snapshot.imports = {};
    snapshot.codings = {};
    for (const f of files) {
      const dest = `${outDir}/${JS_DIR}/${f}`;
      await Deno.mkdir(dest.slice(0, dest.lastIndexOf("/")), {
        recursive: true,
      });
      const data = await Deno.readFile(`${tmp}/${f}`);
      await Deno.writeFile(dest, data);
      const deps = staticImports(f, new TextDecoder().decode(data), files);
      if (deps.length) snapshot.imports[f] = deps;
      const codings = await writeCoded(dest, data);
      if (codings.length) snapshot.codings[f] = codings;
    }
    if (opts.staticDir) {
      snapshot.static = await compressStatic(opts.staticDir, outDir);
    }
    await Deno.writeTextFile(
      `${outDir}/${SNAPSHOT_FILE}`,
      JSON.stringify(snapshot, null, 2) + "\n",
    );
    return snapshot;
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}
