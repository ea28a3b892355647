/**
 * TURN through a real coturn, with credentials from a real Reach server, in
 * real headless Chromium: relay candidates with the right secret, a 401 and
 * none with a wrong one, and a relay-to-relay audio call.
 */
import assert from "node:assert/strict";
import type { Page } from "puppeteer-core";
import { collectErrors, launchBrowser } from "../_helpers/browser.ts";
import { startCoturn } from "../_helpers/coturn.ts";
import { type RunningServer, startAppServer } from "../_helpers/server.ts";

/** Reach (main.ts, test mode) handing out coturn REST credentials. */
function startReach(turnUrl: string, secret: string): Promise<RunningServer> {
  return startAppServer({
    REACH_TURN_PROVIDER: "coturn",
    REACH_TURN_URLS: turnUrl,
    REACH_TURN_SECRET: secret,
    REACH_TURN_TTL_SECONDS: "600",
  });
}

interface Gathered {
  status: number;
  servers: number;
  candidates: { type: string | null; address: string | null }[];
  errors: { errorCode: number; url: string }[];
}

/**
 * In the page: fetch /api/ice, make a relay-only RTCPeerConnection with an
 * audio transceiver, and gather until ICE gathering completes.
 */
function gatherRelay(page: Page): Promise<Gathered> {
  return page.evaluate(async () => {
    const res = await fetch("/api/ice");
    const { iceServers } = await res.json();
    const pc = new RTCPeerConnection({
      iceServers,
      iceTransportPolicy: "relay",
    });
    const candidates: Gathered["candidates"] = [];
    const errors: Gathered["errors"] = [];
    pc.addEventListener("icecandidateerror", (e) => {
      const err = e as RTCPeerConnectionIceErrorEvent;
      errors.push({ errorCode: err.errorCode, url: err.url });
    });
    const complete = new Promise<void>((resolve) => {
      pc.addEventListener("icecandidate", (e) => {
        if (e.candidate) {
          candidates.push({
            type: e.candidate.type,
            address: e.candidate.address,
          });
        } else resolve(); // the end-of-candidates event
      });
    });
    pc.addTransceiver("audio");
    await pc.setLocalDescription(await pc.createOffer());
    await complete;
    pc.close();
    return {
      status: res.status,
      servers: iceServers.length,
      candidates,
      errors,
    };
  });
}

Deno.test({
  name:
    "turn relay: with Reach's credentials Chromium gets a relay candidate on 127.0.0.1",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using turn = await startCoturn();
    await using reach = await startReach(turn.url, turn.secret);
    await using tb = await launchBrowser();
    const page = await tb.browser.newPage();
    const errors = collectErrors(page);
    await page.goto(reach.origin + "/security", { waitUntil: "load" });
    const got = await gatherRelay(page);
    assert.equal(got.status, 200);
    assert.equal(got.servers, 1);
    assert.ok(got.candidates.length >= 1, JSON.stringify(got));
    for (const c of got.candidates) {
      assert.equal(c.type, "relay");
      assert.equal(c.address, "127.0.0.1");
    }
    assert.deepEqual(got.errors, []);
    assert.deepEqual(errors, []);
  },
});

Deno.test({
  name:
    "turn relay: with a wrong secret coturn answers 401 and no relay candidate appears",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using turn = await startCoturn();
    await using reach = await startReach(
      turn.url,
      "not-the-secret-coturn-was-given",
    );
    await using tb = await launchBrowser();
    const page = await tb.browser.newPage();
    await page.goto(reach.origin + "/security", { waitUntil: "load" });
    const got = await gatherRelay(page);
    assert.equal(got.status, 200);
    assert.deepEqual(got.candidates, [], JSON.stringify(got));
    assert.ok(
      got.errors.some((e) => e.errorCode === 401),
      `a 401 icecandidateerror: ${JSON.stringify(got.errors)}`,
    );
  },
});

interface CallResult {
  connected: boolean;
  local: string | null;
  remote: string | null;
  localAddress: string | null;
  remoteAddress: string | null;
  packetsReceived: number;
}

Deno.test({
  name:
    "turn relay: two peer connections call relay-to-relay and audio arrives",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using turn = await startCoturn();
    await using reach = await startReach(turn.url, turn.secret);
    await using tb = await launchBrowser();
    const page = await tb.browser.newPage();
    const errors = collectErrors(page);
    await page.goto(reach.origin + "/security", { waitUntil: "load" });
    const result: CallResult = await page.evaluate(async () => {
      const ice = async () => (await (await fetch("/api/ice")).json());
      const [a, b] = await Promise.all([ice(), ice()]);
      const caller = new RTCPeerConnection({
        iceServers: a.iceServers,
        iceTransportPolicy: "relay",
      });
      const callee = new RTCPeerConnection({
        iceServers: b.iceServers,
        iceTransportPolicy: "relay",
      });
      caller.onicecandidate = (e) => {
        if (e.candidate) callee.addIceCandidate(e.candidate);
      };
      callee.onicecandidate = (e) => {
        if (e.candidate) caller.addIceCandidate(e.candidate);
      };
      const connected = (pc: RTCPeerConnection) =>
        new Promise<boolean>((resolve) => {
          const check = () => {
            if (pc.connectionState === "connected") resolve(true);
            if (pc.connectionState === "failed") resolve(false);
          };
          pc.addEventListener("connectionstatechange", check);
          check();
        });
      const both = Promise.all([connected(caller), connected(callee)]);

      const mic = await navigator.mediaDevices.getUserMedia({ audio: true });
      for (const track of mic.getTracks()) caller.addTrack(track, mic);
      await caller.setLocalDescription(await caller.createOffer());
      await callee.setRemoteDescription(caller.localDescription!);
      await callee.setLocalDescription(await callee.createAnswer());
      await caller.setRemoteDescription(callee.localDescription!);
      const ok = (await both).every(Boolean);

      // Poll the callee's stats (bounded) until audio packets have arrived
      // over the selected pair.
      let out = {
        connected: ok,
        local: null as string | null,
        remote: null as string | null,
        localAddress: null as string | null,
        remoteAddress: null as string | null,
        packetsReceived: 0,
      };
      const deadline = performance.now() + 15_000;
      while (ok && performance.now() < deadline) {
        const stats = await callee.getStats();
        let pairId: string | undefined;
        let packets = 0;
        stats.forEach((s) => {
          if (s.type === "transport") pairId = s.selectedCandidatePairId;
          if (s.type === "inbound-rtp" && s.kind === "audio") {
            packets = s.packetsReceived ?? 0;
          }
        });
        const pair = pairId ? stats.get(pairId) : undefined;
        const local = pair ? stats.get(pair.localCandidateId) : undefined;
        const remote = pair ? stats.get(pair.remoteCandidateId) : undefined;
        out = {
          connected: ok,
          local: local?.candidateType ?? null,
          remote: remote?.candidateType ?? null,
          localAddress: local?.address ?? null,
          remoteAddress: remote?.address ?? null,
          packetsReceived: packets,
        };
        if (packets > 0 && pair?.state === "succeeded") break;
        await new Promise((r) => setTimeout(r, 50));
      }
      mic.getTracks().forEach((t) => t.stop());
      caller.close();
      callee.close();
      return out;
    });
    assert.ok(result.connected, `connected: ${JSON.stringify(result)}`);
    assert.equal(result.local, "relay");
    assert.equal(result.remote, "relay");
    assert.equal(result.localAddress, "127.0.0.1");
    assert.equal(result.remoteAddress, "127.0.0.1");
    assert.ok(result.packetsReceived > 0, JSON.stringify(result));
    assert.deepEqual(errors, []);
  },
});
