// Merging shared chunks that always load together: fewer files, the same
// modules (each still evaluated once), every import pointing at a real file,
// and no merge that would make the chunk graph cyclic.

import assert from "node:assert/strict";
import { mergeChunks, planMerges } from "../../lib/fresh/src/merge_chunks.ts";
import { rebundle } from "../../lib/fresh/src/build.ts";

/** esbuild-style output: boot, three islands, one lazy module, shared chunks. */
const OUTPUT: Record<string, string> = {
  "boot.js":
    `import{a as c}from"./chunk-A.js";function b(){return c()}export{b as boot};`,
  "islands/One.js":
    `import{a as x}from"../chunk-B.js";import{a as y,b as z}from"../chunk-C.js";import"../chunk-D.js";function o(){return[x(),y(),z()]}export{o as default};`,
  "islands/Two.js":
    `import{a as x}from"../chunk-B.js";import{a as y}from"../chunk-C.js";const l=()=>import("../Lazy-1.js");function t(){return[x(),y()]}export{t as default,l as lazy};`,
  "islands/Three.js":
    `import{a as x}from"../chunk-B.js";function t(){return x()}export{t as default};`,
  "Lazy-1.js": `import{b as e}from"./chunk-C.js";var v=e();export{v};`,
  // every island (through boot): one key
  "chunk-A.js": `var n=0;function a(){return++n}export{a};`,
  "chunk-B.js":
    `import{a as c}from"./chunk-A.js";function a(){return c()}export{a};`,
  // islands One and Two only: another key; C imports E
  "chunk-C.js":
    `import{a as e}from"./chunk-E.js";var k=7;function a(){return k+e()}function b(){return e()}export{a,b};`,
  "chunk-E.js": `var m=0;function a(){return++m}export{a};`,
  // island One only, side effects only
  "chunk-D.js": `globalThis.__mergeTestD=(globalThis.__mergeTestD??0)+1;`,
};

Deno.test("merge: chunks with the same islands become one file; modules stay single", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fresh-merge-" });
  try {
    await Deno.mkdir(`${dir}/islands`);
    for (const [f, code] of Object.entries(OUTPUT)) {
      await Deno.writeTextFile(`${dir}/${f}`, code);
    }
    const islands = ["islands/One.js", "islands/Two.js", "islands/Three.js"];
    const { files, merged } = await mergeChunks(
      dir,
      Object.keys(OUTPUT).sort(),
      "boot.js",
      islands,
      (e, x, o) => rebundle(dir, e, x, o),
    );
    const groups = Object.values(merged).map((m) => [...m].sort());
    assert.deepEqual(
      groups.sort(),
      [["chunk-A.js", "chunk-B.js"], ["chunk-C.js", "chunk-E.js"]],
    );
    for (const gone of ["chunk-A.js", "chunk-B.js", "chunk-C.js"]) {
      assert.ok(!files.includes(gone));
      await assert.rejects(Deno.stat(`${dir}/${gone}`), Deno.errors.NotFound);
    }
    assert.ok(files.includes("chunk-D.js"), "a chunk of its own stays");
    assert.equal(files.length, Object.keys(OUTPUT).length - 4 + 2);

    // Every relative import names a file that exists.
    for (const f of files) {
      const code = await Deno.readTextFile(`${dir}/${f}`);
      for (const m of code.matchAll(/(?:from|import)\s*\(?\s*"([^"]+)"/g)) {
        const dep = new URL(m[1], `file:///${f}`).pathname.slice(1);
        assert.ok(files.includes(dep), `${f} imports ${m[1]}`);
      }
    }

    // The modules behave as before: one counter shared by boot and islands.
    const url = (f: string) => new URL(`file://${dir}/${f}`).href;
    const boot = await import(url("boot.js"));
    const one = await import(url("islands/One.js"));
    const two = await import(url("islands/Two.js"));
    const three = await import(url("islands/Three.js"));
    assert.equal(boot.boot(), 1);
    assert.deepEqual(one.default(), [2, 8, 2]);
    assert.deepEqual(two.default(), [3, 10]);
    assert.equal(three.default(), 4);
    assert.equal((await two.lazy()).v, 4);
    assert.equal(
      (globalThis as { __mergeTestD?: number }).__mergeTestD,
      1,
      "side effects ran once",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("merge plan: dependencies first; entries and lazy modules never merged", () => {
  const code = new Map(Object.entries({
    "boot.js": `export{};`,
    "islands/A.js":
      `import"../chunk-X.js";const l=()=>import("../Lazy.js");export{l};`,
    "islands/B.js": `import"../chunk-W.js";export{};`,
    "chunk-X.js": `import"./chunk-Z.js";export{};`,
    "chunk-Z.js": `import"./chunk-Y.js";export{};`,
    "chunk-Y.js": `export{};`,
    "chunk-W.js": `export{};`,
    "Lazy.js": `import"./chunk-Z.js";import"./chunk-V.js";export{};`,
    "chunk-V.js": `export{};`,
  }));
  // X, Z and Y load with island A alone; W with B alone; V only lazily.
  assert.deepEqual(
    planMerges(code, "boot.js", ["islands/A.js", "islands/B.js"]),
    [["chunk-Y.js", "chunk-Z.js", "chunk-X.js"]],
  );
});
