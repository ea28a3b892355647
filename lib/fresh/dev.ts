// $fresh/dev.ts — `import dev from "$fresh/dev.ts"` (default export, as in
// Fresh 1.x), then `await dev(import.meta.url, "./main.ts", config)`:
// regenerate fresh.gen.ts; `manifest` arg: stop; `build` arg: bundle islands
// into build.outDir and exit; otherwise build, then import the entrypoint.

import { build } from "./src/build.ts";
import { resolveConfig } from "./src/handler.ts";
import { writeManifest } from "./src/manifest.ts";
import { dirname, fromFileUrl } from "./src/paths.ts";
import type { FreshConfig, Manifest } from "./src/types.ts";

async function dev(
  base: string,
  entrypoint: string,
  config: FreshConfig = {},
): Promise<void> {
  const baseDir = dirname(fromFileUrl(base));
  const genPath = await writeManifest(baseDir);
  if (Deno.args.includes("manifest")) return;

  const manifest = (await import(new URL(`file://${genPath}`).href))
    .default as Manifest;
  const resolved = resolveConfig(manifest, config);
  const { outDir } = resolved.build;
  const started = performance.now();
  const snap = await build({
    manifest,
    baseDir,
    outDir,
    staticDir: resolved.staticDir,
  });
  const ms = Math.round(performance.now() - started);
  console.log(
    `[fresh] built ${
      Object.keys(snap.islands).length
    } islands into ${outDir} ` +
      `(${snap.files.length} files, ${ms} ms, build ${
        snap.buildId.slice(0, 8)
      })`,
  );
  if (Deno.args.includes("build")) Deno.exit(0);
  await import(new URL(entrypoint, base).href);
}

export default dev;
