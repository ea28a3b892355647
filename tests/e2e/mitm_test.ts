/**
 * A real man in the middle: the signaling server is compromised (a proxy in
 * front of Reach, tests/_helpers/mitm.ts) and hands each side a third
 * browser, Mallory, who answers the caller with her own DTLS certificate,
 * calls the callee with it, and bridges the audio. First the attack is shown
 * to work against a plain WebRTC caller that checks nothing; then Reach's
 * own caller page, which checks the callee's signed fingerprint against the
 * one DTLS used, must stop the call before any audio plays.
 */
import assert from "node:assert/strict";
import type { Page } from "puppeteer-core";
import { launchBrowser, waitForText } from "../_helpers/browser.ts";
import { launchMallory, startMitmProxy } from "../_helpers/mitm.ts";
import {
  answerCall,
  pressCall,
  receiveCalls,
  signUp,
  waitForAudio,
} from "../_helpers/people.ts";
import { startAppServer } from "../_helpers/server.ts";

interface PlainState {
  phase: string;
  callId: string;
  connectionState: string;
  dtlsState: string;
  localFingerprint: string;
  remoteFingerprint: string;
  packetsSent: number;
  packetsReceived: number;
  errors: string[];
}

/**
 * Reach behind the proxy (the origin every browser uses), Bob receiving
 * calls; with `attack`, Mallory is ready and the proxy hands her every call.
 */
async function world(handle: string, attack: boolean) {
  const proxy = startMitmProxy();
  const server = await startAppServer({ REACH_ORIGIN: proxy.origin });
  proxy.upstream = server.origin;
  const mallory = attack ? await launchMallory(proxy) : null;
  proxy.attacker = mallory?.attacker ?? null;
  const bobBrowser = await launchBrowser();
  const bob = await signUp(bobBrowser.browser, proxy.origin, handle);
  await receiveCalls(bob, handle);
  return {
    proxy,
    mallory: mallory!,
    bob,
    async [Symbol.asyncDispose]() {
      await bobBrowser[Symbol.asyncDispose]();
      await mallory?.[Symbol.asyncDispose]();
      await proxy.close();
      await server.stop();
    },
  };
}

/**
 * Records in the page whether any <audio> ever held a stream while not
 * muted (window.__audioUnmuted): remote audio that could be heard.
 */
async function watchAudio(page: Page): Promise<void> {
  await page.evaluateOnNewDocument(() => {
    const w = globalThis as unknown as { __audioUnmuted: boolean };
    w.__audioUnmuted = false;
    const proto = HTMLMediaElement.prototype;
    const src = Object.getOwnPropertyDescriptor(proto, "srcObject")!;
    const muted = Object.getOwnPropertyDescriptor(proto, "muted")!;
    const check = (el: HTMLMediaElement) => {
      if (el instanceof HTMLAudioElement && el.srcObject && !el.muted) {
        w.__audioUnmuted = true;
      }
    };
    Object.defineProperty(proto, "srcObject", {
      ...src,
      set(this: HTMLMediaElement, v: MediaProvider | null) {
        src.set!.call(this, v);
        check(this);
      },
    });
    Object.defineProperty(proto, "muted", {
      ...muted,
      set(this: HTMLMediaElement, v: boolean) {
        muted.set!.call(this, v);
        check(this);
      },
    });
    document.addEventListener(
      "playing",
      (e) => check(e.target as HTMLMediaElement),
      true,
    );
  });
}

const audioUnmuted = (page: Page) =>
  page.evaluate(() =>
    (globalThis as unknown as { __audioUnmuted: boolean }).__audioUnmuted
  );

Deno.test({
  name:
    "mitm: the attack is real: a caller that checks nothing talks to Mallory, who relays to Bob",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using w = await world("bob_mitm", true);
    const { proxy, mallory, bob } = w;
    await using callerBrowser = await launchBrowser();
    const plain = await callerBrowser.browser.newPage();
    await plain.goto(`${proxy.origin}/__test/plain-caller?to=bob_mitm`, {
      waitUntil: "load",
    });
    await answerCall(bob);

    // Both legs connect and audio flows caller → Mallory → Bob and back.
    await plain.waitForFunction(
      () => {
        const s = (globalThis as unknown as { __state: PlainState }).__state;
        return s.connectionState === "connected" && s.packetsReceived > 0 &&
          s.packetsSent > 0 && !!s.remoteFingerprint;
      },
      // Three Chromiums and two relayed legs: on a loaded machine the first
      // packets through both legs have taken longer than 20 s.
      { polling: 100, timeout: 40_000 },
    );
    const bobSide = await waitForAudio(bob);
    const state = await plain.evaluate(() =>
      (globalThis as unknown as { __state: PlainState }).__state
    );
    assert.deepEqual(state.errors, []);
    assert.ok(proxy.attacked.has(state.callId), "the proxy took the offer");
    const legs = await mallory.legs(state.callId);
    assert.equal(legs.a.connectionState, "connected");
    assert.equal(legs.b.connectionState, "connected");
    assert.ok(legs.a.packetsReceived > 0, "Mallory hears the caller");
    assert.ok(legs.b.packetsReceived > 0, "Mallory hears Bob");
    assert.ok(legs.a.packetsSent > 0 && legs.b.packetsSent > 0);
    assert.ok(bobSide.packetsReceived > 0, "Bob hears (Mallory's relay)");

    // Each end's encryption terminates at Mallory, not at the other end.
    assert.match(legs.a.localFingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.equal(state.remoteFingerprint, legs.a.localFingerprint);
    assert.notEqual(state.remoteFingerprint, bobSide.localFingerprint);
    assert.equal(bobSide.remoteFingerprint, legs.b.localFingerprint);
    assert.notEqual(bobSide.remoteFingerprint, state.localFingerprint);
    assert.equal(legs.b.remoteFingerprint, bobSide.localFingerprint);
    assert.equal(legs.a.remoteFingerprint, state.localFingerprint);

    // The offer, answer and candidates never crossed between the two ends.
    const crossed = proxy.seen.filter((m) =>
      m.callId === state.callId && !m.intercepted &&
      (m.type === "answer" || m.type === "candidate") && m.role === "caller"
    );
    assert.deepEqual(crossed, []);
  },
});

Deno.test({
  name:
    "mitm: Reach's caller stops it: a security warning, the call ends, no audio played",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using w = await world("bob_mitm", true);
    const { proxy, bob } = w;
    await using aliceBrowser = await launchBrowser();
    const alice = await aliceBrowser.browser.newPage();
    await watchAudio(alice);
    await alice.goto(proxy.origin + "/@bob_mitm", { waitUntil: "load" });
    await pressCall(alice, "bob_mitm");
    await answerCall(bob);

    await alice.waitForFunction(
      () =>
        [...document.querySelectorAll(".call .status")].some((el) =>
          (el.textContent ?? "").includes("Security warning")
        ) && !document.querySelector(".in-call"),
      { polling: 50, timeout: 30_000 },
    );
    assert.equal(proxy.attacked.size, 1, "the call was attacked");
    // Caught by the fingerprint check itself, not by the proof's time limit.
    const why = await alice.$eval(
      ".call .status",
      (el) => el.textContent ?? "",
    );
    assert.match(
      why,
      /the encryption key in use is not the one the device signed/,
    );
    const [callId] = proxy.attacked;
    assert.ok(
      proxy.seen.some((m) =>
        m.type === "verify" && m.callId === callId && m.dir === "down" &&
        m.role === "caller"
      ),
      "Bob's real verify reached Alice through the proxy",
    );
    assert.equal(
      await audioUnmuted(alice),
      false,
      "no audio was played to Alice",
    );
  },
});

Deno.test({
  name:
    "mitm: control: through the same proxy relaying faithfully, Alice's call verifies and she hears Bob",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using w = await world("bob_mitm", false);
    const { proxy, bob } = w;
    await using aliceBrowser = await launchBrowser();
    const alice = await aliceBrowser.browser.newPage();
    await watchAudio(alice);
    await alice.goto(proxy.origin + "/@bob_mitm", { waitUntil: "load" });
    await pressCall(alice, "bob_mitm");
    await answerCall(bob);

    const [a, b] = await Promise.all([waitForAudio(alice), waitForAudio(bob)]);
    assert.equal(a.remoteFingerprint, b.localFingerprint);
    assert.equal(b.remoteFingerprint, a.localFingerprint);
    // Verified: the remote audio is unmuted, and the call goes on.
    await alice.waitForFunction(
      () =>
        (globalThis as unknown as { __audioUnmuted: boolean }).__audioUnmuted,
      { polling: 50, timeout: 20_000 },
    );
    assert.ok(await alice.$(".in-call"), "still in the call");
    const status = await alice.$eval(".call .status", (el) => el.textContent);
    assert.ok(!status?.includes("Security warning"), String(status));
    assert.equal(proxy.attacked.size, 0);
    assert.ok(
      proxy.seen.some((m) => m.type === "verify" && m.dir === "down"),
      "Bob's verify went through",
    );
  },
});

Deno.test({
  name:
    "mitm: with Alice signed in, Bob's check of the key her sealed ring signed fails too and he ends the call",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using w = await world("bob_mitm2", true);
    const { proxy, bob } = w;
    // The attacker keeps both legs alive: Bob's hang-up never reaches Alice
    // and hers never reaches Bob, so each must stop the call by its own
    // check (before, Bob's hang-up could reach Alice before her check ran,
    // and she showed an ordinary end instead of the warning).
    proxy.dropHangups = true;
    await using aliceBrowser = await launchBrowser();
    const alice = await signUp(
      aliceBrowser.browser,
      proxy.origin,
      "alice_mitm2",
    );
    await waitForText(alice, ".caller-identity", "show you as @alice_mitm2");
    await alice.goto(proxy.origin + "/@bob_mitm2", { waitUntil: "load" });
    await pressCall(alice, "bob_mitm2");
    // Her sealed ring is hers (the attacker cannot make one), so Bob sees
    // her verified; the key she signed is not the one Mallory answers with.
    await waitForText(bob, ".ring", "Call from @alice_mitm2 (verified)");
    await answerCall(bob);
    await waitForText(alice, ".call .status", "Security warning");
    await waitForText(
      bob,
      ".receiver .note",
      "Security warning: the call from @alice_mitm2 could not be verified (the encryption key in use is not the one the caller signed)",
    );
    assert.equal(await bob.$(".in-call"), null, "Bob's call was ended");
  },
});
