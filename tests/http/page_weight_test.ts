import assert from "node:assert/strict";
import { pageJsWeight } from "../_helpers/js_weight.ts";
import { testApp } from "../_helpers/app.ts";
import { newWallet } from "../_helpers/wallet.ts";

/** The budget: the public page ships at most 20 KB of gzipped JS. */
const BUDGET = 20 * 1024;

Deno.test("page weight: /@handle loads at most 20 KB of gzipped JavaScript", async () => {
  await using app = await testApp();
  const c = app.client();
  await c.signIn(newWallet());
  await c.json("/api/handles", { method: "POST", body: { handle: "weigh" } });
  const html = await (await c.request("/@weigh")).text();
  const weight = await pageJsWeight(html, (p) => c.request(p));
  assert.ok(
    weight.files.some((f) => f.url.includes("Caller")),
    "the Call island is counted",
  );
  assert.ok(weight.files.length >= 3, "boot, island and shared chunks");
  assert.ok(
    weight.initialGzip <= BUDGET,
    `/@handle loads ${weight.initialGzip} bytes of gzipped JS, over ${BUDGET}`,
  );
  // What the server actually sends a browser that accepts brotli: every file
  // that loads with the page, precompressed, within the same budget.
  let brotli = 0;
  for (const f of weight.files.filter((f) => !f.lazy)) {
    const res = await c.request(f.url, {
      headers: { "accept-encoding": "gzip, deflate, br" },
    });
    const body = new Uint8Array(await res.arrayBuffer());
    assert.equal(res.headers.get("content-length"), String(body.length));
    if (f.bytes >= 512) {
      assert.equal(res.headers.get("content-encoding"), "br", f.url);
      assert.equal(res.headers.get("vary"), "Accept-Encoding", f.url);
      assert.ok(body.length < f.gzip, `${f.url}: brotli beats gzip -6`);
    }
    brotli += body.length;
  }
  assert.ok(
    brotli <= BUDGET,
    `/@handle loads ${brotli} bytes of brotli-coded JS, over ${BUDGET}`,
  );
  assert.ok(brotli < weight.initialGzip, "brotli is smaller than gzip");
  // The voicemail recorder and sealing code come only when a voicemail is left.
  const lazy = weight.files.filter((f) => f.lazy).map((f) => f.url);
  assert.ok(
    lazy.some((u) => u.includes("VoicemailRecorder")),
    "recorder is lazy",
  );
});
