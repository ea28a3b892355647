// Hydration in a real Chromium (puppeteer-core): islands come alive, share a
// signal, keep their server children, and the page logs no errors.

import assert from "node:assert/strict";
import puppeteer from "puppeteer-core";
import { createHandler } from "$fresh/server.ts";
import manifest from "./fixture/fresh.gen.ts";
import { buildFixture } from "./helpers.ts";

const CHROMIUM = "/usr/bin/chromium";

Deno.test("islands hydrate in Chromium", async () => {
  const outDir = await buildFixture();
  const profile = await Deno.makeTempDir({ prefix: "fresh-chromium-" });
  const handler = await createHandler(manifest, { build: { outDir } });
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    handler,
  );
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      `--user-data-dir=${profile}`,
    ],
  });
  try {
    const errors: string[] = [];
    const page = await browser.newPage();
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    const base = `http://127.0.0.1:${server.addr.port}`;

    for (const path of ["/islands", "/csp"]) {
      await page.goto(base + path, { waitUntil: "load" });
      await page.waitForFunction(() =>
        [...document.querySelectorAll(".where")].every((e) =>
          e.textContent === "browser"
        )
      );
    }
    assert.deepEqual(errors, []);

    await page.goto(`${base}/islands`, { waitUntil: "load" });
    await page.waitForFunction(() =>
      [...document.querySelectorAll(".where")].every((e) =>
        e.textContent === "browser"
      )
    );
    const labels = () =>
      page.$$eval(".counter > button", (els) => els.map((e) => e.textContent));
    assert.deepEqual(await labels(), ["first: 3", "second: 3"]);
    await page.click('.counter[data-label="first"] > button');
    await page.waitForFunction(() =>
      document.querySelector('.counter[data-label="second"] > button')
        ?.textContent ===
        "second: 4"
    );
    assert.deepEqual(await labels(), ["first: 4", "second: 4"]);
    // server children survive inside the island; markup unchanged otherwise
    assert.equal(
      await page.$eval("#slot-child", (e) => e.textContent),
      "server child",
    );
    assert.equal(await page.$$eval(".counter", (els) => els.length), 2);
    assert.equal(await page.$$eval("b.badge", (els) => els.length), 3);
    assert.equal(
      await page.$eval(
        '.counter[data-label="first"] .bytes',
        (e) => e.textContent,
      ),
      "3",
    );
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.shutdown();
    await Deno.remove(outDir, { recursive: true });
    await Deno.remove(profile, { recursive: true });
  }
});
