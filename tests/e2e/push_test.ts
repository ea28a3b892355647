/**
 * Ring anywhere in Chromium (issue 12): the installable app, the service
 * worker, and calls that ring a browser with no Reach tab open.
 *
 * Reach runs in this process (tests/_helpers/push_browser.ts) so its pushes
 * go to the push-service double, which checks VAPID and decrypts each push
 * with the subscription's keys; the plaintext is then delivered to the
 * browser's service worker over CDP (`ServiceWorker.deliverPushMessage`),
 * the step a real push service and the browser's own decryption would do.
 * `pushManager.subscribe()` is stubbed in the page (it never settles without
 * a push service); everything else is the real page, worker and server.
 */
import assert from "node:assert/strict";
import type { Browser, Page, WebWorker } from "puppeteer-core";
import {
  collectErrors,
  launchBrowser,
  waitForText,
} from "../_helpers/browser.ts";
import { pressCall, signUp, waitForAudio } from "../_helpers/people.ts";
import {
  PushDelivery,
  type PushServer,
  serviceWorkerOf,
  shownNotifications,
  startPushServer,
  stubPushManager,
  waitForHandled,
} from "../_helpers/push_browser.ts";
import type { ActionResult } from "@/routes/sw.js.ts";

const SWITCH =
  "xpath/.//label[contains(., 'Ring this device even when Reach is closed')]/input[not(@disabled)]";
const ON = "This browser rings for your calls even when Reach is closed.";

/** Width and height from a PNG's IHDR. */
function pngSize(bytes: Uint8Array): [number, number] {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  assert.deepEqual([...bytes.subarray(0, 8)], sig, "a PNG signature");
  assert.equal(new TextDecoder().decode(bytes.subarray(12, 16)), "IHDR");
  const v = new DataView(bytes.buffer, bytes.byteOffset);
  return [v.getUint32(16), v.getUint32(20)];
}

/** Signs `handle` up and turns "Ring this device…" on (push stubbed). */
async function ringAnywhere(
  browser: Browser,
  server: PushServer,
  handle: string,
): Promise<Page> {
  await browser.defaultBrowserContext().overridePermissions(server.origin, [
    "notifications",
  ]);
  const page = await signUp(browser, server.origin, handle);
  await stubPushManager(page, server.double);
  await page.reload({ waitUntil: "load" });
  const toggle = await page.waitForSelector(SWITCH);
  await toggle!.click();
  await waitForText(page, ".push-state", ON);
  await waitForText(page, ".push-list", "Chrome on Linux (this browser)");
  return page;
}

Deno.test({
  name:
    "push: installable (manifest, icons, worker controls /me) and an offline shell",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using server = await startPushServer();
    await using bobBrowser = await launchBrowser();
    const { browser } = bobBrowser;
    const origin = server.origin;

    await t.step("the manifest and its icons", async () => {
      const res = await fetch(origin + "/manifest.webmanifest");
      assert.equal(res.status, 200);
      assert.match(
        res.headers.get("content-type")!,
        /^application\/manifest\+json/,
      );
      const m = await res.json();
      assert.equal(m.name, "Reach");
      assert.equal(m.short_name, "Reach");
      assert.equal(m.start_url, "/me");
      assert.equal(m.scope, "/");
      assert.equal(m.display, "standalone");
      assert.match(m.theme_color, /^#[0-9a-f]{6}$/);
      const sizes = m.icons.map((i: { sizes: string }) => i.sizes);
      assert.ok(sizes.includes("192x192") && sizes.includes("512x512"));
      assert.ok(
        m.icons.some((i: { purpose?: string }) => i.purpose === "maskable"),
        "a maskable icon",
      );
      for (const icon of m.icons) {
        const r = await fetch(origin + icon.src);
        assert.equal(r.status, 200, icon.src);
        assert.equal(r.headers.get("content-type"), icon.type);
        const [w, h] = pngSize(new Uint8Array(await r.arrayBuffer()));
        assert.equal(`${w}x${h}`, icon.sizes, `${icon.src} is ${icon.sizes}`);
      }
    });

    await t.step(
      "the worker script: JavaScript, its own CSP, no-cache",
      async () => {
        const res = await fetch(origin + "/sw.js");
        assert.equal(res.status, 200);
        assert.match(res.headers.get("content-type")!, /^text\/javascript/);
        assert.equal(res.headers.get("cache-control"), "no-cache");
        const csp = res.headers.get("content-security-policy")!;
        assert.match(csp, /connect-src 'self'/);
        assert.match(csp, /default-src 'none'/);
        assert.ok(!res.headers.has("service-worker-allowed"));
        await res.body?.cancel();
      },
    );

    const bob = await ringAnywhere(browser, server, "bob_install");
    const errors = collectErrors(bob);

    await t.step(
      "every page links the manifest; the CSP allows it and the worker",
      async () => {
        for (const path of ["/", "/me", "/security", "/offline"]) {
          const res = await fetch(origin + path);
          const html = await res.text();
          assert.match(
            html,
            /<link rel="manifest" href="\/manifest.webmanifest"\/?>/,
            path,
          );
          assert.match(html, /<meta name="theme-color" content="#[0-9a-f]{6}"/);
          const csp = res.headers.get("content-security-policy")!;
          assert.match(csp, /manifest-src 'self'/, path);
        }
        const me = await fetch(origin + "/me");
        await me.body?.cancel();
        assert.match(
          me.headers.get("content-security-policy")!,
          /worker-src 'self'/,
        );
        const cdp = await bob.createCDPSession();
        const manifest = await cdp.send("Page.getAppManifest");
        assert.deepEqual(manifest.errors, [], "Chromium parses the manifest");
        const { installabilityErrors } = await cdp.send(
          "Page.getInstallabilityErrors",
        );
        assert.deepEqual(installabilityErrors, [], "installable");
        await cdp.detach();
      },
    );

    await t.step("the worker controls start_url after a reload", async () => {
      await bob.reload({ waitUntil: "load" });
      const controller = await bob.evaluate(() =>
        navigator.serviceWorker.controller?.scriptURL ?? null
      );
      assert.equal(controller, origin + "/sw.js");
      // Still on after the reload: the subscription is found and listed.
      await waitForText(bob, ".push-state", ON);
    });

    await t.step(
      "offline: a navigation that fails shows the offline shell",
      async () => {
        await bob.setOfflineMode(true);
        // The worker's own fetches go offline too (its target needs its own
        // emulation, and the Network domain on for that).
        const w = await serviceWorkerOf(browser, origin);
        const wcdp = w.client;
        await wcdp.send("Network.enable");
        await wcdp.send("Network.emulateNetworkConditions", {
          offline: true,
          latency: 0,
          downloadThroughput: -1,
          uploadThroughput: -1,
        });
        await bob.goto(origin + "/security", { waitUntil: "load" });
        await waitForText(
          bob,
          "main",
          "You are offline; Reach will ring again when you are back online",
        );
        assert.equal(await bob.title(), "Offline · Reach");
        // Its stylesheet came from the cache.
        const styled = await bob.evaluate(() =>
          [...document.styleSheets].some((s) => s.cssRules.length > 0)
        );
        assert.ok(styled, "the cached stylesheet applies");
        await bob.setOfflineMode(false);
        await wcdp.send("Network.emulateNetworkConditions", {
          offline: false,
          latency: 0,
          downloadThroughput: -1,
          uploadThroughput: -1,
        });
        await bob.goto(origin + "/security", { waitUntil: "load" });
        assert.ok(!(await bob.content()).includes("You are offline"));
      },
    );

    assert.deepEqual(
      errors.filter((e) => !/ERR_INTERNET_DISCONNECTED/.test(e)),
      [],
    );
  },
});

Deno.test({
  name:
    "push: with no Reach tab open a call rings the browser; cancel, decline and answer from the notification",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using server = await startPushServer();
    await using bobBrowser = await launchBrowser();
    await using aliceBrowser = await launchBrowser();
    const origin = server.origin;
    const bobPage = await ringAnywhere(
      bobBrowser.browser,
      server,
      "bob_push",
    );

    // Pushes the double decrypted go to Bob's worker, via a CDP session on
    // about:blank: Bob has no page of Reach open from here on, and the
    // worker is stopped until the first push wakes it.
    const delivery = await PushDelivery.open(bobBrowser.browser);
    await delivery.registrationId(origin);
    server.onDeliver = (d) => delivery.deliver(origin, d.text);
    await bobPage.close();
    await delivery.stopWorkers();
    const pages = await bobBrowser.browser.pages();
    assert.ok(
      pages.every((p) => !p.url().startsWith(origin)),
      "no Reach tab is open",
    );

    const alice = await signUp(aliceBrowser.browser, origin, "alice_push");
    await waitForText(alice, ".caller-identity", "show you as @alice_push");
    const aliceErrors = collectErrors(alice);
    await alice.goto(origin + "/@bob_push", { waitUntil: "load" });

    /** Per ring: [from the click, from the push double's receipt] to shown. */
    const timings: string[] = [];

    /** Alice calls; Bob's worker shows the notification. */
    async function ring() {
      const clicked = Date.now();
      await pressCall(alice, "bob_push");
      const push = await server.double.nextDelivery(
        (d) => (d.data as { t: string }).t === "ring" && d.at >= clicked - 50,
        10_000,
      );
      const callId = (push.data as { callId: string }).callId;
      const w = await serviceWorkerOf(bobBrowser.browser, origin);
      const shown = await waitForHandled(w, "ring", callId);
      timings.push(`${shown - clicked}/${shown - push.at}`);
      const n = (await shownNotifications(w)).find((n) => n.tag === callId);
      assert.ok(n, "the ring's notification is shown");
      await waitForText(alice, ".call .status", "Ringing @bob_push");
      return { callId, w, n };
    }

    /** Ringing ended: the cancel push closed the notification. */
    async function closed(w: WebWorker, callId: string) {
      await server.double.nextDelivery((d) =>
        (d.data as { t: string }).t === "cancel" &&
        (d.data as { callId: string }).callId === callId
      );
      await waitForHandled(w, "cancel", callId);
      const open = await shownNotifications(w);
      assert.ok(!open.some((n) => n.tag === callId), "the notification closed");
    }

    /** The worker's action function, as a click on the notification runs it. */
    const act = (w: WebWorker, action: string, data: unknown) =>
      w.evaluate(
        (a, d) =>
          (self as unknown as {
            reachHandleAction(a: string, d: unknown): Promise<unknown>;
          }).reachHandleAction(a, d),
        action,
        data,
      ) as Promise<ActionResult>;

    await t.step(
      "a ring shows 'Incoming call' (naming no one) with Answer and Decline; cancel closes it",
      async () => {
        const r = await ring();
        // The worker cannot check who calls: it names no one.
        assert.equal(r.n.title, "Incoming call");
        assert.ok(!JSON.stringify(r.n).includes("alice"), "no handle");
        assert.equal(r.n.tag, r.callId);
        assert.ok(r.n.requireInteraction);
        assert.deepEqual(r.n.actions, [
          { action: "answer", title: "Answer" },
          { action: "decline", title: "Decline" },
        ]);
        assert.equal(r.n.data.callId, r.callId);
        assert.ok(r.n.data.sealed, "the sealed identity, for the page");
        assert.ok(!("from" in r.n.data));
        assert.ok(r.n.data.exp > Date.now());

        const cancel = await alice.waitForSelector(
          "xpath/.//div[contains(@class,'call')]//button[normalize-space(.)='Cancel']",
        );
        await cancel!.click();
        await waitForText(alice, ".call .status", "Call cancelled.");
        await closed(r.w, r.callId);
      },
    );

    await t.step(
      "Decline from the notification: the caller hears declined",
      async () => {
        const r = await ring();
        assert.deepEqual(await act(r.w, "decline", r.n.data), {
          declined: true,
          status: 204,
        });
        await waitForText(
          alice,
          ".call .status",
          "@bob_push declined the call.",
        );
        await closed(r.w, r.callId);
        // Declining again: no longer ringing.
        assert.deepEqual(await act(r.w, "decline", r.n.data), {
          declined: false,
          status: 409,
        });

        // A stale Answer link says so.
        const stale = await bobBrowser.browser.newPage();
        await stale.goto(`${origin}/me?answer=${r.callId}`, {
          waitUntil: "load",
        });
        await waitForText(
          stale,
          ".receiver .note",
          "That call is no longer ringing.",
        );
        await stale.close();
      },
    );

    await t.step(
      "Answer from the notification opens /me?answer=…#sealed=…, which answers: audio both ways, verified",
      async () => {
        const r = await ring();
        const result = await act(r.w, "answer", r.n.data);
        // The sealed identity rides in the fragment, which no server sees.
        assert.match(
          (result as { open: string }).open,
          new RegExp(`^/me\\?answer=${r.callId}#sealed=[A-Za-z0-9_-]+$`),
        );
        // A plain click on the notification does the same.
        assert.deepEqual(await act(r.w, "", r.n.data), result);

        const bob = await bobBrowser.browser.newPage();
        const bobErrors = collectErrors(bob);
        await bob.goto(origin + (result as { open: string }).open, {
          waitUntil: "load",
        });
        const [a, b] = await Promise.all([
          waitForAudio(alice),
          waitForAudio(bob),
        ]);
        for (const side of [a, b]) {
          assert.equal(side.dtlsState, "connected");
          assert.match(side.srtpCipher, /AES/);
          assert.ok(side.packetsReceived > 0 && side.packetsSent > 0);
        }
        assert.equal(a.remoteFingerprint, b.localFingerprint);
        assert.equal(b.remoteFingerprint, a.localFingerprint);
        await waitForText(
          alice,
          ".in-call .identity",
          "Verified: @bob_push's device",
        );
        await waitForText(
          bob,
          ".in-call .identity",
          "Verified caller @alice_push",
        );
        assert.equal(new URL(bob.url()).search, "", "the link is used once");
        assert.equal(new URL(bob.url()).hash, "", "and forgotten");
        // Answered: the notification went away.
        await closed(r.w, r.callId);
        const hangup = await alice.waitForSelector(
          "xpath/.//button[normalize-space(.)='Hang up']",
        );
        await hangup!.click();
        await waitForText(alice, ".call .status", "You hung up.");
        await bob.waitForFunction(() => !document.querySelector(".in-call"), {
          polling: 50,
        });
        assert.deepEqual(bobErrors, []);
      },
    );

    assert.deepEqual(aliceErrors, []);
    console.log(
      `ring → notification shown, ms (from the click / from the push double; the first wakes a stopped worker): ${
        timings.join(", ")
      }`,
    );
  },
});
