/**
 * The README's configuration is the whole truth: every environment variable
 * Reach's own code reads (the schema in lib/config.ts, the limits table, and
 * any Deno.env.get elsewhere in app code) is listed there by name.
 */
import assert from "node:assert/strict";
import { LIMITS } from "@/lib/limits.ts";

const ROOT = new URL("../../", import.meta.url);

/** App source files (not tests, benches or the framework core). */
async function* sources(dir: URL): AsyncGenerator<URL> {
  for await (const e of Deno.readDir(dir)) {
    const url = new URL(e.name + (e.isDirectory ? "/" : ""), dir);
    if (e.isDirectory) yield* sources(url);
    else if (/\.tsx?$/.test(e.name)) yield url;
  }
}

async function variablesRead(): Promise<Set<string>> {
  const names = new Set<string>();
  const config = await Deno.readTextFile(new URL("lib/config.ts", ROOT));
  // The zod schema's keys: `  NAME: z....`
  for (const m of config.matchAll(/^\s{2}([A-Z][A-Z0-9_]+): z\./gm)) {
    names.add(m[1]);
  }
  for (const spec of Object.values(LIMITS)) names.add(spec.env);
  const roots = ["lib/", "signaling/", "routes/", "islands/", "scripts/"];
  const files = [new URL("main.ts", ROOT), new URL("dev.ts", ROOT)];
  for (const r of roots) {
    for await (const f of sources(new URL(r, ROOT))) {
      if (!f.pathname.includes("/lib/fresh/")) files.push(f);
    }
  }
  for (const f of files) {
    const text = await Deno.readTextFile(f);
    for (const m of text.matchAll(/Deno\.env\.get\(\s*"([A-Z0-9_]+)"/g)) {
      names.add(m[1]);
    }
  }
  return names;
}

Deno.test("README: lists every environment variable the code reads", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", ROOT));
  const names = await variablesRead();
  assert.ok(names.size > 40, `found ${names.size} variables: the scan works`);
  assert.ok(names.has("REACH_SWEEP_SECONDS") && names.has("PORT"));
  const missing = [...names].filter((n) => !readme.includes(`\`${n}\``));
  assert.deepEqual(missing, [], "variables the README does not list");
});
