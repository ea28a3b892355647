/**
 * Sealed sender (issue 13) in Chromium: a signed-in caller is named to the
 * callee's browser, verified, and to no one else. Alice (signed in, with a
 * handle, her browser holding its device certificate and the server's
 * attestation from /me) calls Bob; Bob's page says "Call from @alice
 * (verified)" while it rings. Every WebSocket frame either browser sent or
 * got, every KV record the call wrote and every line the server printed is
 * searched for her handle, her wallet key and the wallet-based caller hash
 * the server used to keep: none holds any of them. Bob's "Recent calls"
 * names her only in his own browser; once she signs out, her browser calls
 * anonymously.
 *
 * Then a compromised server (tests/_helpers/mitm.ts) changes the sealed
 * identity on its way: another call's, one Mallory sealed claiming to be
 * Alice, a damaged one. Each time Bob's page says "unverified caller" with
 * the reason, and never names Alice.
 */
import assert from "node:assert/strict";
import * as ed from "@noble/ed25519";
import { base58 } from "@scure/base";
import type { Page } from "puppeteer-core";
import { hmacHex } from "@/lib/crypto/hash.ts";
import {
  type InboxKey,
  sealBox,
  type SealedBox,
} from "@/lib/crypto/sealed_box.ts";
import { certText } from "@/lib/identity/device_cert.ts";
import { RING_LABEL, ringStatementText } from "@/lib/identity/sealed_ring.ts";
import {
  collectErrors,
  type Frame,
  launchBrowser,
  recordFrames,
  type TestBrowser,
  waitForText,
} from "../_helpers/browser.ts";
import { TestClient } from "../_helpers/app.ts";
import { startMitmProxy } from "../_helpers/mitm.ts";
import {
  answerCall,
  canCallAs,
  hangUp,
  pressCall,
  readCallLog,
  receiveCalls,
  signUp,
  waitForAudio,
} from "../_helpers/people.ts";
import { startAppServer } from "../_helpers/server.ts";
import { newWallet } from "../_helpers/wallet.ts";

/** startAppServer's REACH_HMAC_KEY. */
const HMAC_KEY = new Uint8Array(32).fill(1);

/**
 * Bob (`bob_<tag>`, receiving calls) and Alice (`alice_<tag>`), each signed
 * up in their own browser, each able to call as themselves.
 */
async function bobAndAlice(
  bobBrowser: TestBrowser,
  aliceBrowser: TestBrowser,
  origin: string,
  tag: string,
): Promise<{ bob: Page; alice: Page }> {
  const bob = await signUp(bobBrowser.browser, origin, `bob_${tag}`);
  await receiveCalls(bob, `bob_${tag}`);
  await canCallAs(bob, `bob_${tag}`);
  const alice = await signUp(aliceBrowser.browser, origin, `alice_${tag}`);
  await canCallAs(alice, `alice_${tag}`);
  return { bob, alice };
}

/** Any value as searchable text: bytes in hex, big integers in decimal. */
function show(v: unknown): string {
  return JSON.stringify(
    v,
    (_k, x) =>
      x instanceof Uint8Array
        ? `bytes:${x.toHex()}`
        : typeof x === "bigint"
        ? String(x)
        : x instanceof Deno.KvU64
        ? String(x.value)
        : x,
  ) ?? "";
}

/** Every KV entry of the file: its key's text → versionstamp and text. */
async function kvDump(
  path: string,
): Promise<Map<string, { versionstamp: string; text: string }>> {
  const kv = await Deno.openKv(path);
  try {
    const out = new Map<string, { versionstamp: string; text: string }>();
    for await (const e of kv.list({ prefix: [] })) {
      const key = show(e.key);
      out.set(key, {
        versionstamp: e.versionstamp,
        text: `${key} ${show(e.value)}`.toLowerCase(),
      });
    }
    return out;
  } finally {
    kv.close();
  }
}

Deno.test({
  name:
    "sealed sender: Bob sees @alice verified; no frame, KV record or log line names her to the server",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "reach-sealed-" });
    await using server = await startAppServer({}, { dir });
    await using bobBrowser = await launchBrowser();
    await using aliceBrowser = await launchBrowser();
    const { bob, alice } = await bobAndAlice(
      bobBrowser,
      aliceBrowser,
      server.origin,
      "sealed",
    );
    const bobErrors = collectErrors(bob);
    const { walletPubkey: wallet } = await (await fetch(
      `${server.origin}/handles/alice_sealed`,
    )).json() as { walletPubkey: string };
    const needles = [
      "alice",
      wallet.toLowerCase(),
      base58.decode(wallet).toHex(),
      await hmacHex(HMAC_KEY, "caller", `wallet:${wallet}`),
    ];
    const leaks = (text: string) =>
      needles.filter((n) => text.toLowerCase().includes(n));
    const before = await kvDump(server.kvPath);
    // The search does find her: her own account's records name her.
    const own = [...before.values()].map((e) => e.text).join("\n");
    assert.ok(own.includes("alice_sealed") && own.includes(needles[1]));

    const bobFrames = await recordFrames(bob);
    const aliceErrors = collectErrors(alice);
    const aliceFrames = await recordFrames(alice);
    await alice.goto(server.origin + "/@bob_sealed", { waitUntil: "load" });
    await pressCall(alice, "bob_sealed");
    await waitForText(alice, ".calling-as", "Calling as @alice_sealed");
    await waitForText(bob, ".ring", "Call from @alice_sealed (verified)");
    await answerCall(bob);
    const [a, b] = await Promise.all([waitForAudio(alice), waitForAudio(bob)]);
    assert.equal(a.remoteFingerprint, b.localFingerprint);
    assert.equal(b.remoteFingerprint, a.localFingerprint);
    await waitForText(
      bob,
      ".in-call .identity",
      "Verified caller @alice_sealed",
    );
    await waitForText(
      alice,
      ".in-call .identity",
      "Verified: @bob_sealed's device",
    );
    await hangUp(alice, bob);

    // The frames: the ring went sealed, Bob got it sealed, no `from`, and
    // Alice sent no `verify` (her certificate would have named her).
    const json = (f: Frame) => JSON.parse(f.text) as Record<string, unknown>;
    const ring = aliceFrames.filter((f) => f.dir === "up").map(json)
      .find((m) => m.type === "ring");
    assert.ok(ring?.sealed, "the ring carried a sealed identity");
    const incoming = bobFrames.filter((f) => f.dir === "down").map(json)
      .find((m) => m.type === "incoming");
    assert.deepEqual(Object.keys(incoming ?? {}).sort(), [
      "callId",
      "sealed",
      "type",
    ]);
    assert.deepEqual(incoming!.sealed, ring!.sealed, "relayed as sent");
    assert.ok(
      !aliceFrames.some((f) => f.dir === "up" && json(f).type === "verify"),
      "the caller sent no verify",
    );
    // Bob's "Recent calls": the server renders a pseudonym; his browser,
    // which verified Alice when the call rang, names her.
    const callId = String(incoming!.callId);
    const html = await bob.evaluate(() => fetch("/me").then((r) => r.text()));
    assert.ok(html.includes(`data-call="${callId}"`), "the call is listed");
    assert.deepEqual(leaks(html), [], "the server's page names no caller");
    await bob.reload({ waitUntil: "load" });
    await bob.waitForFunction(
      (id) =>
        document.querySelector(`[data-call="${id}"]`)?.textContent ===
          "@alice_sealed",
      { polling: 50, timeout: 10_000 },
      callId,
    );
    await waitForText(bob, ".known-callers", "verified");

    const frames = [...aliceFrames, ...bobFrames];
    assert.ok(frames.length > 10, `${frames.length} frames recorded`);
    for (const f of frames) {
      assert.deepEqual(leaks(f.text), [], `${f.dir}: ${f.text.slice(0, 200)}`);
    }

    // The call log names the caller by her browser's random token only.
    const token = await alice.evaluate(() =>
      localStorage.getItem("reach.callerToken")
    );
    const [logged] = await readCallLog(server.kvPath);
    assert.equal(logged.decision, "answered");
    assert.equal(
      logged.callerHash,
      await hmacHex(HMAC_KEY, "caller", `token:${token}`),
    );

    // Signed out, her browser forgets its identity and calls anonymously.
    await alice.goto(server.origin + "/me", { waitUntil: "load" });
    const signOut = await alice.waitForSelector(
      "xpath/.//button[normalize-space(.)='Sign out' and not(@disabled)]",
    );
    await Promise.all([
      alice.waitForNavigation({ waitUntil: "load" }),
      signOut!.click(),
    ]);
    await alice.goto(server.origin + "/@bob_sealed", { waitUntil: "load" });
    await pressCall(alice, "bob_sealed");
    await waitForText(alice, ".calling-as", "Calling anonymously.");
    await waitForText(bob, ".ring", "Call from an anonymous caller");
    const cancel = await alice.waitForSelector(
      "xpath/.//div[contains(@class,'call')]//button[normalize-space(.)='Cancel']",
    );
    await cancel!.click();
    await waitForText(alice, ".call .status", "Call cancelled.");
    assert.deepEqual(aliceErrors, []);
    assert.deepEqual(bobErrors, []);

    // Every record the call wrote or changed, and every line printed.
    await server.stop();
    const after = await kvDump(server.kvPath);
    const hash = needles[3];
    let changed = 0;
    for (const [key, e] of after) {
      assert.ok(!e.text.includes(hash), `the wallet's caller hash in ${key}`);
      if (before.get(key)?.versionstamp === e.versionstamp) continue;
      changed++;
      assert.deepEqual(leaks(e.text), [], e.text.slice(0, 300));
    }
    assert.ok(changed > 0, "the call wrote records");
    const out = server.output();
    assert.ok(out.includes('"event":"call.answered"'), "the call was logged");
    for (const line of out.split("\n")) {
      assert.deepEqual(leaks(line), [], line);
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  },
});

/** A device certificate claiming `handle`, signed by `signer`'s wallet. */
async function forgedRing(
  o: {
    callId: string;
    to: string;
    keys: InboxKey[];
    claims: { handle: string; wallet: string };
    signer: ReturnType<typeof newWallet>;
    attestation: { text: string; sig: string };
  },
): Promise<SealedBox> {
  const device = ed.utils.randomSecretKey();
  const now = new Date();
  const cert = certText({
    handle: o.claims.handle,
    device: base58.encode(await ed.getPublicKeyAsync(device)),
    wallet: o.claims.wallet,
    issued: now.toISOString(),
    expires: new Date(now.getTime() + 86400_000).toISOString(),
  });
  const fingerprint = `sha-256 ${Array(32).fill("AB").join(":")}`;
  const time = now.toISOString();
  const sig = base58.encode(
    await ed.signAsync(
      new TextEncoder().encode(ringStatementText({
        callId: o.callId,
        to: o.to,
        from: o.claims.handle,
        fingerprint,
        time,
      })),
      device,
    ),
  );
  const plaintext = JSON.stringify({
    cert,
    certSig: o.signer.sign(cert),
    att: o.attestation.text,
    attSig: o.attestation.sig,
    fingerprint,
    time,
    sig,
  });
  return await sealBox(
    RING_LABEL,
    { callId: o.callId, handle: o.to },
    new TextEncoder().encode(plaintext),
    o.keys,
  );
}

Deno.test({
  name:
    "sealed sender: a server that swaps, forges or damages the sealed identity gets 'unverified caller', never @alice",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const proxy = startMitmProxy();
    await using server = await startAppServer({ REACH_ORIGIN: proxy.origin });
    proxy.upstream = server.origin;
    await using _proxy = proxy;
    await using bobBrowser = await launchBrowser();
    await using aliceBrowser = await launchBrowser();
    const { bob, alice } = await bobAndAlice(
      bobBrowser,
      aliceBrowser,
      proxy.origin,
      "forged",
    );
    const aliceWallet = (await (await fetch(
      `${server.origin}/handles/alice_forged`,
    )).json()).walletPubkey as string;

    // Mallory: signed in with her own wallet and handle, her own attestation.
    const malloryWallet = newWallet();
    const mallory = new TestClient((req) => {
      const u = new URL(req.url);
      return fetch(new Request(server.origin + u.pathname + u.search, req));
    });
    mallory.origin = proxy.origin;
    assert.equal((await mallory.signIn(malloryWallet)).status, 200);
    assert.equal(
      (await mallory.json("/api/handles", {
        method: "POST",
        body: { handle: "mallory_forged" },
      })).status,
      201,
    );
    const att = await mallory.json<{ text: string; sig: string }>(
      "/api/me/attestation",
    );
    assert.equal(att.status, 200);
    const { keys } = await (await fetch(
      `${server.origin}/handles/bob_forged/inbox-keys`,
    )).json() as { keys: InboxKey[] };
    assert.ok(keys.length > 0);

    await alice.goto(proxy.origin + "/@bob_forged", { waitUntil: "load" });
    /** Alice calls; Bob's ring says `line`; Alice cancels. */
    async function call(line: string): Promise<void> {
      await pressCall(alice, "bob_forged");
      await waitForText(bob, ".ring", line);
      const cancel = await alice.waitForSelector(
        "xpath/.//div[contains(@class,'call')]//button[normalize-space(.)='Cancel']",
      );
      await cancel!.click();
      await waitForText(alice, ".call .status", "Call cancelled.");
      await bob.waitForFunction(() => !document.querySelector(".ring"), {
        polling: 50,
      });
    }

    // A faithful relay first: verified, and its sealed identity kept.
    await call("Call from @alice_forged (verified)");
    const [earlier] = [...proxy.rings.values()] as SealedBox[];
    assert.ok(earlier?.ct, "the first ring was sealed");

    // From here on Bob's page must never name Alice.
    await bob.evaluate(() => {
      const w = globalThis as unknown as { __named: boolean };
      w.__named = false;
      new MutationObserver(() => {
        if (document.body.textContent?.includes("alice_forged")) {
          w.__named = true;
        }
      }).observe(document.body, {
        childList: true,
        subtree: true,
        characterData: true,
      });
    });
    const attacks: [string, (callId: string, s: unknown) => unknown][] = [
      [
        // Another call's identity, relabelled for this call (the server
        // refuses one that names another call).
        "the caller's identity was sealed for another call or changed on the way",
        (callId) => ({ ...earlier, callId }),
      ],
      [
        // One byte of the ciphertext flipped.
        "the caller's identity was sealed for another call or changed on the way",
        (_callId, s) => {
          const box = s as SealedBox;
          const ct = Uint8Array.fromBase64(box.ct);
          ct[ct.length >> 1] ^= 1;
          return { ...box, ct: ct.toBase64() };
        },
      ],
      [
        // Mallory's certificate naming @alice_forged, with her attestation.
        "the handle attestation does not match the caller's device certificate",
        (callId) =>
          forgedRing({
            callId,
            to: "bob_forged",
            keys,
            claims: { handle: "alice_forged", wallet: malloryWallet.address },
            signer: malloryWallet,
            attestation: att.body,
          }),
      ],
      [
        // Mallory's certificate naming Alice and her wallet key.
        "the caller's device certificate is not signed by their wallet",
        (callId) =>
          forgedRing({
            callId,
            to: "bob_forged",
            keys,
            claims: { handle: "alice_forged", wallet: aliceWallet },
            signer: malloryWallet,
            attestation: att.body,
          }),
      ],
    ];
    for (const [reason, rewrite] of attacks) {
      proxy.rewriteRing = rewrite;
      await call(`Call from an unverified caller: ${reason}`);
    }
    assert.equal(proxy.rings.size, 1 + attacks.length);
    assert.equal(
      await bob.evaluate(() =>
        (globalThis as unknown as { __named: boolean }).__named
      ),
      false,
      "Bob's page never named Alice",
    );
  },
});
