import assert from "node:assert/strict";
import type { NonceOffer } from "@/lib/identity/auth.ts";
import { keys } from "@/lib/store/keys.ts";
import { createSession } from "@/lib/store/sessions.ts";
import { ORIGIN, testApp } from "../_helpers/app.ts";
import { newWallet, signOffer } from "../_helpers/wallet.ts";

type Offer = NonceOffer;

Deno.test("nonce: every field comes from the configured origin, never the request", async () => {
  await using app = await testApp();
  const c = app.client();
  const { status, body } = await c.json<Offer>("/api/auth/nonce", {
    method: "POST",
    headers: { host: "evil.example", "x-forwarded-host": "evil.example" },
  });
  assert.equal(status, 200);
  assert.equal(body.domain, "localhost:8000");
  assert.equal(body.uri, ORIGIN);
  assert.equal(body.version, "1");
  assert.equal(body.chainId, "mainnet");
  assert.match(body.nonce, /^[0-9a-f]{32}$/);
  const ttl = Date.parse(body.expirationTime) - Date.parse(body.issuedAt);
  assert.equal(ttl, 5 * 60_000);
  const stored = await app.kv.get(keys.nonce(body.nonce));
  assert.ok(stored.value, "the nonce is stored in KV");
});

Deno.test("sign-in: a signed nonce opens a session cookie with the right flags", async () => {
  await using app = await testApp();
  const c = app.client();
  const wallet = newWallet();
  const res = await c.signIn(wallet);
  assert.equal(res.status, 200);
  assert.deepEqual(res.body, { publicKey: wallet.address, handle: null });
  const cookie = res.res.headers.get("set-cookie")!;
  assert.match(cookie, /^__Host-reach_session=[0-9a-f]{64}; /);
  for (const flag of ["Path=/", "HttpOnly", "SameSite=Lax", "Secure"]) {
    assert.ok(cookie.includes(flag), `cookie has ${flag}`);
  }
  assert.ok(!/Domain=/i.test(cookie), "a __Host- cookie has no Domain");
  const me = await c.json<{ publicKey: string }>("/api/auth/session");
  assert.equal(me.status, 200);
  assert.equal(me.body.publicKey, wallet.address);
});

Deno.test("sign-in: a replayed message is refused", async () => {
  await using app = await testApp();
  const c = app.client();
  const wallet = newWallet();
  const offer = await c.json<Offer>("/api/auth/nonce", { method: "POST" });
  const signed = signOffer(wallet, offer.body);
  const first = await c.json("/api/auth/verify", {
    method: "POST",
    body: signed,
  });
  assert.equal(first.status, 200);
  const again = await app.client().json("/api/auth/verify", {
    method: "POST",
    body: signed,
  });
  assert.equal(again.status, 401);
  assert.equal(again.body.error, "unknown_nonce");
});

Deno.test("sign-in: parallel replays of one message give exactly one session", async () => {
  await using app = await testApp();
  const wallet = newWallet();
  const offer = await app.client().json<Offer>("/api/auth/nonce", {
    method: "POST",
  });
  const signed = signOffer(wallet, offer.body);
  const results = await Promise.all(
    Array.from(
      { length: 20 },
      () =>
        app.client().json("/api/auth/verify", { method: "POST", body: signed }),
    ),
  );
  assert.equal(results.filter((r) => r.status === 200).length, 1);
  assert.equal(results.filter((r) => r.status === 401).length, 19);
});

Deno.test("sign-in: a nonce the server never issued is refused", async () => {
  await using app = await testApp();
  const c = app.client();
  const offer = await c.json<Offer>("/api/auth/nonce", { method: "POST" });
  const forged = { ...offer.body, nonce: "a".repeat(32) };
  const res = await c.json("/api/auth/verify", {
    method: "POST",
    body: signOffer(newWallet(), forged),
  });
  assert.equal(res.status, 401);
  assert.equal(res.body.error, "unknown_nonce");
  assert.equal(c.cookies.size, 0, "no session on failure");
});

Deno.test("sign-in: each bad message gets 401 with its own reason", async () => {
  await using app = await testApp();
  const c = app.client();
  const wallet = newWallet();
  const cases: [string, (o: Offer) => Partial<Offer>, string][] = [
    [
      "another site's domain",
      () => ({ domain: "evil.example" }),
      "wrong_domain",
    ],
    ["another uri", () => ({ uri: "https://evil.example" }), "wrong_uri"],
    ["another chain", () => ({ chainId: "devnet" }), "wrong_chain"],
    [
      "an old issued-at",
      () => ({ issuedAt: new Date(Date.now() - 3600_000).toISOString() }),
      "issued_at_skew",
    ],
    [
      "an expired message",
      () => ({
        issuedAt: new Date(Date.now() - 120_000).toISOString(),
        expirationTime: new Date(Date.now() - 1000).toISOString(),
      }),
      "expired",
    ],
  ];
  for (const [what, change, code] of cases) {
    const offer = await c.json<Offer>("/api/auth/nonce", { method: "POST" });
    const res = await c.json<{ error: string; message: string }>(
      "/api/auth/verify",
      {
        method: "POST",
        body: signOffer(wallet, { ...offer.body, ...change(offer.body) }),
      },
    );
    assert.equal(res.status, 401, what);
    assert.equal(res.body.error, code, what);
    assert.ok(res.body.message.length > 10, `${what}: a readable message`);
  }
  // Signed by another key than the one named.
  const offer = await c.json<Offer>("/api/auth/nonce", { method: "POST" });
  const signed = signOffer(wallet, offer.body);
  const res = await c.json("/api/auth/verify", {
    method: "POST",
    body: { ...signed, publicKey: newWallet().address },
  });
  assert.equal(res.status, 401);
  assert.equal(res.body.error, "address_mismatch");
});

Deno.test("sign-in: malformed requests get clear 4xx answers", async () => {
  await using app = await testApp();
  const c = app.client();
  const notJson = await c.json("/api/auth/verify", {
    method: "POST",
    body: "{nope",
  });
  assert.equal(notJson.status, 400);
  assert.equal(notJson.body.error, "invalid_json");
  const wrongType = await c.json("/api/auth/verify", {
    method: "POST",
    body: "x",
    headers: { "content-type": "text/plain" },
  });
  assert.equal(wrongType.status, 415);
  const missing = await c.json("/api/auth/verify", {
    method: "POST",
    body: { message: "hi" },
  });
  assert.equal(missing.status, 400);
  assert.equal(missing.body.error, "invalid_request");
  const huge = await c.json("/api/auth/verify", {
    method: "POST",
    body: { message: "x".repeat(20_000), signature: "a", publicKey: "b" },
  });
  assert.equal(huge.status, 413);
  const get = await c.json("/api/auth/verify");
  assert.equal(get.status, 405);
  assert.equal(get.body.error, "method_not_allowed");
  assert.match(get.res.headers.get("allow")!, /POST/);
});

Deno.test("logout ends the session and clears the cookie", async () => {
  await using app = await testApp();
  const c = app.client();
  await c.signIn(newWallet());
  const oldCookies = new Map(c.cookies);
  const out = await c.json("/api/auth/logout", { method: "POST" });
  assert.equal(out.status, 200);
  assert.match(out.res.headers.get("set-cookie")!, /Max-Age=0/);
  assert.equal(c.cookies.size, 0);
  c.cookies = oldCookies; // a stolen copy of the old cookie no longer works
  const me = await c.json("/api/auth/session");
  assert.equal(me.status, 401);
});

Deno.test("state-changing requests from another origin, or none, get 403", async () => {
  await using app = await testApp();
  const c = app.client();
  await c.signIn(newWallet());
  c.origin = "https://evil.example";
  const foreign = await c.json("/api/handles", {
    method: "POST",
    body: { handle: "victim_1" },
  });
  assert.equal(foreign.status, 403);
  assert.equal(foreign.body.error, "cross_origin");
  c.origin = null;
  const none = await c.json("/api/auth/logout", { method: "POST" });
  assert.equal(none.status, 403);
  c.origin = ORIGIN;
  assert.equal((await c.json("/api/auth/session")).status, 200);
});

Deno.test("an expired session counts as signed out", async () => {
  await using app = await testApp();
  const { id } = await createSession(
    app.kv,
    newWallet().address,
    60_000,
    Date.now() - 120_000,
  );
  const c = app.client();
  c.cookies.set("__Host-reach_session", id);
  assert.equal((await c.json("/api/auth/session")).status, 401);
  c.cookies.set("__Host-reach_session", "not-a-session-id");
  assert.equal((await c.json("/api/auth/session")).status, 401);
});
