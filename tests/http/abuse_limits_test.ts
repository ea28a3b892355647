/**
 * Per-client limits on sign-in nonces, sessions and handle claims, counted in
 * KV per client address (never per something the client chooses).
 *
 * Each limit is tested twice: behind a trusted proxy (REACH_PROXY_HEADER set,
 * so X-Forwarded-For names the client) the N+1-th request from one address is
 * 429 and another address still succeeds; without that setting a forged
 * X-Forwarded-For is ignored and brings no fresh budget.
 */
import assert from "node:assert/strict";
import { LIMITS } from "@/lib/limits.ts";
import { keys } from "@/lib/store/keys.ts";
import { type TestApp, testApp } from "../_helpers/app.ts";
import { inOneWindow } from "../_helpers/limit_window.ts";
import { newWallet } from "../_helpers/wallet.ts";

const PROXY = { REACH_PROXY_HEADER: "x-forwarded-for" };
const A = "198.51.100.1";
const B = "198.51.100.2";

type Answer = { status: number; body: Record<string, unknown>; res: Response };

/** The 429 every limit answers: its JSON shape and a Retry-After in seconds. */
function assertRateLimited(r: Answer, windowMs: number, what: RegExp) {
  assert.equal(r.status, 429, JSON.stringify(r.body));
  assert.equal(r.body.error, "rate_limited");
  assert.match(String(r.body.message), what);
  assert.match(String(r.body.message), /Try again in \d+ (second|minute|hour)/);
  const retry = Number(r.res.headers.get("retry-after"));
  assert.ok(
    Number.isInteger(retry) && retry >= 1 && retry <= windowMs / 1000 + 1,
    `retry-after ${retry}`,
  );
}

async function count(kv: Deno.Kv, prefix: string): Promise<number> {
  let n = 0;
  for await (const _ of kv.list({ prefix: [prefix] })) n++;
  return n;
}

/**
 * Both halves of a per-address limit test. `attempt` makes one request (with
 * fresh clients as it needs) whose client sends `headers`; it succeeds with
 * `ok` until the address has spent `n`.
 */
async function perAddressLimit(o: {
  env: Record<string, string>;
  n: number;
  windowMs: number;
  ok: number;
  what: RegExp;
  attempt: (app: TestApp, headers: HeadersInit, i: number) => Promise<Answer>;
  /** Extra checks once the proxied half is done (A spent n, B one). */
  after?: (app: TestApp) => Promise<void>;
}) {
  await inOneWindow(o.windowMs, async () => {
    await using app = await testApp({ ...o.env, ...PROXY });
    let i = 0;
    for (; i < o.n; i++) {
      const r = await o.attempt(app, { "x-forwarded-for": A }, i);
      assert.equal(
        r.status,
        o.ok,
        `request ${i + 1}: ${JSON.stringify(r.body)}`,
      );
    }
    assertRateLimited(
      await o.attempt(app, { "x-forwarded-for": A }, i++),
      o.windowMs,
      o.what,
    );
    // What a client writes itself comes before what the proxy appends.
    assertRateLimited(
      await o.attempt(app, { "x-forwarded-for": `203.0.113.9, ${A}` }, i++),
      o.windowMs,
      o.what,
    );
    const other = await o.attempt(app, { "x-forwarded-for": B }, i++);
    assert.equal(other.status, o.ok, "another address has its own budget");
    await o.after?.(app);
  });
  await inOneWindow(o.windowMs, async () => {
    await using app = await testApp(o.env);
    let i = 0;
    for (; i < o.n; i++) {
      assert.equal((await o.attempt(app, {}, i)).status, o.ok);
    }
    assertRateLimited(await o.attempt(app, {}, i++), o.windowMs, o.what);
    for (const forged of [B, `${B}, 192.0.2.1`]) {
      assertRateLimited(
        await o.attempt(app, { "x-forwarded-for": forged }, i++),
        o.windowMs,
        o.what,
      );
    }
  });
}

Deno.test("limits: the 4th sign-in nonce from one address in 10 minutes is 429 and stores nothing", async () => {
  await perAddressLimit({
    env: { REACH_LIMIT_NONCES_PER_ADDRESS: "3" },
    n: 3,
    windowMs: LIMITS.noncesPerAddress.windowMs,
    ok: 200,
    what: /sign-in requests from your network \(at most 3 every 10 minutes\)/,
    attempt: (app, headers) =>
      app.client({ headers }).json("/api/auth/nonce", { method: "POST" }),
    after: async (app) => {
      assert.equal(
        await count(app.kv, keys.nonce("x")[0]),
        4,
        "three nonces for A, one for B; none for the refused requests",
      );
    },
  });
});

Deno.test("limits: the 4th session created from one address in an hour is 429; no session is stored", async () => {
  await perAddressLimit({
    env: { REACH_LIMIT_SIGNINS_PER_ADDRESS: "3" },
    n: 3,
    windowMs: LIMITS.signInsPerAddress.windowMs,
    ok: 200,
    what: /sign-ins from your network \(at most 3 an hour\)/,
    attempt: async (app, headers) => {
      const c = app.client({ headers });
      const r = await c.signIn(newWallet());
      if (r.status === 429) {
        assert.equal(c.cookies.size, 0, "no session cookie when refused");
      }
      return r as unknown as Answer;
    },
    after: async (app) => {
      assert.equal(await count(app.kv, keys.session("x")[0]), 4);
    },
  });
});

Deno.test("limits: failed sign-ins spend no sign-in budget", async () => {
  await inOneWindow(LIMITS.signInsPerAddress.windowMs, async () => {
    await using app = await testApp({ REACH_LIMIT_SIGNINS_PER_ADDRESS: "1" });
    const c = app.client();
    for (let i = 0; i < 3; i++) {
      const offer = await c.json("/api/auth/nonce", { method: "POST" });
      const bad = await c.json("/api/auth/verify", {
        method: "POST",
        body: {
          message: "not a sign-in message",
          signature: "x",
          publicKey: "y",
        },
      });
      assert.equal(offer.status, 200);
      assert.equal(bad.status, 401);
    }
    assert.equal((await c.signIn(newWallet())).status, 200);
    assert.equal((await app.client().signIn(newWallet())).status, 429);
  });
});

Deno.test("limits: the 4th handle claimed from one address in a day is 429 and claims nothing", async () => {
  let claimed = 0;
  await perAddressLimit({
    env: { REACH_LIMIT_CLAIMS_PER_ADDRESS: "3" },
    n: 3,
    windowMs: LIMITS.claimsPerAddress.windowMs,
    ok: 201,
    what: /handles claimed from your network \(at most 3 a day\)/,
    attempt: async (app, headers, i) => {
      const c = app.client({ headers });
      assert.equal((await c.signIn(newWallet())).status, 200);
      const handle = `claimer_${claimed++}_${i}`;
      const r = await c.json("/api/handles", {
        method: "POST",
        body: { handle },
      });
      if (r.status === 429) {
        assert.equal(
          (await app.client().request(`/handles/${handle}`)).status,
          404,
          "a refused claim claims nothing",
        );
      }
      return r;
    },
  });
});

Deno.test("limits: claims refused as taken or already-had spend no claim budget", async () => {
  await inOneWindow(LIMITS.claimsPerAddress.windowMs, async () => {
    await using app = await testApp({ REACH_LIMIT_CLAIMS_PER_ADDRESS: "2" });
    const claim = (c: ReturnType<TestApp["client"]>, handle: string) =>
      c.json("/api/handles", { method: "POST", body: { handle } });
    const one = app.client();
    await one.signIn(newWallet());
    assert.equal((await claim(one, "alpha_1")).status, 201);
    for (let i = 0; i < 3; i++) {
      const had = await claim(one, `beta_${i}`);
      assert.equal(had.body.error, "already_has_handle");
    }
    const two = app.client();
    await two.signIn(newWallet());
    for (let i = 0; i < 3; i++) {
      assert.equal((await claim(two, "alpha_1")).body.error, "handle_taken");
    }
    assert.equal((await claim(two, "beta_1")).status, 201);
    const three = app.client();
    await three.signIn(newWallet());
    const refused = await claim(three, "gamma_1");
    assertRateLimited(
      refused,
      LIMITS.claimsPerAddress.windowMs,
      /at most 2 a day/,
    );
  });
});
