/**
 * A person's whole first visit, in real headless Chromium against a real
 * server process: sign in with a browser key, claim a handle, brand the page,
 * open /@handle and see it, and press Call (proving the island hydrated).
 */
import assert from "node:assert/strict";
import type { Page } from "puppeteer-core";
import {
  collectErrors,
  launchBrowser,
  waitForText,
} from "../_helpers/browser.ts";
import { startAppServer } from "../_helpers/server.ts";

/** Replaces a field's text the way a person does: select all, type over it. */
async function fill(page: Page, selector: string, value: string) {
  await page.click(selector);
  await page.$eval(selector, (el) => (el as HTMLInputElement).select());
  await page.keyboard.press("Backspace");
  await page.type(selector, value);
}

Deno.test({
  name: "browser: browser-key sign-in, claim, brand, public page, Call island",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using server = await startAppServer();
    await using tb = await launchBrowser();
    const page = await tb.browser.newPage();
    const errors = collectErrors(page);

    await page.goto(server.origin + "/", { waitUntil: "load" });
    // The island hydrates: the browser-key button becomes usable and works.
    const keyButton = await page.waitForSelector(
      "xpath/.//button[contains(., 'Continue with a browser key') and not(@disabled)]",
    );
    await Promise.all([
      page.waitForNavigation({ waitUntil: "load" }),
      keyButton!.click(),
    ]);
    assert.equal(new URL(page.url()).pathname, "/me");

    // The private key is in IndexedDB and cannot be exported.
    const extractable = await page.evaluate(() =>
      new Promise<boolean | null>((resolve, reject) => {
        const req = indexedDB.open("reach", 1);
        req.onerror = () => reject(req.error);
        req.onsuccess = () => {
          const get = req.result.transaction("keys").objectStore("keys").get(
            "browser-key",
          );
          get.onsuccess = () =>
            resolve(get.result ? get.result.privateKey.extractable : null);
        };
      })
    );
    assert.equal(extractable, false);

    // Claim a handle: a bad one first shows a clear message, nothing is lost.
    await page.waitForSelector("#claim-handle:not([disabled])");
    await page.type("#claim-handle", "no");
    await waitForText(page, "#claim-help", "3 to 30 characters");
    await page.type("#claim-handle", "ra_e2e");
    await Promise.all([
      page.waitForNavigation({ waitUntil: "load" }),
      page.click("xpath/.//button[contains(., 'Claim handle')]"),
    ]);
    await page.waitForSelector("#pe-name:enabled");
    assert.ok((await page.content()).includes("@nora_e2e"));

    // Brand the page.
    await fill(page, "#pe-name", "Nora E2E");
    await fill(page, "#pe-greeting", "Hello from the browser test");
    await fill(page, "#pe-accent", "#aa2277");
    await page.click("xpath/.//button[contains(., 'Save profile')]");
    await waitForText(page, ".profile-editor .status", "Saved.");

    // The public page shows the brand, server-rendered, and its island works.
    await page.goto(server.origin + "/@nora_e2e", { waitUntil: "load" });
    const h1 = await page.$eval("h1", (el) => el.textContent);
    assert.equal(h1, "Nora E2E");
    assert.ok((await page.content()).includes("Hello from the browser test"));
    const avatarBg = await page.$eval(
      ".avatar",
      (el) => getComputedStyle(el).backgroundColor,
    );
    assert.equal(avatarBg, "rgb(170, 34, 119)");
    const call = await page.waitForSelector(
      "xpath/.//button[contains(., 'Call @nora_e2e') and not(@disabled)]",
    );
    await call!.click();
    await waitForText(page, ".call .status", "not receiving calls");

    // The README's screenshot comes from this very page.
    const shot = Deno.env.get("REACH_SCREENSHOT");
    if (shot) {
      await page.setViewport({ width: 900, height: 640 });
      await page.screenshot({ path: shot as `${string}.png` });
    }
    assert.deepEqual(errors, [], "no errors in the browser console");
  },
});
