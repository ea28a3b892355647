/**
 * Calls along other paths, in real Chromium: relayed through a real local
 * coturn (and a wrong TURN secret failing visibly), two devices of one
 * handle, and the signaling server dying mid-call.
 */
import assert from "node:assert/strict";
import type { Page } from "puppeteer-core";
import {
  launchBrowser,
  type TestBrowser,
  waitForText,
} from "../_helpers/browser.ts";
import { type RunningCoturn, startCoturn } from "../_helpers/coturn.ts";
import {
  answerCall,
  type PanelFigures,
  pressCall,
  readCallLog as readLog,
  receiveCalls,
  signUp,
  waitForAudio,
} from "../_helpers/people.ts";
import { type RunningServer, startAppServer } from "../_helpers/server.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

async function check(page: Page, label: string) {
  const box = await page.waitForSelector(
    `xpath/.//label[contains(., '${label}')]/input[not(@disabled)]`,
  );
  await box!.click();
}

/**
 * Bob receives calls and Alice calls him, both hiding their IP, through a
 * Reach server that hands out TURN credentials; returns once audio flows
 * both ways.
 */
async function relayedCall(
  handle: string,
  b1: TestBrowser,
  b2: TestBrowser,
  server: RunningServer,
): Promise<{ alice: Page; bob: Page; a: PanelFigures; b: PanelFigures }> {
  const bob = await signUp(b1.browser, server.origin, handle);
  await check(bob, "Hide my IP address from callers");
  await receiveCalls(bob, handle);
  const alice = await b2.browser.newPage();
  await alice.goto(server.origin + "/@" + handle, { waitUntil: "load" });
  await check(alice, "Hide my IP address");
  await pressCall(alice, handle);
  await answerCall(bob);
  const [a, b] = await Promise.all([waitForAudio(alice), waitForAudio(bob)]);
  return { alice, bob, a, b };
}

function turnEnv(turn: RunningCoturn, secret = turn.secret) {
  return {
    REACH_TURN_PROVIDER: "coturn",
    REACH_TURN_URLS: turn.url,
    REACH_TURN_SECRET: secret,
  };
}

Deno.test({
  name:
    "call paths: both sides hide their IP; the call is relayed through coturn",
  ...opts,
  async fn() {
    await using turn = await startCoturn();
    await using server = await startAppServer(turnEnv(turn));
    await using b1 = await launchBrowser();
    await using b2 = await launchBrowser();
    const { alice, bob, a, b } = await relayedCall(
      "bob_relay",
      b1,
      b2,
      server,
    );
    for (const side of [a, b]) {
      assert.equal(side.localCandidate, "relay");
      assert.equal(side.remoteCandidate, "relay");
      assert.equal(side.dtlsState, "connected");
    }
    assert.equal(a.remoteFingerprint, b.localFingerprint);
    await waitForText(alice, ".connection-details dd", "Relayed through TURN");
    const hang = await bob.waitForSelector(
      "xpath/.//button[normalize-space(.)='Hang up']",
    );
    await hang!.click();
    await waitForText(alice, ".call .status", "@bob_relay hung up.");
    const [log] = await readLog(server.kvPath);
    assert.equal(log.decision, "answered");
    assert.equal(log.relayed, true, "the caller reported the relayed path");
  },
});

Deno.test({
  name: "call paths: a wrong TURN secret fails visibly for a relay-only caller",
  ...opts,
  async fn() {
    await using turn = await startCoturn();
    await using server = await startAppServer(
      turnEnv(turn, "definitely-not-the-secret"),
    );
    await using b1 = await launchBrowser();
    await using b2 = await launchBrowser();
    const bob = await signUp(b1.browser, server.origin, "bob_badturn");
    await receiveCalls(bob, "bob_badturn");
    const alice = await b2.browser.newPage();
    await alice.goto(server.origin + "/@bob_badturn", { waitUntil: "load" });
    await check(alice, "Hide my IP address");
    await pressCall(alice, "bob_badturn");
    await waitForText(
      alice,
      ".call .status",
      "The relay server (TURN) refused our credentials",
    );
    // Bob's browser stops ringing: the failed caller hung up.
    await bob.waitForFunction(() => !document.querySelector(".ring"), {
      polling: 100,
    });
  },
});

Deno.test({
  name:
    "call paths: two devices ring; one answers, the other shows answered elsewhere",
  ...opts,
  async fn() {
    await using server = await startAppServer();
    await using b1 = await launchBrowser();
    await using b2 = await launchBrowser();
    const phone = await signUp(b1.browser, server.origin, "bob_two");
    await receiveCalls(phone, "bob_two");
    // A second tab of the same signed-in browser is a second device.
    const laptop = await b1.browser.newPage();
    await laptop.goto(server.origin + "/me", { waitUntil: "load" });
    await waitForText(
      laptop,
      ".receiver-state",
      "Receiving calls for @bob_two.",
    );
    const alice = await b2.browser.newPage();
    await alice.goto(server.origin + "/@bob_two", { waitUntil: "load" });
    await pressCall(alice, "bob_two");
    await waitForText(phone, ".ring", "Incoming call");
    await waitForText(laptop, ".ring", "Incoming call");
    await answerCall(laptop);
    await waitForText(phone, ".receiver .note", "Answered on another device.");
    await Promise.all([waitForAudio(alice), waitForAudio(laptop)]);
    assert.equal(await phone.$(".ring"), null, "the phone stopped ringing");
  },
});

Deno.test({
  name:
    "call paths: the signaling server dies mid-call; audio goes on and the sockets resume",
  ...opts,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "reach-e2e-restart-" });
    let server = await startAppServer({}, { dir });
    const port = server.port;
    try {
      await using b1 = await launchBrowser();
      await using b2 = await launchBrowser();
      const bob = await signUp(b1.browser, server.origin, "bob_resume");
      await receiveCalls(bob, "bob_resume");
      const alice = await b2.browser.newPage();
      await alice.goto(server.origin + "/@bob_resume", { waitUntil: "load" });
      await pressCall(alice, "bob_resume");
      await answerCall(bob);
      const before = await waitForAudio(alice);

      await server.stop(); // every signaling socket drops at once
      await waitForText(bob, ".receiver-state", "reconnecting");
      server = await startAppServer({}, { dir, port });
      await waitForText(
        bob,
        ".receiver-state",
        "Receiving calls for @bob_resume.",
      );
      await alice.waitForFunction(
        () =>
          !document.querySelector(".call .status")?.textContent?.includes(
            "reconnecting",
          ),
        { polling: 100 },
      );
      // Media never depended on the server: more audio arrived meanwhile.
      await alice.waitForFunction(
        (n) =>
          Number(
            (document.querySelector(".connection-details dl") as HTMLElement)
              ?.dataset.packetsReceived,
          ) > n,
        { polling: 100 },
        before.packetsReceived,
      );
      await waitForText(
        alice,
        ".in-call .call-state",
        "Connected with @bob_resume",
      );
      // The resumed sockets still carry the call: Bob hangs up, Alice hears it.
      const hang = await bob.waitForSelector(
        "xpath/.//button[normalize-space(.)='Hang up']",
      );
      await hang!.click();
      await waitForText(alice, ".call .status", "@bob_resume hung up.");
    } finally {
      await server.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "call paths: the relay goes silent mid-call; the UI says reconnecting, restarts ICE, and the call comes back",
  ...opts,
  async fn() {
    await using turn = await startCoturn();
    await using server = await startAppServer(turnEnv(turn));
    {
      await using b1 = await launchBrowser();
      await using b2 = await launchBrowser();
      const { alice, bob } = await relayedCall(
        "bob_restart",
        b1,
        b2,
        server,
      );

      turn.pause(); // the only path between them goes silent
      await waitForText(alice, ".in-call .call-state", "Reconnecting");
      // The caller starts an ICE restart while the path is down.
      await alice.waitForFunction(
        () =>
          Number(
            (document.querySelector(".connection-details dl") as HTMLElement)
              ?.dataset.iceRestarts,
          ) > 0,
        { polling: 100 },
      );
      turn.resume();
      await waitForText(
        alice,
        ".in-call .call-state",
        "Connected with @bob_restart",
      );
      await waitForText(bob, ".in-call .call-state", "Connected with");
      const after = await waitForAudio(alice);
      assert.equal(after.localCandidate, "relay");
    }
  },
});

Deno.test({
  name:
    "call paths: Bob declines; a denied microphone is explained to the caller",
  ...opts,
  async fn() {
    await using server = await startAppServer();
    await using b1 = await launchBrowser();
    await using b2 = await launchBrowser();
    const bob = await signUp(b1.browser, server.origin, "bob_decline");
    await receiveCalls(bob, "bob_decline");
    const alice = await b2.browser.newPage();
    await alice.goto(server.origin + "/@bob_decline", { waitUntil: "load" });
    await pressCall(alice, "bob_decline");
    const decline = await bob.waitForSelector(
      "xpath/.//button[normalize-space(.)='Decline']",
    );
    await decline!.click();
    await waitForText(
      alice,
      ".call .status",
      "@bob_decline declined the call.",
    );
    const [log] = await readLog(server.kvPath);
    assert.equal(log.decision, "declined");

    // A caller whose browser refuses the microphone is told what to do.
    await using b3 = await launchBrowser([], { autoAllowMedia: false });
    const carol = await b3.browser.newPage();
    const cdp = await carol.createCDPSession();
    await cdp.send("Browser.setPermission", {
      permission: { name: "microphone" },
      setting: "denied",
      origin: server.origin,
    });
    await carol.goto(server.origin + "/@bob_decline", { waitUntil: "load" });
    await pressCall(carol, "bob_decline");
    await waitForText(carol, ".call .status", "Microphone access was denied");
  },
});
