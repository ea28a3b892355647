/**
 * In Chromium: Bob binds a number with the development SMS provider (the code
 * comes from the server's console, as it would for a developer) and lets
 * himself be found; Alice, signed in elsewhere, finds @bob by his number.
 * Alice's browser blinds the numbers and matches them itself: every request
 * her page sends is recorded (URL and body), and none holds any of the
 * numbers she looked for, in any common encoding. Looking again spends no
 * evaluation. The server's output never holds the number either.
 */
import assert from "node:assert/strict";
import type { HTTPRequest } from "puppeteer-core";
import { launchBrowser, waitForText } from "../_helpers/browser.ts";
import { signUp } from "../_helpers/people.ts";
import { startAppServer } from "../_helpers/server.ts";

const BOBS = "+33612345678";
const OTHER = "+447911123456";

/** The ways a number could travel: digits, E.164, spaced, encoded. */
function encodings(e164: string, typed: string): string[] {
  const digits = e164.slice(1);
  const bytes = (s: string) => new TextEncoder().encode(s);
  const b64 = (s: string) => bytes(s).toBase64();
  const b64u = (s: string) =>
    bytes(s).toBase64({ alphabet: "base64url", omitPadding: true });
  const forms = [
    e164,
    digits,
    typed,
    typed.replaceAll(" ", ""),
    e164.slice(3), // national digits (country codes here are two digits)
    e164.slice(3, 8), // any 5-digit run of them
    e164.slice(-6),
    encodeURIComponent(e164),
    encodeURIComponent(typed),
  ];
  for (const s of [e164, digits, typed]) {
    forms.push(
      b64(s),
      b64u(s),
      b64(s).replace(/=+$/, ""),
      bytes(s).toHex(),
      bytes(s).toHex().toUpperCase(),
    );
  }
  return forms;
}

Deno.test({
  name:
    "phone: Bob binds a number and opts in; Alice's browser finds him without sending the number",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using server = await startAppServer();
    await using b1 = await launchBrowser();
    await using b2 = await launchBrowser();
    const bob = await signUp(b1.browser, server.origin, "bob_e2e_phone");
    await bob.waitForSelector("#phone-number:enabled");
    await bob.type("#phone-number", "+33 6 12 34 56 78");
    await bob.click("xpath/.//button[normalize-space(.)='Send code']");
    await waitForText(bob, ".phone .status", "We sent a 6-digit code");
    const code = /\[reach dev sms\] code for [^:]+: (\d{6})/.exec(
      server.output(),
    )?.[1];
    assert.ok(code, "the dev provider printed the code");
    await bob.type("#phone-code", code);
    await bob.click("xpath/.//button[normalize-space(.)='Verify']");
    await waitForText(bob, ".phone", "Bound number: +33");
    await waitForText(bob, ".phone .masked", "78");
    const toggle = await bob.waitForSelector(".phone .switch input:enabled");
    await toggle!.click();
    await bob.waitForFunction(
      () =>
        (document.querySelector(".phone .switch input") as HTMLInputElement)
          ?.checked,
      { polling: 50 },
    );

    const alice = await signUp(b2.browser, server.origin, "alice_e2e_phone");
    // From here on, every request Alice's page sends.
    const sent: { url: string; method: string; body: string }[] = [];
    const pending: Promise<void>[] = [];
    alice.on("request", (req: HTTPRequest) => {
      pending.push((async () => {
        let body = req.postData() ?? "";
        if (!body && req.hasPostData()) {
          body = (await req.fetchPostData()) ?? "";
        }
        sent.push({ url: req.url(), method: req.method(), body });
      })());
    });
    await alice.waitForSelector("#find-phones:enabled");
    const typed = ["+33 6 12 34 56 78", "+44 7911 123456"];
    await alice.type("#find-phones", typed.join("\n"));
    await alice.click("xpath/.//button[normalize-space(.)='Find on Reach']");
    await waitForText(alice, ".matches", "@bob_e2e_phone");
    await waitForText(alice, ".matches", BOBS);
    const evaluations = () =>
      sent.filter((r) => r.url.includes("/api/me/discover/evaluate")).length;
    assert.equal(evaluations(), 1, "both numbers in one batch");

    // Again: the outputs are kept, so nothing is evaluated.
    const directoryFetches = () =>
      sent.filter((r) => r.url.includes("/api/discover/directory")).length;
    const before = directoryFetches();
    await alice.click("xpath/.//button[normalize-space(.)='Find on Reach']");
    while (directoryFetches() === before) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await alice.waitForFunction(
      () => !document.querySelector(".find .status"),
      { polling: 50 },
    );
    await waitForText(alice, ".matches", "@bob_e2e_phone");
    assert.equal(evaluations(), 1, "no new evaluation");

    await Promise.all(pending);
    const posts = sent.filter((r) => r.method !== "GET");
    assert.ok(
      posts.some((r) => r.body.includes('"blinded"')),
      "the blinded elements were recorded",
    );
    const forms = [
      ...encodings(BOBS, typed[0]),
      ...encodings(OTHER, typed[1]),
    ];
    for (const r of sent) {
      for (const f of forms) {
        assert.ok(
          !r.url.includes(f) && !r.body.includes(f),
          `${r.method} ${r.url} carried ${f}`,
        );
      }
    }
    // The old endpoint is not used.
    assert.ok(!sent.some((r) => new URL(r.url).pathname === "/api/discover"));

    await server.stop();
    const out = server.output();
    assert.ok(
      !/612345678|6 12 34 56 78|7911123456/.test(out),
      "the server never printed the number",
    );
  },
});
