/**
 * A missed call ends in a voicemail, in real Chromium: Alice records and
 * sends it sealed in her browser; Bob's page shows it unread, decrypts and
 * plays it, and deletes it. The server's KV never holds the recording in
 * clear.
 */
import assert from "node:assert/strict";
import { launchBrowser, waitForText } from "../_helpers/browser.ts";
import {
  pressCall,
  readCallLog,
  receiveCalls,
  signUp,
} from "../_helpers/people.ts";
import { startAppServer } from "../_helpers/server.ts";

const WEBM_MAGIC = [0x1a, 0x45, 0xdf, 0xa3];

function contains(haystack: Uint8Array, needle: number[]): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return true;
  }
  return false;
}

Deno.test({
  name:
    "voicemail: a missed call, a sealed recording, played and deleted by the owner",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using server = await startAppServer({ REACH_RING_SECONDS: "1" });
    await using b1 = await launchBrowser();
    await using b2 = await launchBrowser();
    const bob = await signUp(b1.browser, server.origin, "bob_vm");
    await receiveCalls(bob, "bob_vm");
    await waitForText(bob, ".voicemails, .hint", "No voicemail");

    const alice = await b2.browser.newPage();
    await alice.goto(server.origin + "/@bob_vm", { waitUntil: "load" });
    await pressCall(alice, "bob_vm");
    await waitForText(alice, ".call .status", "@bob_vm did not answer.");
    const leave = await alice.waitForSelector(
      "xpath/.//button[normalize-space(.)='Leave a voicemail']",
    );
    await leave!.click();
    await waitForText(alice, ".voicemail .status", "Recording…");
    // Record until the countdown has moved twice, then stop.
    await alice.waitForFunction(
      () =>
        /([0-9]+)s left/.exec(
            document.querySelector(".voicemail .status")?.textContent ?? "",
          )?.[1] !== undefined &&
        Number(
            /([0-9]+)s left/.exec(
              document.querySelector(".voicemail .status")!.textContent!,
            )![1],
          ) <= 58,
      { polling: 100 },
    );
    await alice.click("xpath/.//button[normalize-space(.)='Stop']");
    await alice.waitForSelector(".voicemail audio");
    await alice.type("#vm-name", "Alice Secret-Name");
    await alice.click("xpath/.//button[normalize-space(.)='Send voicemail']");
    await waitForText(alice, ".voicemail .status", "Voicemail sent to @bob_vm");

    // Nothing in KV is the recording in clear, nor the caller's name.
    const kv = await Deno.openKv(server.kvPath);
    try {
      let chunks = 0;
      for await (const e of kv.list({ prefix: [] })) {
        const v = e.value;
        const raw = v instanceof Uint8Array ? v : new TextEncoder().encode(
          JSON.stringify(v, (_k, x) => typeof x === "bigint" ? String(x) : x),
        );
        assert.ok(
          !contains(raw, WEBM_MAGIC),
          `WebM header stored in clear at ${String(e.key)}`,
        );
        assert.ok(
          !new TextDecoder().decode(raw).includes("Secret-Name"),
          "name stored in clear",
        );
        if (e.key[0] === "vm_chunk") chunks++;
      }
      assert.ok(chunks > 0, "the sealed voicemail is stored");
    } finally {
      kv.close();
    }
    const [log] = await readCallLog(server.kvPath);
    assert.equal(log.decision, "voicemail");

    // Bob's page: unread, decrypted in his browser, plays, deletes.
    await bob.reload({ waitUntil: "load" });
    await waitForText(bob, ".voicemails", "New");
    await waitForText(bob, ".voicemails", "from Alice Secret-Name");
    assert.match(await bob.title(), /^\(1\) /, "unread count in the title");
    // Playing it: the decrypted recording really plays for more than half a second.
    await bob.$eval(
      ".voicemails audio",
      (el) => (el as HTMLAudioElement).play(),
    );
    await bob.waitForFunction(
      () =>
        (document.querySelector(".voicemails audio") as HTMLAudioElement)
          .currentTime > 0.5,
      { polling: 100 },
    );
    await bob.waitForFunction(() => !document.title.startsWith("("), {
      polling: 100,
    });
    await bob.click(
      "xpath/.//li[contains(@class,'vm')]//button[normalize-space(.)='Delete']",
    );
    await waitForText(bob, "main", "No voicemail.");
  },
});
