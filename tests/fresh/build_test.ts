import assert from "node:assert/strict";
import { generateManifest } from "../../lib/fresh/src/manifest.ts";
import type { Snapshot } from "../../lib/fresh/src/snapshot.ts";
import { buildFixture, fixture, FIXTURE_DIR, scripts } from "./helpers.ts";

Deno.test("fresh.gen.ts is deterministic, complete and fmt-clean", async () => {
  const text = await generateManifest(FIXTURE_DIR);
  assert.equal(text, await generateManifest(FIXTURE_DIR));
  assert.equal(text, await Deno.readTextFile(`${FIXTURE_DIR}/fresh.gen.ts`));
  assert.ok(text.includes('"./routes/@[handle].tsx": $__handle_,'));
  assert.ok(text.includes('"./islands/Counter.tsx": $Counter,'));
  assert.ok(!text.includes("index_test"));
  assert.ok(text.includes("baseUrl: import.meta.url,\n} satisfies Manifest;"));
  const fmt = await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--check", "fresh.gen.ts"],
    cwd: FIXTURE_DIR,
    stdout: "null",
    stderr: "null",
  }).output();
  assert.ok(fmt.success, "deno fmt --check fresh.gen.ts");
});

Deno.test("dev.ts manifest: writes fresh.gen.ts and stops", async () => {
  const dir = await Deno.makeTempDir({ dir: FIXTURE_DIR, prefix: ".tmp-app-" });
  try {
    await Deno.mkdir(`${dir}/routes/b`, { recursive: true });
    await Deno.mkdir(`${dir}/islands`);
    await Deno.writeTextFile(
      `${dir}/routes/index.tsx`,
      "export default () => <p />;\n",
    );
    await Deno.writeTextFile(
      `${dir}/routes/b/[id].tsx`,
      "export default () => <p />;\n",
    );
    await Deno.writeTextFile(`${dir}/routes/b/x_test.ts`, "export {};\n");
    // A path long enough that its manifest entry must be wrapped.
    const deep = "routes/api/me/voicemail_messages/[voicemailCallId]";
    await Deno.mkdir(`${dir}/${deep}`, { recursive: true });
    await Deno.writeTextFile(`${dir}/${deep}/mark_as_read.ts`, "export {};\n");
    await Deno.writeTextFile(
      `${dir}/islands/Hi.tsx`,
      "export default () => <p />;\n",
    );
    await Deno.writeTextFile(
      `${dir}/dev.ts`,
      `import dev from "$fresh/dev.ts";\nawait dev(import.meta.url, "./main.ts");\n`,
    );
    const res = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "dev.ts", "manifest"],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(res.success, new TextDecoder().decode(res.stderr));
    const gen = await Deno.readTextFile(`${dir}/fresh.gen.ts`);
    assert.ok(gen.includes('import * as $b__id_ from "./routes/b/[id].tsx";'));
    assert.ok(gen.includes('import * as $Hi from "./islands/Hi.tsx";'));
    assert.ok(!gen.includes("x_test"));
    const fmt = await new Deno.Command(Deno.execPath(), {
      args: ["fmt", "--check", "fresh.gen.ts"],
      cwd: dir,
      stdout: "null",
      stderr: "null",
    }).output();
    assert.ok(fmt.success, "the written manifest is deno-fmt clean");
    assert.ok(gen.includes("[voicemailCallId]/mark_as_read.ts"));
    // stopped before building: no _fresh folder
    await assert.rejects(Deno.stat(`${dir}/_fresh`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dev.ts build: snapshot + chunks served immutable under /_frsh/js/<BUILD_ID>/", async () => {
  const outDir = await buildFixture();
  try {
    const snap = JSON.parse(
      await Deno.readTextFile(`${outDir}/snapshot.json`),
    ) as Snapshot;
    assert.match(snap.buildId, /^[0-9a-f]{40}$/);
    assert.equal(snap.boot, "lib/fresh/src/client/boot.js");
    assert.deepEqual(Object.keys(snap.islands).sort(), [
      "counter_badge",
      "counter_default",
    ]);
    assert.equal(
      snap.islands.counter_default,
      "tests/fresh/fixture/islands/Counter.js",
    );
    for (const f of snap.files) await Deno.stat(`${outDir}/js/${f}`);
    assert.ok(
      snap.files.some((f) => /^chunk-[A-Z0-9]+\.js$/.test(f)),
      "shared chunk",
    );

    const get = await fixture({ build: { outDir } });
    for (const file of snap.files) {
      const res = await get(`/_frsh/js/${snap.buildId}/${file}`);
      assert.equal(res.status, 200, file);
      assert.equal(
        res.headers.get("cache-control"),
        "public, max-age=31536000, immutable",
      );
      assert.equal(
        res.headers.get("content-type"),
        "text/javascript; charset=utf-8",
      );
      assert.equal(
        await res.text(),
        await Deno.readTextFile(`${outDir}/js/${file}`),
      );
    }
    const island = await (await get(
      `/_frsh/js/${snap.buildId}/${snap.islands.counter_default}`,
    )).text();
    assert.match(island, /export\s*\{/);
    for (
      const bad of [
        `/_frsh/js/${"0".repeat(40)}/${snap.boot}`,
        `/_frsh/js/${snap.buildId}/nope.js`,
        `/_frsh/js/${snap.buildId}/../snapshot.json`,
      ]
    ) {
      const res = await get(bad);
      assert.equal(res.status, 404, bad);
      await res.body?.cancel();
    }
    // asset() uses the snapshot's build id
    const html = await (await get("/islands")).text();
    assert.ok(html.includes(`/css/app.css?__frsh_c=${snap.buildId}`));
  } finally {
    await Deno.remove(outDir, { recursive: true });
  }
});

Deno.test("csp: true → policy header with the nonce of every framework script", async () => {
  const outDir = await buildFixture();
  try {
    const get = await fixture({ build: { outDir } });
    const res = await get("/csp");
    const policy = res.headers.get("content-security-policy")!;
    const html = await res.text();
    const tags = scripts(html);
    assert.equal(tags.length, 2);
    const nonce = tags[0].match(/nonce="([0-9a-f]{32})"/)![1];
    assert.ok(tags.every((t) => t.includes(`nonce="${nonce}"`)));
    assert.equal(
      policy,
      `default-src 'none'; style-src 'unsafe-inline'; script-src 'self' 'nonce-${nonce}'; frame-ancestors 'none'; img-src 'self'`,
    );
    // a fresh nonce per response
    const again = await get("/csp");
    assert.notEqual(again.headers.get("content-security-policy"), policy);
    await again.body?.cancel();
    // pages without config.csp send no policy
    const plain = await get("/islands");
    assert.equal(plain.headers.get("content-security-policy"), null);
    await plain.body?.cancel();
  } finally {
    await Deno.remove(outDir, { recursive: true });
  }
});

Deno.test("production server runs with --allow-net --allow-env --allow-read only", async () => {
  const outDir = await buildFixture();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "--allow-read", "main.ts"],
    cwd: FIXTURE_DIR,
    env: { FIXTURE_OUT_DIR: outDir, PORT: "0" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let out = "";
    let url: string | undefined;
    while (!url) {
      const { value, done } = await reader.read();
      if (done) break;
      out += value;
      url = out.match(/Listening on (http:\/\/\S+)/)?.[1];
    }
    reader.releaseLock();
    assert.ok(url, out);
    const snap = JSON.parse(
      await Deno.readTextFile(`${outDir}/snapshot.json`),
    ) as Snapshot;
    const page = await fetch(new URL("/islands", url));
    const html = await page.text();
    assert.equal(page.status, 200);
    assert.ok(html.includes(`/_frsh/js/${snap.buildId}/${snap.boot}`));
    const chunk = await fetch(
      new URL(`/_frsh/js/${snap.buildId}/${snap.boot}`, url),
    );
    assert.equal(chunk.status, 200);
    await chunk.body?.cancel();
  } finally {
    child.kill();
    await child.status;
    await child.stdout.cancel().catch(() => {});
    await child.stderr.cancel();
    await Deno.remove(outDir, { recursive: true });
  }
});
