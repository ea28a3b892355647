/**
 * Key continuity on the caller's side: the first call pins the handle's
 * wallet key in this browser; a different key later stops the call with a
 * warning the person must accept. The page shows a safety number to compare.
 */
import assert from "node:assert/strict";
import { base58 } from "@scure/base";
import { safetyNumber } from "@/lib/identity/safety_number.ts";
import { launchBrowser, waitForText } from "../_helpers/browser.ts";
import { pressCall, receiveCalls, signUp } from "../_helpers/people.ts";
import { startAppServer } from "../_helpers/server.ts";

Deno.test({
  name:
    "pinning: the first call pins the key; a changed key must be accepted; the safety number matches",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using server = await startAppServer();
    await using b1 = await launchBrowser();
    await using b2 = await launchBrowser();
    const bob = await signUp(b1.browser, server.origin, "bob_pin");
    await receiveCalls(bob, "bob_pin");
    const profile = await (await fetch(`${server.origin}/handles/bob_pin`))
      .json();

    const alice = await b2.browser.newPage();
    await alice.goto(server.origin + "/@bob_pin", { waitUntil: "load" });
    const shown = await alice.$eval(".safety-number", (el) => el.textContent);
    assert.equal(
      shown,
      await safetyNumber("bob_pin", base58.decode(profile.walletPubkey)),
    );

    // First call: no warning, and the key is pinned.
    await pressCall(alice, "bob_pin");
    await waitForText(alice, ".call .status", "Ringing @bob_pin");
    await alice.click("xpath/.//button[normalize-space(.)='Cancel']");
    const pins = await alice.evaluate(() => localStorage.getItem("reach.pins"));
    assert.deepEqual(JSON.parse(pins!), { bob_pin: profile.walletPubkey });

    // Pretend this browser once called @bob_pin under another key.
    await alice.evaluate(() =>
      localStorage.setItem(
        "reach.pins",
        JSON.stringify({ bob_pin: "11111111111111111111111111111111" }),
      )
    );
    await alice.reload({ waitUntil: "load" });
    await pressCall(alice, "bob_pin");
    await waitForText(alice, ".key-warning", "key has changed");
    await alice.click("xpath/.//button[normalize-space(.)='Cancel']");
    await pressCall(alice, "bob_pin");
    const accept = await alice.waitForSelector(
      "xpath/.//button[normalize-space(.)='Accept the new key and call']",
    );
    await accept!.click();
    await waitForText(alice, ".call .status", "Ringing @bob_pin");
    const after = await alice.evaluate(() =>
      localStorage.getItem("reach.pins")
    );
    assert.deepEqual(JSON.parse(after!), { bob_pin: profile.walletPubkey });
  },
});
