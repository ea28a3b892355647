/**
 * Call set-up in real headless Chromium (two browser processes, fake
 * microphones, a real server on loopback), timed inside the pages (wall
 * clock, sub-millisecond, the same machine clock in both processes):
 *
 * - **press → ring**: from the Call button's click on /@bob to the Answer
 *   button appearing on Bob's /me. Two callers alternate: Alice anonymous
 *   (a fresh browser context) and Alice signed in with a handle, whose ring
 *   carries her sealed identity (sealed sender: fetch Bob's inbox keys, seal,
 *   and Bob's browser opens and checks it before it rings). Their difference
 *   is what sealing costs.
 * - **answer → connected**: from the Answer click to both pages saying
 *   "Connected with" (the offer goes out on `accepted`, the answer back, ICE,
 *   DTLS). Baseline in the same run: two bare RTCPeerConnections in one
 *   Chromium page exchanging offer, answer and candidates directly in
 *   JavaScript (no server), from createOffer to both "connected"; the ratio
 *   Reach / bare is printed.
 *
 * Each press is timed twice over: a bare click (the pointer arrives and
 * clicks at once), and a click after the pointer rested on Call for
 * DWELL_MS, as a person's does (the page opens the socket and gets its keys
 * ready on that intent; never the microphone).
 *
 * Chromium's fake microphone starts at once; a real one takes a few hundred
 * ms. SETUP_MIC_MS makes every microphone of the two browsers that much
 * slower (e.g. 300), to see what of the set-up waits for it: with the
 * permission given (as the fake UI gives it) neither the ring, the offer nor
 * the answer does.
 *
 * Run: deno run -A bench/call_setup.ts [calls=6] (SETUP_MIC_MS: see MIC_MS)
 */
import type { Page } from "puppeteer-core";
import { launchBrowser, waitForText } from "../tests/_helpers/browser.ts";
import {
  canCallAs,
  pressCall,
  receiveCalls,
  signUp,
  waitForAudio,
} from "../tests/_helpers/people.ts";
import { startAppServer } from "../tests/_helpers/server.ts";

const CALLS = Number(Deno.args[0] ?? 6);
/**
 * How long a microphone takes to start (SETUP_MIC_MS, default 0: Chromium's
 * fake device starts at once; a real one takes a few hundred ms).
 */
const MIC_MS = Number(Deno.env.get("SETUP_MIC_MS") ?? 0);

/** From now on every getUserMedia of `page` answers MIC_MS later. */
async function slowMicrophone(page: Page): Promise<void> {
  if (MIC_MS <= 0) return;
  await page.evaluateOnNewDocument((ms: number) => {
    const md = navigator.mediaDevices;
    const gum = md.getUserMedia.bind(md);
    md.getUserMedia = async (c) => {
      const stream = await gum(c);
      await new Promise((r) => setTimeout(r, ms));
      return stream;
    };
  }, MIC_MS);
}

type Marks = Record<string, number>;

/**
 * Records, once per arming, when this page first saw: a click on "Call @…"
 * (`press`) or "Answer" (`answer`), an Answer button (`ring`), a call state
 * saying "Connected with" (`connected`).
 */
async function arm(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { __marks?: Record<string, number> };
    if (w.__marks) {
      w.__marks = {};
      return;
    }
    w.__marks = {};
    const mark = (k: string) =>
      w.__marks![k] ??= performance.timeOrigin + performance.now();
    document.addEventListener("click", (e) => {
      const b = (e.target as Element | null)?.closest?.("button");
      const t = b?.textContent?.trim() ?? "";
      if (t.startsWith("Call @")) mark("press");
      if (t === "Answer") mark("answer");
    }, true);
    const look = () => {
      for (const b of document.querySelectorAll("button")) {
        if (b.textContent?.trim() === "Answer") mark("ring");
      }
      for (const s of document.querySelectorAll(".in-call .call-state")) {
        if (s.textContent?.includes("Connected with")) mark("connected");
      }
    };
    new MutationObserver(look).observe(document, {
      subtree: true,
      childList: true,
      characterData: true,
    });
  });
}

const marks = (page: Page) =>
  page.evaluate(() =>
    (window as unknown as { __marks: Record<string, number> }).__marks
  ) as Promise<Marks>;

/** Two bare RTCPeerConnections in one page: createOffer → both connected, ms. */
function bareSetup(page: Page): Promise<number> {
  return page.evaluate(async () => {
    const mic = await navigator.mediaDevices.getUserMedia({ audio: true });
    const a = new RTCPeerConnection();
    const b = new RTCPeerConnection();
    a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
    b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
    for (const t of mic.getTracks()) a.addTrack(t, mic);
    const mic2 = mic.clone();
    for (const t of mic2.getTracks()) b.addTrack(t, mic2);
    const connected = (pc: RTCPeerConnection) =>
      new Promise<void>((r) => {
        const check = () => pc.connectionState === "connected" && r();
        pc.addEventListener("connectionstatechange", check);
        check();
      });
    const t0 = performance.now();
    const offer = await a.createOffer();
    await a.setLocalDescription(offer);
    await b.setRemoteDescription(offer);
    const answer = await b.createAnswer();
    await b.setLocalDescription(answer);
    await a.setRemoteDescription(answer);
    await Promise.all([connected(a), connected(b)]);
    const ms = performance.now() - t0;
    a.close();
    b.close();
    for (const t of [...mic.getTracks(), ...mic2.getTracks()]) t.stop();
    return ms;
  });
}

await using server = await startAppServer();
await using b1 = await launchBrowser();
await using b2 = await launchBrowser();
const bob = await signUp(b1.browser, server.origin, "bench_bob");
await slowMicrophone(bob);
await bob.reload({ waitUntil: "load" });

await receiveCalls(bob, "bench_bob");
await arm(bob);
// Alice signed in (her browser holds her identity and attestation from /me)
// and Alice anonymous (a context with no cookies and no storage).
const signedIn = await signUp(b2.browser, server.origin, "bench_alice");
await canCallAs(signedIn, "bench_alice");
const anonymous = await (await b2.browser.createBrowserContext()).newPage();
await slowMicrophone(signedIn);
await slowMicrophone(anonymous);

/** A person's pointer rests on a button this long before the click. */
const DWELL_MS = 300;
const ring = {
  anonymous: [] as number[],
  sealed: [] as number[],
  "anonymous, pointer on Call first": [] as number[],
  "sealed, pointer on Call first": [] as number[],
};
const connect: number[] = [];
const bare: number[] = [];

async function oneCall(
  alice: Page,
  kind: keyof typeof ring,
  hover = false,
): Promise<void> {
  // Its tab in front: a background tab's timers and frames are throttled.
  await alice.bringToFront();
  await alice.goto(server.origin + "/@bench_bob", { waitUntil: "load" });
  // As a person would: the page has settled before the press.
  await alice.waitForNetworkIdle({ idleTime: 100 });
  await arm(alice);
  await arm(bob);
  if (hover) {
    // The pointer reaches Call and rests there before the click, as a
    // person's does (the page gets the socket and keys ready meanwhile).
    const button = await alice.waitForSelector(
      `xpath/.//button[contains(., 'Call @bench_bob') and not(@disabled)]`,
    );
    await button!.hover();
    await new Promise((r) => setTimeout(r, DWELL_MS));
  }
  await pressCall(alice, "bench_bob");
  const answer = await bob.waitForSelector(
    "xpath/.//button[normalize-space(.)='Answer']",
    { timeout: 20_000 },
  );
  await answer!.click();
  await Promise.all([
    waitForText(alice, ".in-call .call-state", "Connected with"),
    waitForText(bob, ".in-call .call-state", "Connected with"),
  ]);
  const [a, b] = [await marks(alice), await marks(bob)];

  ring[kind].push(b.ring - a.press);
  connect.push(Math.max(a.connected, b.connected) - b.answer);
  // Audio really flows before the next call (read from the stats panel).
  await Promise.all([waitForAudio(alice), waitForAudio(bob)]);
  const hang = await alice.waitForSelector(
    "xpath/.//button[normalize-space(.)='Hang up']",
  );
  await hang!.click();
  await bob.waitForFunction(() => !document.querySelector(".in-call"), {
    polling: 50,
  });
}

const warm = await b2.browser.newPage();
await warm.goto(server.origin + "/offline", { waitUntil: "load" });

const median = (xs: number[]) =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (xs: number[]) =>
  `median ${median(xs).toFixed(1)} ms (min ${Math.min(...xs).toFixed(1)}, max ${
    Math.max(...xs).toFixed(1)
  })`;
for (let i = 0; i < CALLS; i++) {
  await oneCall(
    i % 2 ? signedIn : anonymous,
    i % 2 ? "sealed" : "anonymous",
  );
  await oneCall(
    i % 2 ? anonymous : signedIn,
    i % 2 ? "anonymous" : "sealed",
  );
  await oneCall(anonymous, "anonymous, pointer on Call first", true);
  await oneCall(signedIn, "sealed, pointer on Call first", true);
  await warm.bringToFront();
  bare.push(await bareSetup(warm));
}
console.log(
  `Microphones that start in ${MIC_MS} ms: ${CALLS} calls of each kind, timed in the pages:`,
);
for (const [kind, xs] of Object.entries(ring)) {
  console.log(`  press Call -> callee rings, ${kind}: ${fmt(xs)}`);
}
console.log(
  `  sealing's cost on the ring: ${
    (median(ring.sealed) - median(ring.anonymous)).toFixed(1)
  } ms (median difference)`,
);
console.log(
  `  Answer -> both connected (Reach):              ${fmt(connect)}`,
);
console.log(`  createOffer -> both connected (bare, 1 page):  ${fmt(bare)}`);
console.log(
  `  ratio Reach / bare: ${(median(connect) / median(bare)).toFixed(2)}x`,
);
