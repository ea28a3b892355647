/**
 * In Chromium: an owner binds a number with the development SMS provider
 * (the code comes from the server's console, as it would for a developer),
 * opts in to being found, and another signed-in person finds @handle by
 * that number. The server's output never holds the number.
 */
import assert from "node:assert/strict";
import { launchBrowser, waitForText } from "../_helpers/browser.ts";
import { signUp } from "../_helpers/people.ts";
import { startAppServer } from "../_helpers/server.ts";

Deno.test({
  name:
    "phone: bind a number in the browser, opt in, and be found from another account",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using server = await startAppServer();
    await using b1 = await launchBrowser();
    await using b2 = await launchBrowser();
    const ann = await signUp(b1.browser, server.origin, "ann_e2e_phone");
    await ann.waitForSelector("#phone-number:enabled");
    await ann.type("#phone-number", "+33 6 12 34 56 78");
    await ann.click("xpath/.//button[normalize-space(.)='Send code']");
    await waitForText(ann, ".phone .status", "We sent a 6-digit code");
    const code = /\[reach dev sms\] code for [^:]+: (\d{6})/.exec(
      server.output(),
    )?.[1];
    assert.ok(code, "the dev provider printed the code");
    await ann.type("#phone-code", code);
    await ann.click("xpath/.//button[normalize-space(.)='Verify']");
    await waitForText(ann, ".phone", "Bound number: +33");
    await waitForText(ann, ".phone .masked", "78");
    const toggle = await ann.waitForSelector(".phone .switch input:enabled");
    await toggle!.click();
    await ann.waitForFunction(
      () =>
        (document.querySelector(".phone .switch input") as HTMLInputElement)
          ?.checked,
      { polling: 50 },
    );

    const bob = await signUp(b2.browser, server.origin, "bob_e2e_phone");
    await bob.waitForSelector("#find-phones:enabled");
    await bob.type("#find-phones", "+33612345678\n+44 7911 123456");
    await bob.click("xpath/.//button[normalize-space(.)='Find on Reach']");
    await waitForText(bob, ".matches", "@ann_e2e_phone");

    await server.stop();
    const out = server.output();
    assert.ok(
      !/612345678|6 12 34 56 78/.test(out),
      "the server never printed the number",
    );
  },
});
