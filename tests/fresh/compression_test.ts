// Precompressed chunks and static files: Accept-Encoding negotiation, one
// ETag per coding, Vary, Content-Length/-Encoding, 304s; modulepreload links;
// merged chunks whose imports all resolve; renders reused by memoKey.

import assert from "node:assert/strict";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { negotiate } from "../../lib/fresh/src/encoding.ts";
import type { Snapshot } from "../../lib/fresh/src/snapshot.ts";
import {
  encodedResponse,
  loadEncodedFile,
  StaticFiles,
} from "../../lib/fresh/src/static.ts";
import { buildFixture, fixture, FIXTURE_DIR, text } from "./helpers.ts";

Deno.test("Accept-Encoding: br > gzip > identity, q-values and q=0 honoured", () => {
  const both = ["br", "gzip"] as const;
  const cases: [string | null, string | null][] = [
    [null, null],
    ["", null],
    ["gzip, deflate, br, zstd", "br"],
    ["gzip, deflate", "gzip"],
    ["GZIP", "gzip"],
    ["x-gzip", "gzip"],
    ["br;q=0, gzip", "gzip"],
    ["br;q=0, gzip;q=0", null],
    ["*", "br"],
    ["*;q=0", null],
    ["*, br;q=0", "gzip"],
    ["gzip;q=1, br;q=0.5", "gzip"],
    ["gzip;q=0.5, br;q=0.5", "br"],
    ["identity", null],
    ["deflate", null],
    ["br;q=0.4, identity;q=0.9", null],
    ["br, identity;q=0", "br"],
    ["br;q=2, gzip", "gzip"], // an invalid q: that entry is ignored
    ["br;q=abc, gzip", "gzip"],
  ];
  for (const [header, want] of cases) {
    assert.equal(negotiate(header, both), want, String(header));
  }
  assert.equal(negotiate("br, gzip", ["gzip"]), "gzip");
  assert.equal(negotiate("br", ["gzip"]), null);
  assert.equal(negotiate("br, gzip", []), null);
});

const ae = (coding: string) => ({ headers: { "accept-encoding": coding } });

Deno.test("island chunks: brotli, gzip or identity by Accept-Encoding, ETag per coding, immutable", async () => {
  const outDir = await buildFixture();
  try {
    const snap = JSON.parse(
      await Deno.readTextFile(`${outDir}/snapshot.json`),
    ) as Snapshot;
    const get = await fixture({ build: { outDir } });
    let coded = 0;
    for (const file of snap.files) {
      const url = `/_frsh/js/${snap.buildId}/${file}`;
      const raw = await Deno.readFile(`${outDir}/js/${file}`);
      const plain = await get(url);
      const plainBody = new Uint8Array(await plain.arrayBuffer());
      assert.deepEqual(plainBody, raw, file);
      assert.equal(plain.headers.get("content-encoding"), null);
      assert.equal(plain.headers.get("content-length"), String(raw.length));
      const etag = plain.headers.get("etag")!;
      assert.match(etag, /^"[0-9a-f]{40}"$/);
      for (const c of snap.codings?.[file] ?? []) {
        coded++;
        const res = await get(url, ae("gzip, deflate, br"));
        const chosen = res.headers.get("content-encoding");
        assert.equal(chosen, snap.codings![file].includes("br") ? "br" : c);
        const body = new Uint8Array(await res.arrayBuffer());
        assert.equal(res.headers.get("content-length"), String(body.length));
        assert.ok(body.length < raw.length, `${file} is smaller coded`);
        const back = chosen === "br"
          ? brotliDecompressSync(body)
          : gunzipSync(body);
        assert.deepEqual(new Uint8Array(back), raw, `${file} ${chosen}`);
        assert.equal(res.headers.get("vary"), "Accept-Encoding");
        assert.equal(plain.headers.get("vary"), "Accept-Encoding");
        assert.equal(
          res.headers.get("cache-control"),
          "public, max-age=31536000, immutable",
        );
        const codedEtag = res.headers.get("etag")!;
        assert.equal(codedEtag, `${etag.slice(0, -1)}-${chosen}"`);
        // 304 only for the ETag of the copy that would be sent.
        const same = await get(url, {
          headers: {
            "accept-encoding": "br, gzip",
            "if-none-match": codedEtag,
          },
        });
        assert.equal(same.status, chosen === "br" ? 304 : 200, file);
        await same.body?.cancel();
        const other = await get(url, {
          headers: { "accept-encoding": "br, gzip", "if-none-match": etag },
        });
        assert.equal(other.status, 200);
        await other.body?.cancel();
        const idem = await get(url, { headers: { "if-none-match": etag } });
        assert.equal(idem.status, 304);
        assert.equal(idem.headers.get("etag"), etag);
        // HEAD: same headers, no body.
        const head = await get(url, { method: "HEAD", ...ae("br") });
        assert.equal(head.body, null);
        assert.equal(
          head.headers.get("content-length"),
          String(
            (await Deno.readFile(`${outDir}/js/${file}.br`)).length,
          ),
        );
        break;
      }
    }
    assert.ok(coded > 0, "some chunks have coded copies");
    // gzip when br is refused.
    const boot = `/_frsh/js/${snap.buildId}/${snap.boot}`;
    const gz = await get(boot, ae("br;q=0, gzip"));
    assert.equal(gz.headers.get("content-encoding"), "gzip");
    assert.deepEqual(
      new Uint8Array(gunzipSync(new Uint8Array(await gz.arrayBuffer()))),
      await Deno.readFile(`${outDir}/js/${snap.boot}`),
    );
    // Coded copies are not addressable on their own.
    const direct = await get(`${boot}.br`);
    assert.equal(direct.status, 404);
    await direct.body?.cancel();
  } finally {
    await Deno.remove(outDir, { recursive: true });
  }
});

Deno.test("static files: the build's coded copies, used only while the file is unchanged", async () => {
  const outDir = await buildFixture();
  try {
    const snap = JSON.parse(
      await Deno.readTextFile(`${outDir}/snapshot.json`),
    ) as Snapshot;
    assert.deepEqual(snap.static?.["/css/long.css"]?.codings, ["br", "gzip"]);
    assert.equal(snap.static?.["/css/app.css"], undefined, "too small");
    const raw = await Deno.readFile(
      `${FIXTURE_DIR}/static/css/long.css`,
    );
    const get = await fixture({ build: { outDir } });
    const br = await get("/css/long.css", ae("br, gzip"));
    assert.equal(br.headers.get("content-encoding"), "br");
    assert.equal(br.headers.get("content-type"), "text/css; charset=UTF-8");
    assert.equal(br.headers.get("vary"), "Accept-Encoding");
    assert.match(br.headers.get("etag")!, /^"[0-9a-f]{40}-br"$/);
    assert.deepEqual(
      new Uint8Array(brotliDecompressSync(
        new Uint8Array(await br.arrayBuffer()),
      )),
      raw,
    );
    const plain = await get("/css/long.css");
    assert.equal(plain.headers.get("content-encoding"), null);
    assert.deepEqual(new Uint8Array(await plain.arrayBuffer()), raw);
    const small = await get("/css/app.css", ae("br"));
    assert.equal(small.headers.get("content-encoding"), null);
    assert.equal(small.headers.get("vary"), null);
    await small.body?.cancel();

    // Edited after the build: served as it is now, uncompressed.
    const statics = await StaticFiles.load(`${FIXTURE_DIR}/static`, {
      dir: `${outDir}/static`,
      files: { "/css/long.css": { sha1: "0".repeat(40), codings: ["br"] } },
    });
    const stale = await statics.serve(
      new Request("http://x/css/long.css", ae("br")),
      new URL("http://x/css/long.css"),
      snap.buildId,
    );
    assert.equal(stale.headers.get("content-encoding"), null);
    assert.deepEqual(new Uint8Array(await stale.arrayBuffer()), raw);
  } finally {
    await Deno.remove(outDir, { recursive: true });
  }
});

Deno.test("encodedResponse: a 304 keeps Vary, ETag and Content-Encoding; a missing copy is skipped", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/a.js`, "x".repeat(1000));
    await Deno.writeTextFile(`${dir}/a.js.gz`, "pretend-gzip");
    const file = await loadEncodedFile(
      `${dir}/a.js`,
      ["br", "gzip"],
      (c) => `${dir}/a.js${c === "br" ? ".br" : ".gz"}`,
    );
    assert.deepEqual(Object.keys(file.coded), ["gzip"], "missing br skipped");
    const res = encodedResponse(
      new Request("http://x/", {
        headers: {
          "accept-encoding": "br, gzip",
          "if-none-match": `W/${file.etag.slice(0, -1)}-gzip"`,
        },
      }),
      file,
      new Headers(),
    );
    assert.equal(res.status, 304);
    assert.equal(res.headers.get("vary"), "Accept-Encoding");
    assert.equal(res.headers.get("content-encoding"), "gzip");
    assert.equal(res.headers.get("content-length"), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("modulepreload: every chunk an island page loads, each once, all served", async () => {
  const outDir = await buildFixture();
  try {
    const snap = JSON.parse(
      await Deno.readTextFile(`${outDir}/snapshot.json`),
    ) as Snapshot;
    // Merging left a graph whose every static import is a built file.
    for (const [f, deps] of Object.entries(snap.imports ?? {})) {
      assert.ok(snap.files.includes(f), f);
      for (const d of deps) assert.ok(snap.files.includes(d), `${f} → ${d}`);
    }
    for (const f of snap.files) {
      const code = await Deno.readTextFile(`${outDir}/js/${f}`);
      for (const m of code.matchAll(/(?:from|import)\s*"([^"]+)"/g)) {
        const dep = new URL(m[1], `file:///${f}`).pathname.slice(1);
        assert.ok(snap.files.includes(dep), `${f} imports ${m[1]}`);
      }
    }
    const get = await fixture({ build: { outDir } });
    const html = await (await get("/islands")).text();
    const links = [
      ...html.matchAll(/<link rel="modulepreload" href="([^"]+)" nonce="/g),
    ].map((m) => m[1]);
    const head = html.slice(0, html.indexOf("</head>"));
    assert.ok(links.length >= 2);
    assert.equal(new Set(links).size, links.length, "each chunk once");
    for (const l of links) assert.ok(head.includes(l), `${l} is in <head>`);
    const want = new Set<string>();
    const visit = (f: string) => {
      if (want.has(f)) return;
      want.add(f);
      (snap.imports?.[f] ?? []).forEach(visit);
    };
    visit(snap.boot);
    visit(snap.islands.counter_default);
    assert.deepEqual(
      links.map((l) => l.replace(`/_frsh/js/${snap.buildId}/`, "")).sort(),
      [...want].sort(),
    );
    for (const l of links) {
      const res = await get(l);
      assert.equal(res.status, 200, l);
      await res.body?.cancel();
    }
    // Pages without islands preload nothing.
    const plain = await (await get("/about")).text();
    assert.ok(!plain.includes("modulepreload"));
  } finally {
    await Deno.remove(outDir, { recursive: true });
  }
});

Deno.test("memoKey: the same key reuses the render, with a fresh nonce and state id", async () => {
  const outDir = await buildFixture();
  try {
    const get = await fixture({ build: { outDir } });
    const read = async (path: string) => {
      const res = await get(path);
      const html = await res.text();
      const csp = res.headers.get("content-security-policy")!;
      const nonce = csp.match(/'nonce-([0-9a-f]{32})'/)![1];
      const state = html.match(/id="(__FRSH_STATE_[0-9a-f-]{36})"/)![1];
      return { res, html, nonce, state, renders: text(html, "renders") };
    };
    const a = await read("/memo?label=one");
    const b = await read("/memo?label=one");
    assert.equal(b.renders, a.renders, "the page did not run again");
    assert.equal(b.res.headers.get("x-memo"), "1");
    assert.equal(b.res.status, 200);
    assert.notEqual(b.nonce, a.nonce, "a fresh nonce per response");
    assert.notEqual(b.state, a.state, "a fresh state id per response");
    for (const r of [a, b]) {
      const nonces = [...r.html.matchAll(/nonce="([^"]+)"/g)].map((m) => m[1]);
      assert.ok(nonces.length >= 3, "scripts and modulepreload links");
      assert.ok(nonces.every((n) => n === r.nonce), "each its own nonce");
      assert.ok(r.html.includes(`boot("${r.state}"`));
    }
    // Apart from nonce and state id, the same bytes.
    const plain = (r: typeof a) =>
      r.html.replaceAll(r.nonce, "N").replaceAll(r.state, "S");
    assert.equal(plain(b), plain(a));
    // Another key, or none: rendered anew.
    const c = await read("/memo?label=two");
    assert.equal(Number(c.renders), Number(a.renders) + 1);
    assert.ok(c.html.includes('data-label="two"'));
    const d = await read("/memo?label=one&nomemo");
    assert.equal(Number(d.renders), Number(c.renders) + 1);
  } finally {
    await Deno.remove(outDir, { recursive: true });
  }
});
