// Ahead-of-time island build: `deno bundle` (code-split, minified) of the
// boot module and every island file into <outDir>/js/, plus snapshot.json.

import { gitSha } from "./build_id.ts";
import { computeBuildId } from "./build_id.ts";
import { fromFileUrl, normalize } from "./paths.ts";
import { JS_DIR, type Snapshot, SNAPSHOT_FILE } from "./snapshot.ts";
import { collectIslands } from "./islands.ts";
import type { Manifest } from "./types.ts";

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

export interface BuildOptions {
  manifest: Manifest;
  /** Project folder: `deno bundle` runs here, so deno.json applies. */
  baseDir: string;
  outDir: string;
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
    const files = await listFiles(tmp);
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
    for (const f of files) {
      const dest = `${outDir}/${JS_DIR}/${f}`;
      await Deno.mkdir(dest.slice(0, dest.lastIndexOf("/")), {
        recursive: true,
      });
      await Deno.copyFile(`${tmp}/${f}`, dest);
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
