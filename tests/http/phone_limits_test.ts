/**
 * Limits on phone verification codes and contact discovery, end to end
 * through the real handler: counted in KV per client address (via a trusted
 * proxy header here, to stand for several clients), per handle or per
 * (handle, number), and globally.
 */
import assert from "node:assert/strict";
import { addressSubject } from "../../lib/client_address.ts";
import { LIMITS } from "../../lib/limits.ts";
import { rateCount } from "../../lib/store/rate.ts";
import { type TestApp, testApp, type TestClient } from "../_helpers/app.ts";
import { inOneWindow } from "../_helpers/limit_window.ts";
import { newWallet } from "../_helpers/wallet.ts";

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

/** A signed-in person with `handle`, whose requests come from `address`. */
async function person(
  app: TestApp,
  handle: string | null,
  address = "198.51.100.1",
): Promise<TestClient> {
  const c = app.client({ headers: { "x-forwarded-for": address } });
  assert.equal((await c.signIn(newWallet())).status, 200);
  if (handle) {
    const r = await c.json("/api/handles", {
      method: "POST",
      body: { handle },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  }
  return c;
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

/** 250 distinct, valid numbers. */
const numbers = (from: number, n = 250) =>
  Array.from(
    { length: n },
    (_, i) => `+4479110${String(from + i).padStart(5, "0")}`,
  );

const discover = (c: TestClient, phones: string[]) =>
  c.json("/api/discover", { method: "POST", body: { phones } });

Deno.test("discovery: a session without a handle is refused, and so is no session", async () => {
  await using app = await testApp();
  const anon = await discover(app.client(), ["+447911123456"]);
  assert.equal(anon.status, 401);
  const noHandle = await person(app, null);
  const r = await discover(noHandle, ["+447911123456"]);
  assert.equal(r.status, 409);
  assert.equal(r.body.error, "no_handle");
  assert.match(String(r.body.message), /Claim a handle/);
  const withHandle = await person(app, "finder_1");
  assert.equal((await discover(withHandle, ["+447911123456"])).status, 200);
});

Deno.test("discovery: five fresh handles from one address share its budget of numbers", async () => {
  await inOneWindow(HOUR, async () => {
    await using app = await testApp({
      ...PROXY,
      REACH_LIMIT_DISCOVERY_PER_ADDRESS: "1000",
    });
    const fresh = [];
    for (let i = 0; i < 5; i++) fresh.push(await person(app, `fresh_${i}`));
    for (let i = 0; i < 4; i++) {
      assert.equal((await discover(fresh[i], numbers(i * 250))).status, 200);
    }
    const subject = await addressSubject(app.config, "198.51.100.1");
    const windowMs = LIMITS.discoveryPerAddress.windowMs;
    assert.equal(
      await rateCount(app.kv, "discoveryPerAddress", subject, windowMs),
      1000,
      "one per number asked, in KV",
    );
    assertRateLimited(
      await discover(fresh[4], numbers(1000)),
      /numbers looked up from your network \(at most 1000 an hour\)/,
    );
    assertRateLimited(await discover(fresh[4], ["+447911123456"]), /network/);
    assert.equal(
      await rateCount(app.kv, "discoveryPerAddress", subject, windowMs),
      1000,
      "refused requests are not counted",
    );
    // A handle elsewhere has its own address budget.
    const elsewhere = await person(app, "elsewhere", "198.51.100.2");
    assert.equal((await discover(elsewhere, numbers(1000))).status, 200);
  });
});

Deno.test("discovery: a handle's budget follows it to any address; the global cap counts everyone", async () => {
  await inOneWindow(HOUR, async () => {
    await using app = await testApp({
      ...PROXY,
      REACH_LIMIT_DISCOVERY_PER_HANDLE: "5",
    });
    const a = await person(app, "roamer");
    assert.equal((await discover(a, numbers(0, 5))).status, 200);
    assertRateLimited(
      await discover(a, numbers(5, 1)),
      /Your handle has looked up too many numbers \(at most 5 an hour\)/,
    );
    // The same session from another network: still the same handle.
    const moved = app.client({ headers: { "x-forwarded-for": "192.0.2.80" } });
    moved.cookies = a.cookies;
    assert.equal((await discover(moved, numbers(5, 1))).status, 429);
    // A request larger than the limit can never pass: it says so.
    const big = await discover(await person(app, "big_asker"), numbers(0, 6));
    assert.equal(big.status, 429);
    assert.match(String(big.body.message), /ask about fewer/);
  });
  await inOneWindow(HOUR, async () => {
    await using app = await testApp({
      ...PROXY,
      REACH_LIMIT_DISCOVERY_GLOBAL: "7",
    });
    const one = await person(app, "global_1", "198.51.100.11");
    const two = await person(app, "global_2", "198.51.100.12");
    assert.equal((await discover(one, numbers(0, 5))).status, 200);
    assertRateLimited(
      await discover(two, numbers(5, 3)),
      /for everyone together/,
    );
    assert.equal((await discover(two, numbers(5, 2))).status, 200);
  });
});
