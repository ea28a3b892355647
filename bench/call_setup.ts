/**
 * Call set-up times in real headless Chromium (two browser processes, fake
 * microphones, a real server on loopback): from pressing Call to the callee's
 * ring showing, and from pressing Answer to both sides showing "Connected"
 * (RTCPeerConnection connected; audio is then checked to flow).
 * Run: deno run -A bench/call_setup.ts [calls=5]
 */
import { launchBrowser, waitForText } from "../tests/_helpers/browser.ts";
import {
  pressCall,
  receiveCalls,
  signUp,
  waitForAudio,
} from "../tests/_helpers/people.ts";
import { startAppServer } from "../tests/_helpers/server.ts";

const CALLS = Number(Deno.args[0] ?? 5);

await using server = await startAppServer();
await using b1 = await launchBrowser();
await using b2 = await launchBrowser();
const bob = await signUp(b1.browser, server.origin, "bench_bob");
await receiveCalls(bob, "bench_bob");
const alice = await b2.browser.newPage();

const toRing: number[] = [];
const toConnected: number[] = [];
for (let i = 0; i < CALLS; i++) {
  await alice.goto(server.origin + "/@bench_bob", { waitUntil: "load" });
  const t0 = performance.now();
  await pressCall(alice, "bench_bob");
  const answer = await bob.waitForSelector(
    "xpath/.//button[normalize-space(.)='Answer']",
    { timeout: 20_000 },
  );
  toRing.push(performance.now() - t0);
  const t1 = performance.now();
  await answer!.click();
  await Promise.all([
    waitForText(alice, ".in-call .call-state", "Connected with"),
    waitForText(bob, ".in-call .call-state", "Connected with"),
  ]);
  toConnected.push(performance.now() - t1);
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

const median = (xs: number[]) =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)].toFixed(0);
console.log(
  `${CALLS} calls: Call pressed -> callee rings: median ${median(toRing)} ms ` +
    `(min ${Math.min(...toRing).toFixed(0)}, max ${
      Math.max(...toRing).toFixed(0)
    }); ` +
    `Answer pressed -> both browsers connected: median ${
      median(toConnected)
    } ms ` +
    `(min ${Math.min(...toConnected).toFixed(0)}, max ${
      Math.max(...toConnected).toFixed(0)
    })`,
);
