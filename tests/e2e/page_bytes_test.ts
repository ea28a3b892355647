/**
 * What a real browser downloads to open `/@handle`: headless Chromium with an
 * empty cache, counting what the network layer received for every script
 * (CDP `Network.loadingFinished.encodedDataLength`: compressed body plus
 * response headers) until the Call island has hydrated.
 *
 * - at most 20 KB of JavaScript on the wire (the budget);
 * - every script came compressed (brotli: Chromium offers br on http too);
 * - every chunk that loads with the page is named in the HTML by
 *   `<link rel="modulepreload">`, so the browser asks for all of them at
 *   once (no request waits for another chunk to arrive first), and none is
 *   fetched twice.
 */
import assert from "node:assert/strict";
import { collectErrors, launchBrowser } from "../_helpers/browser.ts";
import { startAppServer } from "../_helpers/server.ts";
import { newWallet, signOffer } from "../_helpers/wallet.ts";

/** The budget, as tests/http/page_weight_test.ts counts it. */
const BUDGET = 20 * 1024;

/** Signs a new wallet in over HTTP and claims `handle`. */
async function claim(origin: string, handle: string): Promise<void> {
  const o = { origin };
  const offer = await (await fetch(`${origin}/api/auth/nonce`, {
    method: "POST",
    headers: o,
  })).json();
  const verify = await fetch(`${origin}/api/auth/verify`, {
    method: "POST",
    headers: { ...o, "content-type": "application/json" },
    body: JSON.stringify(signOffer(newWallet(), offer)),
  });
  const cookie = verify.headers.get("set-cookie")!.split(";")[0];
  await verify.body?.cancel();
  const res = await fetch(`${origin}/api/handles`, {
    method: "POST",
    headers: { ...o, cookie, "content-type": "application/json" },
    body: JSON.stringify({ handle }),
  });
  assert.equal(res.status, 201, await res.text());
}

interface Script {
  url: string;
  encoding: string;
  bytes: number;
  status: number;
  initiator: string;
  started: number;
  finished: number;
}

Deno.test({
  name:
    "page bytes: /@handle loads at most 20 KB of JavaScript, compressed, preloaded",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using server = await startAppServer();
    await claim(server.origin, "bytes_e2e");
    await using tb = await launchBrowser();
    const page = await tb.browser.newPage();
    const errors = collectErrors(page);
    const cdp = await page.createCDPSession();
    await cdp.send("Network.enable");
    await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });

    const scripts = new Map<string, Script>();
    cdp.on("Network.requestWillBeSent", (e) => {
      if (!e.request.url.includes("/_frsh/js/")) return;
      scripts.set(e.requestId, {
        url: new URL(e.request.url).pathname,
        encoding: "",
        bytes: -1,
        status: 0,
        initiator: e.initiator.type,
        started: e.timestamp,
        finished: 0,
      });
    });
    cdp.on("Network.responseReceived", (e) => {
      const s = scripts.get(e.requestId);
      if (!s) return;
      const h = Object.fromEntries(
        Object.entries(e.response.headers).map(([k, v]) => [
          k.toLowerCase(),
          v,
        ]),
      );
      s.encoding = h["content-encoding"] ?? "identity";
      s.status = e.response.status;
    });
    cdp.on("Network.loadingFinished", (e) => {
      const s = scripts.get(e.requestId);
      if (!s) return;
      s.bytes = e.encodedDataLength;
      s.finished = e.timestamp;
    });

    await page.goto(server.origin + "/@bytes_e2e", { waitUntil: "load" });
    // Hydrated: the island enables its Call button.
    await page.waitForSelector(
      "xpath/.//button[contains(., 'Call @bytes_e2e') and not(@disabled)]",
    );
    await page.waitForNetworkIdle({ idleTime: 200 });

    const html = await page.content();
    const preloaded = [
      ...html.matchAll(/<link rel="modulepreload" href="([^"]+)"/g),
    ].map((m) => m[1]);
    const loaded = [...scripts.values()];
    const total = loaded.reduce((a, s) => a + s.bytes, 0);
    const rows = loaded.map((s) =>
      `${s.url.replace(/^\/_frsh\/js\/[0-9a-f]+\//, "")} ${s.status} ` +
      `${s.encoding} ${s.bytes} B (${s.initiator})`
    );
    console.log(
      `/@handle: ${loaded.length} scripts, ${total} bytes received\n  ` +
        rows.join("\n  "),
    );

    assert.ok(loaded.length >= 3, "boot, island and shared chunks");
    assert.ok(
      loaded.every((s) => s.status === 200 && s.bytes > 0),
      rows.join("\n"),
    );
    assert.ok(
      total <= BUDGET,
      `Chromium received ${total} bytes of JavaScript, over ${BUDGET}`,
    );
    for (const s of loaded) {
      assert.equal(s.encoding, "br", `${s.url} came compressed`);
    }
    // Fetched once each, and every one of them was preloaded from the HTML.
    const urls = loaded.map((s) => s.url);
    assert.equal(new Set(urls).size, urls.length, "no chunk fetched twice");
    assert.deepEqual([...urls].sort(), [...preloaded].sort());
    // So all requests go out before the first script has arrived.
    const firstDone = Math.min(...loaded.map((s) => s.finished));
    const lastStart = Math.max(...loaded.map((s) => s.started));
    assert.ok(
      lastStart <= firstDone,
      "every chunk was requested before any of them arrived",
    );
    assert.deepEqual(errors, [], "no errors in the browser console");
  },
});
