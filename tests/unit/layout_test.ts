/**
 * The code's shape, checked: no import cycles among the repo's own modules
 * (read from `deno info --json`, type-only imports included), and every
 * Deno KV key is built in lib/store/keys.ts.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);
const ENTRIES = ["main.ts", "dev.ts", "scripts/rotate_keys.ts"];

interface InfoModule {
  specifier: string;
  dependencies?: {
    code?: { specifier?: string };
    type?: { specifier?: string };
  }[];
}

/** The import graph of the repo's own modules (the framework core aside). */
async function graph(): Promise<Map<string, string[]>> {
  const mine = (s: string) =>
    s.startsWith(ROOT.href) && !s.startsWith(new URL("lib/fresh/", ROOT).href);
  const g = new Map<string, string[]>();
  for (const entry of ENTRIES) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", entry],
      cwd: ROOT,
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
      modules: InfoModule[];
    };
    for (const m of info.modules) {
      if (!mine(m.specifier)) continue;
      const deps = new Set<string>();
      for (const d of m.dependencies ?? []) {
        for (const s of [d.code?.specifier, d.type?.specifier]) {
          if (s && mine(s)) deps.add(s);
        }
      }
      g.set(m.specifier, [...deps]);
    }
  }
  return g;
}

function cycles(g: Map<string, string[]>): string[][] {
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (n: string) => {
    state.set(n, "open");
    stack.push(n);
    for (const d of g.get(n) ?? []) {
      if (state.get(d) === "open") {
        found.push([...stack.slice(stack.indexOf(d)), d]);
      } else if (!state.has(d)) visit(d);
    }
    stack.pop();
    state.set(n, "done");
  };
  for (const n of g.keys()) if (!state.has(n)) visit(n);
  return found;
}

Deno.test("layout: no import cycles among the repo's own modules", async () => {
  const g = await graph();
  const rel = (s: string) => s.slice(ROOT.href.length);
  // The graph is real: it holds the app, and type-only edges.
  assert.ok(g.size > 100, `${g.size} modules`);
  const deadline = g.get(new URL("lib/store/call_deadline.ts", ROOT).href);
  assert.ok(
    deadline?.some((d) => d.endsWith("lib/store/call_types.ts")),
    "a type-only import is an edge",
  );
  const found = cycles(g).map((c) => c.map(rel).join(" -> "));
  assert.deepEqual(found, [], "import cycles");
});

/** App modules outside keys.ts that may not spell a KV key themselves. */
async function* appModules(dir: URL): AsyncGenerator<URL> {
  for await (const e of Deno.readDir(dir)) {
    const url = new URL(e.name + (e.isDirectory ? "/" : ""), dir);
    if (e.isDirectory) {
      if (e.name !== "fresh") yield* appModules(url);
    } else if (/\.tsx?$/.test(e.name) && e.name !== "keys.ts") yield url;
  }
}

Deno.test("layout: every KV key is built in lib/store/keys.ts", async () => {
  // A key spelled as an array literal where KV is called.
  const literal =
    /(?:\b(?:prefix|start|end|key)\s*:\s*\[\s*["'`]|\.(?:get|set|delete|watch|sum|list|getMany)(?:<[^>]*>)?\(\s*\[\s*\[?\s*["'`])/;
  const offenders: string[] = [];
  for (const dir of ["lib/", "signaling/", "routes/", "scripts/"]) {
    for await (const f of appModules(new URL(dir, ROOT))) {
      const lines = (await Deno.readTextFile(f)).split("\n");
      lines.forEach((line, i) => {
        if (/^\s*(\*|\/\/)/.test(line)) return; // comments
        if (literal.test(line)) {
          offenders.push(`${f.pathname.slice(ROOT.pathname.length)}:${i + 1}`);
        }
      });
    }
  }
  assert.deepEqual(offenders, [], "keys spelled outside keys.ts");
});
