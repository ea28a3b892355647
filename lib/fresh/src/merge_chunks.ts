// Fewer requests per page: after `deno bundle --code-splitting`, shared
// chunks that every page loads together are merged into one file.
//
// esbuild makes one shared chunk per distinct set of entry points that use
// a module, and `import()` targets count as entry points; so a page with one
// island may load a dozen chunks that no page ever loads apart. Here the key
// of a shared chunk is the set of islands whose static imports reach it (a
// chunk the boot module reaches counts as reached by every island: boot
// loads only with an island). Chunks with the same key load on exactly the
// same pages, so each such group is bundled again into one module (with
// `deno bundle`, every other file external, so names never clash and each
// module still exists once), and every import of a member is rewritten to
// import the merged file. What a page downloads stays the same; only the
// number of requests (and their headers) drops.
//
// Safe by construction or not at all: a merge that would make the chunk
// graph cyclic is skipped, and if any reference to a merged member is left
// in a form this module does not rewrite, the build keeps the unmerged
// output.

import { sha1Hex } from "./static.ts";

const STATIC_IMPORT = /(?:\bfrom\s*|\bimport\s*)["']([^"']+\.js)["']/g;
const DYNAMIC_IMPORT = /\bimport\s*\(\s*["']([^"']+\.js)["']\s*\)/g;
/** `import{a as b,c}from"x"`, `import"x"`, `export{a as b}from"x"`. */
const IMPORT_STMT =
  /\b(import|export)\s*(?:\{([^}]*)\}\s*from\s*)?"([^"]+\.js)"/g;

function resolve(from: string, spec: string): string {
  return new URL(spec, `file:///${from}`).pathname.slice(1);
}

function relative(from: string, to: string): string {
  const a = from.split("/").slice(0, -1);
  const b = to.split("/");
  let i = 0;
  while (i < a.length && i < b.length - 1 && a[i] === b[i]) i++;
  const up = a.length - i;
  return (up ? "../".repeat(up) : "./") + b.slice(i).join("/");
}

interface Graph {
  code: Map<string, string>;
  imports: Map<string, Set<string>>;
  dynamicTargets: Set<string>;
}

function readGraph(code: Map<string, string>): Graph {
  const imports = new Map<string, Set<string>>();
  const dynamicTargets = new Set<string>();
  for (const [file, text] of code) {
    const deps = new Set<string>();
    for (const m of text.matchAll(STATIC_IMPORT)) {
      const dep = resolve(file, m[1]);
      if (code.has(dep) && dep !== file) deps.add(dep);
    }
    imports.set(file, deps);
    for (const m of text.matchAll(DYNAMIC_IMPORT)) {
      dynamicTargets.add(resolve(file, m[1]));
    }
  }
  return { code, imports, dynamicTargets };
}

function closure(g: Graph, start: string): Set<string> {
  const out = new Set<string>();
  const stack = [start];
  while (stack.length) {
    const f = stack.pop()!;
    if (out.has(f)) continue;
    out.add(f);
    stack.push(...g.imports.get(f) ?? []);
  }
  return out;
}

/** Is the graph of groups (each file in at most one group) acyclic? */
function acyclic(g: Graph, groupOf: Map<string, string>): boolean {
  const node = (f: string) => groupOf.get(f) ?? f;
  const edges = new Map<string, Set<string>>();
  for (const [f, deps] of g.imports) {
    const from = node(f);
    if (!edges.has(from)) edges.set(from, new Set());
    for (const d of deps) {
      const to = node(d);
      if (to !== from) edges.get(from)!.add(to);
    }
  }
  const state = new Map<string, 1 | 2>();
  const visit = (n: string): boolean => {
    const s = state.get(n);
    if (s === 2) return true;
    if (s === 1) return false;
    state.set(n, 1);
    for (const m of edges.get(n) ?? []) if (!visit(m)) return false;
    state.set(n, 2);
    return true;
  };
  return [...edges.keys()].every(visit);
}

/**
 * Groups of shared chunks to merge (two or more each), members in an order
 * where each one's imports among them come first.
 */
export function planMerges(
  code: Map<string, string>,
  boot: string,
  islandFiles: string[],
): string[][] {
  const g = readGraph(code);
  const entries = new Set([boot, ...islandFiles, ...g.dynamicTargets]);
  const key = new Map<string, string[]>();
  const all = [...new Set(islandFiles)].sort();
  for (const f of closure(g, boot)) key.set(f, all);
  for (const island of all) {
    for (const f of closure(g, island)) {
      const k = key.get(f) ?? [];
      if (k !== all && !k.includes(island)) key.set(f, [...k, island]);
    }
  }
  const byKey = new Map<string, string[]>();
  for (const [f, k] of key) {
    // Only root-level shared chunks: what esbuild writes as `chunk-*.js`.
    if (entries.has(f) || f.includes("/")) continue;
    const id = [...k].sort().join("\n");
    byKey.set(id, [...byKey.get(id) ?? [], f]);
  }
  let groups = [...byKey.values()].filter((m) => m.length > 1)
    .map((m) => m.sort());
  // Drop groups, largest last, until the merged graph has no cycle.
  groups.sort((a, b) => a.length - b.length);
  for (;;) {
    const groupOf = new Map<string, string>();
    groups.forEach((m, i) => m.forEach((f) => groupOf.set(f, `#${i}`)));
    if (acyclic(g, groupOf) || groups.length === 0) break;
    groups = groups.slice(0, -1);
  }
  return groups.map((members) => order(g, members));
}

/** Members with each one's imports (among members) before it. */
function order(g: Graph, members: string[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const visit = (f: string) => {
    if (seen.has(f) || !members.includes(f)) return;
    seen.add(f);
    for (const d of [...g.imports.get(f) ?? []].sort()) visit(d);
    out.push(f);
  };
  members.forEach(visit);
  return out;
}

/** The export names of an esbuild chunk: its final `export{a as b,…}`. */
function exportNames(text: string): string[] | undefined {
  const m = [...text.matchAll(/\bexport\s*\{([^}]*)\}\s*;?/g)].filter((m) =>
    !/^\s*from\b/.test(text.slice(m.index! + m[0].length))
  );
  if (m.length > 1) return undefined;
  if (m.length === 0) return [];
  return m[0][1].split(",").map((s) => s.trim()).filter(Boolean)
    .map((s) => s.split(/\s+as\s+/).at(-1)!);
}

export interface MergeResult {
  /** Every output file after merging (relative to the output folder). */
  files: string[];
  /** Merged file → its members (for the build log and tests). */
  merged: Record<string, string[]>;
}

/**
 * Merges the planned groups in `dir` (the bundler's output folder) in place.
 * `bundle(entry, externals, out)` runs `deno bundle` on a file of `dir`.
 */
export async function mergeChunks(
  dir: string,
  files: string[],
  boot: string,
  islandFiles: string[],
  bundle: (entry: string, externals: string[], out: string) => Promise<void>,
): Promise<MergeResult> {
  const code = new Map<string, string>();
  for (const f of files) code.set(f, await Deno.readTextFile(`${dir}/${f}`));
  const groups = planMerges(code, boot, islandFiles);
  const unchanged = { files, merged: {} };
  if (groups.length === 0) return unchanged;

  /** member → [merged file, export name in it for each member export]. */
  const moved = new Map<string, { to: string; names: Map<string, string> }>();
  const written: Record<string, string[]> = {};
  const newCode = new Map(code);
  for (const [gi, members] of groups.entries()) {
    const lines: string[] = [];
    const renames: Map<string, string>[] = [];
    for (const [k, f] of members.entries()) {
      const names = exportNames(code.get(f)!);
      if (!names) return unchanged;
      const map = new Map(names.map((n) => [n, `m${k}_${n}`]));
      renames.push(map);
      lines.push(
        names.length
          ? `export{${
            [...map].map(([n, to]) => `${n} as ${to}`).join(",")
          }}from"./${f}";`
          : `import"./${f}";`,
      );
    }
    const entry = `__merge_${gi}.js`;
    await Deno.writeTextFile(`${dir}/${entry}`, lines.join("\n") + "\n");
    const out = `__merged_${gi}.js`;
    await bundle(
      entry,
      files.filter((f) => !members.includes(f)).map((f) => `./${f}`),
      out,
    );
    await Deno.remove(`${dir}/${entry}`);
    const text = await Deno.readTextFile(`${dir}/${out}`);
    await Deno.remove(`${dir}/${out}`);
    const name = `chunk-M${
      (await sha1Hex(text)).slice(0, 10).toUpperCase()
    }.js`;
    newCode.set(name, text);
    written[name] = members;
    members.forEach((f, k) => {
      newCode.delete(f);
      moved.set(f, { to: name, names: renames[k] });
    });
  }

  // Point every import of a member at its merged file.
  const memberNames = [...moved.keys()].map((f) => f.split("/").at(-1)!);
  for (const [file, text] of newCode) {
    let ok = true;
    const rewritten = text.replace(
      IMPORT_STMT,
      (stmt, kw: string, list: string | undefined, spec: string) => {
        const target = moved.get(resolve(file, spec));
        if (!target) return stmt;
        const to = relative(file, target.to);
        if (list === undefined) return `${kw}"${to}"`;
        const parts = list.split(",").map((s) => s.trim()).filter(Boolean)
          .map((s) => {
            const [name, alias] = s.split(/\s+as\s+/);
            const renamed = target.names.get(name);
            if (!renamed) ok = false;
            return `${renamed} as ${alias ?? name}`;
          });
        return `${kw}{${parts.join(",")}}from"${to}"`;
      },
    );
    // Any other mention of a member (import * as, import(), …): give up.
    if (!ok || memberNames.some((n) => rewritten.includes(n))) {
      return unchanged;
    }
    newCode.set(file, rewritten);
  }

  for (const f of moved.keys()) await Deno.remove(`${dir}/${f}`);
  for (const [file, text] of newCode) {
    if (code.get(file) !== text) {
      await Deno.writeTextFile(`${dir}/${file}`, text);
    }
  }
  return { files: [...newCode.keys()].sort(), merged: written };
}
