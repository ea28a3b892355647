/**
 * Limits on phone verification codes, end to end through the real handler:
 * counted in KV per client address (via a trusted proxy header here, to
 * stand for several clients), per (handle, number), and per number by all
 * handles together. Contact discovery's limits: tests/http/discovery_test.ts.
 */
import assert from "node:assert/strict";
import { LIMITS } from "@/lib/limits.ts";
import { person, testApp, type TestClient } from "../_helpers/app.ts";
import { inOneWindow } from "../_helpers/limit_window.ts";

const PROXY = { REACH_PROXY_HEADER: "x-forwarded-for" };
const HOUR = LIMITS.otpPerNumber.windowMs;
const OWNERS_NUMBER = "+447911123456";

type Answer = { status: number; body: Record<string, unknown>; res: Response };

function assertRateLimited(r: Answer, what: RegExp) {
  assert.equal(r.status, 429, JSON.stringify(r.body));
  assert.equal(r.body.error, "rate_limited");
  assert.match(String(r.body.message), what);
  assert.match(String(r.body.message), /Try again in \d+ (second|minute|hour)/);
  const retry = Number(r.res.headers.get("retry-after"));
  assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 3601, `${retry}`);
}

/** The dev SMS provider prints codes; keep the test output quiet. */
async function quietly(fn: () => Promise<void>): Promise<void> {
  const orig = console.log;
  console.log = () => {};
  try {
    await fn();
  } finally {
    console.log = orig;
  }
}

const askCode = (c: TestClient, phone = OWNERS_NUMBER) =>
  c.json("/api/me/phone/start", { method: "POST", body: { phone } });

Deno.test("phone codes: five strangers asking for the owner's number do not lock the owner out; the per-number cap holds", async () => {
  await inOneWindow(HOUR, () =>
    quietly(async () => {
      await using app = await testApp({
        ...PROXY,
        REACH_LIMIT_OTP_PER_HANDLE_NUMBER: "1",
        REACH_LIMIT_OTP_PER_NUMBER: "6",
      });
      for (let i = 0; i < 5; i++) {
        const stranger = await person(app, `stranger_${i}`, `203.0.113.${i}`);
        assert.equal((await askCode(stranger)).status, 200);
      }
      const owner = await person(app, "the_owner", "198.51.100.7");
      const mine = await askCode(owner);
      assert.equal(mine.status, 200, JSON.stringify(mine.body));
      // Six codes for this number this hour, from every handle together.
      const late = await person(app, "stranger_late", "203.0.113.99");
      assertRateLimited(
        await askCode(late),
        /this number, by everyone together \(at most 6 an hour\)/,
      );
      // That handle's other numbers are not affected.
      assert.equal((await askCode(late, "+447911123457")).status, 200);
    }));
});

Deno.test("phone codes: one address may ask for so many codes an hour; another address, or a forged header without the proxy setting, gets no fresh budget", async () => {
  await inOneWindow(HOUR, () =>
    quietly(async () => {
      await using app = await testApp({
        ...PROXY,
        REACH_LIMIT_OTP_PER_ADDRESS: "2",
      });
      const a = await person(app, "addr_a");
      assert.equal((await askCode(a, "+447911200201")).status, 200);
      assert.equal((await askCode(a, "+447911200202")).status, 200);
      const b = await person(app, "addr_b");
      assertRateLimited(
        await askCode(b, "+447911200203"),
        /codes requested from your network \(at most 2 an hour\)/,
      );
      const elsewhere = await person(app, "addr_c", "198.51.100.2");
      assert.equal((await askCode(elsewhere, "+447911200203")).status, 200);
    }));
  await inOneWindow(HOUR, () =>
    quietly(async () => {
      await using app = await testApp({ REACH_LIMIT_OTP_PER_ADDRESS: "2" });
      const a = await person(app, "plain_a");
      assert.equal((await askCode(a, "+447911200201")).status, 200);
      assert.equal((await askCode(a, "+447911200202")).status, 200);
      // Without REACH_PROXY_HEADER the header is the client's own word.
      const forged = await person(app, "plain_b", "198.51.100.2");
      assertRateLimited(
        await askCode(forged, "+447911200203"),
        /from your network/,
      );
    }));
});
