/**
 * The wallet path of the sign-in island, through a stand-in that speaks
 * Phantom's injected provider API (`window.phantom.solana`: connect,
 * signMessage), and the pages on a phone-sized screen in dark mode, driven
 * by keyboard.
 */
import assert from "node:assert/strict";
import {
  collectErrors,
  launchBrowser,
  waitForText,
} from "../_helpers/browser.ts";
import { startAppServer } from "../_helpers/server.ts";

/** A wallet double: Phantom's provider surface over a WebCrypto Ed25519 key. */
function injectWallet() {
  const B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
  const b58 = (bytes: Uint8Array) => {
    let n = 0n;
    for (const b of bytes) n = n * 256n + BigInt(b);
    let s = "";
    while (n > 0n) {
      s = B58[Number(n % 58n)] + s;
      n /= 58n;
    }
    for (const b of bytes) {
      if (b !== 0) break;
      s = "1" + s;
    }
    return s;
  };
  const pair = crypto.subtle.generateKey({ name: "Ed25519" }, false, [
    "sign",
    "verify",
  ]) as Promise<CryptoKeyPair>;
  const w = globalThis as unknown as Record<string, unknown>;
  const record = w.__recordSigned as (text: string, address: string) => void;
  let address = "";
  w.phantom = {
    solana: {
      isPhantom: true,
      async connect() {
        const raw = new Uint8Array(
          await crypto.subtle.exportKey("raw", (await pair).publicKey),
        );
        address = b58(raw);
        return { publicKey: { toBytes: () => raw } };
      },
      async signMessage(message: Uint8Array, display?: string) {
        record(`${display}:${new TextDecoder().decode(message)}`, address);
        const sig = await crypto.subtle.sign(
          { name: "Ed25519" },
          (await pair).privateKey,
          message as BufferSource,
        );
        return { signature: new Uint8Array(sig) };
      },
    },
  };
}

Deno.test({
  name: "browser: signing in with a Solana wallet provider",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using srv = await startAppServer();
    await using tb = await launchBrowser();
    const page = await tb.browser.newPage();
    const errors = collectErrors(page);
    const signed: { text: string; address: string }[] = [];
    await page.exposeFunction(
      "__recordSigned",
      (text: string, address: string) => signed.push({ text, address }),
    );
    await page.evaluateOnNewDocument(injectWallet);
    await page.goto(srv.origin + "/", { waitUntil: "load" });
    const button = await page.waitForSelector(
      "xpath/.//button[contains(., 'Sign in with a Solana wallet') and not(@disabled)]",
    );
    await Promise.all([
      page.waitForNavigation({ waitUntil: "load" }),
      button!.click(),
    ]);
    assert.equal(new URL(page.url()).pathname, "/me");
    assert.equal(signed.length, 1, "the wallet signed once");
    const { address } = signed[0];
    assert.ok(
      signed[0].text.startsWith(
        `utf8:localhost:${srv.port} wants you to sign in with your Solana account:\n${address}\n`,
      ),
      "the wallet was asked to sign the SIWS text for this origin",
    );
    const session = await page.evaluate(async () =>
      (await fetch("/api/auth/session")).json()
    );
    assert.equal(session.publicKey, address);
    assert.ok((await page.content()).includes(address));
    assert.deepEqual(errors, []);
  },
});

Deno.test({
  name: "browser: phone-sized, dark mode, keyboard only",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using srv = await startAppServer();
    await using tb = await launchBrowser();
    const page = await tb.browser.newPage();
    const errors = collectErrors(page);
    await page.setViewport({ width: 360, height: 740, deviceScaleFactor: 2 });
    await page.emulateMediaFeatures([
      { name: "prefers-color-scheme", value: "dark" },
    ]);
    // Sign in and claim with the keyboard alone.
    await page.goto(srv.origin + "/", { waitUntil: "load" });
    await page.waitForSelector(
      "xpath/.//button[contains(., 'Continue with a browser key') and not(@disabled)]",
    );
    await page.focus(
      "xpath/.//button[contains(., 'Continue with a browser key')]",
    );
    await Promise.all([
      page.waitForNavigation({ waitUntil: "load" }),
      page.keyboard.press("Enter"),
    ]);
    await page.waitForSelector("#claim-handle:enabled");
    await page.focus("#claim-handle");
    await page.keyboard.type("phone_user");
    await Promise.all([
      page.waitForNavigation({ waitUntil: "load" }),
      page.keyboard.press("Enter"),
    ]);
    await page.waitForSelector("#pe-name:enabled");

    for (
      const path of ["/", "/me", "/@phone_user", "/security", "/@nobody_x"]
    ) {
      await page.goto(srv.origin + path, { waitUntil: "load" });
      const m = await page.evaluate(() => ({
        scroll: document.documentElement.scrollWidth,
        width: innerWidth,
        bg: getComputedStyle(document.body).backgroundColor,
        fg: getComputedStyle(document.body).color,
      }));
      assert.ok(
        m.scroll <= m.width,
        `${path} fits a 360px screen (${m.scroll})`,
      );
      assert.equal(m.bg, "rgb(11, 16, 32)", `${path} is dark`);
      assert.equal(m.fg, "rgb(243, 244, 246)", `${path} text is light`);
    }

    // On the public page, Tab reaches the Call button and Enter presses it.
    await page.goto(srv.origin + "/@phone_user", { waitUntil: "load" });
    await page.waitForSelector("button.call-button:enabled");
    let focused = "";
    for (let i = 0; i < 10 && !focused.startsWith("Call @"); i++) {
      await page.keyboard.press("Tab");
      focused = await page.evaluate(() =>
        document.activeElement?.textContent ?? ""
      );
    }
    assert.equal(focused, "Call @phone_user");
    const outline = await page.evaluate(() =>
      getComputedStyle(document.activeElement!).outlineStyle
    );
    assert.equal(outline, "solid", "keyboard focus is visible");
    await page.keyboard.press("Enter");
    await waitForText(page, ".call .status", "not receiving calls");
    assert.deepEqual(errors, []);
  },
});
