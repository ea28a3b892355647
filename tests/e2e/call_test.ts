/**
 * Two people, two Chromium processes with fake microphones, a real server
 * and real KV: Alice opens /@bob_call and presses Call, Bob's browser rings,
 * he answers, and they talk, encrypted between the two browsers.
 */
import assert from "node:assert/strict";
import type { Page } from "puppeteer-core";
import {
  collectErrors,
  launchBrowser,
  waitForText,
} from "../_helpers/browser.ts";
import {
  hangUp,
  pressCall,
  readCallLog,
  receiveCalls,
  signUp,
  waitForAudio,
} from "../_helpers/people.ts";
import { startAppServer } from "../_helpers/server.ts";

Deno.test({
  name:
    "call: a direct call is answered, encrypted both ways, hung up and logged",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using server = await startAppServer();
    await using bobBrowser = await launchBrowser();
    await using aliceBrowser = await launchBrowser();
    const bob = await signUp(bobBrowser.browser, server.origin, "bob_call");
    const bobErrors = collectErrors(bob);
    await receiveCalls(bob, "bob_call");

    const alice = await aliceBrowser.browser.newPage();
    const aliceErrors = collectErrors(alice);
    await alice.goto(server.origin + "/@bob_call", { waitUntil: "load" });
    assert.ok((await alice.content()).includes("Online: receiving calls"));
    await pressCall(alice, "bob_call");
    await waitForText(alice, ".call .status", "Ringing @bob_call");

    await waitForText(bob, ".ring", "an anonymous caller");
    const answer = await bob.waitForSelector(
      "xpath/.//button[normalize-space(.)='Answer']",
    );
    await answer!.click();

    const [a, b] = await Promise.all([waitForAudio(alice), waitForAudio(bob)]);
    for (const side of [a, b]) {
      assert.equal(side.dtlsState, "connected");
      assert.match(side.srtpCipher, /AES/);
      assert.match(side.localFingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
      assert.ok(side.packetsReceived > 0 && side.packetsSent > 0);
      assert.notEqual(side.localCandidate, "relay", "a direct call");
    }
    // Each side sees exactly the certificate the other one holds.
    assert.equal(a.remoteFingerprint, b.localFingerprint);
    assert.equal(b.remoteFingerprint, a.localFingerprint);
    await waitForText(
      alice,
      ".in-call .call-state",
      "Connected with @bob_call",
    );
    await waitForText(
      bob,
      ".in-call .call-state",
      "Connected with an anonymous caller",
    );

    await hangUp(alice, bob);

    const logs = await readCallLog(server.kvPath);
    assert.equal(logs.length, 1);
    assert.equal(logs[0].decision, "answered");
    assert.equal(logs[0].relayed, false);
    assert.ok(logs[0].durationMs > 0, "a duration was recorded");
    assert.deepEqual(aliceErrors, []);
    assert.deepEqual(bobErrors, []);

    // The server's own output for the whole call: event types and ids only.
    await server.stop();
    const out = server.output();
    assert.ok(out.includes('"event":"call.answered"'), "the call was logged");
    const leaks: [string, RegExp][] = [
      ["SDP", /v=0|a=fingerprint|m=audio|ice-ufrag/],
      ["ICE candidates", /candidate:|typ host|typ srflx|typ relay/],
      ["fingerprints", /([0-9A-F]{2}:){8}/],
      [
        "IP addresses",
        /\b\d{1,3}(\.\d{1,3}){3}\b|\[?[0-9a-f]{1,4}(:[0-9a-f]{0,4}){3,}/i,
      ],
      ["handles", /bob_call/],
      ["session ids or tokens", /[0-9a-f]{64}/],
    ];
    for (const [what, re] of leaks) {
      assert.ok(
        !re.test(out),
        `server output leaks ${what}: ${out.match(re)?.[0]}`,
      );
    }
  },
});

Deno.test({
  name:
    "call: a signed-in caller is named in its sealed ring; both sides show verified",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using server = await startAppServer();
    await using bobBrowser = await launchBrowser();
    await using aliceBrowser = await launchBrowser();
    const bob = await signUp(bobBrowser.browser, server.origin, "bob_verif");
    await receiveCalls(bob, "bob_verif");
    const alice = await signUp(
      aliceBrowser.browser,
      server.origin,
      "alice_verif",
    );
    // /me gave her browser its identity: a device certificate and the
    // server's attestation of her handle (sealed into her rings).
    await waitForText(alice, ".caller-identity", "show you as @alice_verif");
    await alice.goto(server.origin + "/@bob_verif", { waitUntil: "load" });
    await pressCall(alice, "bob_verif");
    await waitForText(bob, ".ring", "Call from @alice_verif (verified)");
    const answer = await bob.waitForSelector(
      "xpath/.//button[normalize-space(.)='Answer']",
    );
    await answer!.click();
    await waitForText(
      alice,
      ".in-call .identity",
      "Verified: @bob_verif's device",
    );
    await waitForText(
      bob,
      ".in-call .identity",
      "Verified caller @alice_verif",
    );
  },
});

Deno.test({
  name:
    "call: with the microphone allowed already, neither side waits for it to start: ring, offer and answer go first, the audio joins",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using server = await startAppServer();
    await using bobBrowser = await launchBrowser();
    await using aliceBrowser = await launchBrowser();
    // A person who allowed the microphone on an earlier visit.
    for (const b of [bobBrowser, aliceBrowser]) {
      await b.browser.defaultBrowserContext().overridePermissions(
        server.origin,
        ["microphone"],
      );
    }
    const bob = await signUp(bobBrowser.browser, server.origin, "bob_early");
    const bobErrors = collectErrors(bob);
    // Both microphones are slow to start: each starts when the test says.
    const holdMicrophone = (page: Page) =>
      page.evaluateOnNewDocument(() => {
        const md = navigator.mediaDevices;
        const gum = md.getUserMedia.bind(md);
        const w = window as unknown as { releaseMic?: () => void };
        md.getUserMedia = (c) =>
          new Promise((resolve) => {
            w.releaseMic = () => resolve(gum(c));
          });
      });
    const held = (page: Page) =>
      page.evaluate(() =>
        typeof (window as unknown as { releaseMic?: () => void })
          .releaseMic === "function"
      );
    const release = (page: Page) =>
      page.evaluate(() =>
        (window as unknown as { releaseMic: () => void }).releaseMic()
      );
    await holdMicrophone(bob);
    await bob.reload({ waitUntil: "load" });
    // What Bob's page sends on its socket.
    const sent: string[] = [];
    const answered = Promise.withResolvers<void>();
    const cdp = await bob.createCDPSession();
    await cdp.send("Network.enable");
    cdp.on("Network.webSocketFrameSent", (e) => {
      const type = String(JSON.parse(e.response.payloadData).type);
      sent.push(type);
      if (type === "answer") answered.resolve();
    });
    await receiveCalls(bob, "bob_early");

    const alice = await aliceBrowser.browser.newPage();
    const aliceErrors = collectErrors(alice);
    await holdMicrophone(alice);
    await alice.goto(server.origin + "/@bob_early", { waitUntil: "load" });
    await pressCall(alice, "bob_early");
    const answer = await bob.waitForSelector(
      "xpath/.//button[normalize-space(.)='Answer']",
    );
    await answer!.click();
    // Accepted, and the caller's offer answered, with no microphone yet.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      answered.promise,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error("no answer went out before the microphone")),
          10_000,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    assert.deepEqual(
      sent.filter((t) => t === "accept" || t === "answer"),
      ["accept", "answer"],
    );
    assert.ok(await held(bob), "Bob's microphone was asked for, not started");
    assert.ok(await held(alice), "Alice's too: her offer went without it");
    await release(bob);
    await release(alice);
    // Both ways: each hears the other's microphone, which joined after the
    // offer and the answer (no second offer/answer).
    const [a, b] = await Promise.all([waitForAudio(alice), waitForAudio(bob)]);
    assert.ok(a.packetsReceived > 0 && b.packetsSent > 0, "Bob is heard");
    assert.equal(b.remoteFingerprint, a.localFingerprint);
    assert.ok(b.packetsReceived > 0 && a.packetsSent > 0, "Alice is heard");
    assert.equal(a.remoteFingerprint, b.localFingerprint);
    assert.equal(sent.filter((t) => t === "answer").length, 1);
    assert.ok(!sent.includes("offer"), "no renegotiation");
    await hangUp(alice, bob);
    assert.deepEqual(aliceErrors, []);
    assert.deepEqual(bobErrors, []);
  },
});
