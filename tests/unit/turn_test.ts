import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import type { IceConfig } from "@/lib/config.ts";
import { clientKey, TokenBucketLimiter } from "@/lib/rate_limit.ts";
import {
  hmacSha1Base64,
  iceServersFor,
  MAX_REST_TTL_SECONDS,
  turnRestCredential,
  TurnUnavailableError,
} from "@/lib/turn.ts";
import {
  DOUBLE_KEY_ID,
  DOUBLE_TOKEN,
  startCloudflareDouble,
} from "../_helpers/cloudflare_double.ts";

const SECRET = "reach-test-static-secret";
const NOW = new Date("2026-11-05T12:00:00.000Z");
const NOW_S = Math.floor(NOW.getTime() / 1000);

function coturn(overrides: Partial<IceConfig> = {}): IceConfig {
  return {
    provider: "coturn",
    stunUrls: ["stun:stun.example:3478"],
    turnUrls: [
      "turn:turn.example:3478?transport=udp",
      "turns:turn.example:5349",
    ],
    secret: SECRET,
    ttlSeconds: 3600,
    ...overrides,
  } as IceConfig;
}

/** A second, independent HMAC-SHA1 (node:crypto), to check WebCrypto's. */
const nodeHmac = (secret: string, msg: string) =>
  createHmac("sha1", secret).update(msg).digest("base64");

Deno.test("turn: a REST username is <expiry>:<16 random bytes hex>, expiry = now + ttl", async () => {
  const a = await turnRestCredential(SECRET, 600, NOW);
  const b = await turnRestCredential(SECRET, 600, NOW);
  const m = /^(\d+):([0-9a-f]{32})$/.exec(a.username);
  assert.ok(m, `username shape: ${a.username}`);
  assert.equal(Number(m[1]), NOW_S + 600);
  assert.equal(a.ttl, 600);
  assert.notEqual(a.username, b.username, "every credential is fresh");
  assert.notEqual(a.credential, b.credential);
});

Deno.test("turn: the REST password is base64 HMAC-SHA1(secret, username), checked against node:crypto", async () => {
  for (let i = 0; i < 20; i++) {
    const c = await turnRestCredential(SECRET, 3600, NOW);
    assert.equal(c.credential, nodeHmac(SECRET, c.username));
  }
  // A secret with non-ASCII characters is hashed as UTF-8 by both.
  const odd = "sécret-ünïcode-✓-long-enough";
  const c = await turnRestCredential(odd, 60, NOW);
  assert.equal(c.credential, nodeHmac(odd, c.username));
});

Deno.test("turn: fixed HMAC-SHA1 vector (computed with openssl)", async () => {
  // printf %s '1700003600:00112233445566778899aabbccddeeff' |
  //   openssl dgst -sha1 -hmac 'reach-test-static-secret' -binary | base64
  assert.equal(
    await hmacSha1Base64(SECRET, "1700003600:00112233445566778899aabbccddeeff"),
    "w/1L3lGqFIA62Te/zeoS6R0Esoc=",
  );
});

Deno.test("turn: the REST ttl is capped at one day", async () => {
  const c = await turnRestCredential(SECRET, 7 * 86400, NOW);
  assert.equal(c.ttl, MAX_REST_TTL_SECONDS);
  assert.equal(Number(c.username.split(":")[0]), NOW_S + 86400);
  const answer = await iceServersFor(coturn({ ttlSeconds: 10 * 86400 }), {
    now: NOW,
  });
  assert.equal(answer.ttl, 86400);
});

Deno.test("turn: coturn answer is the STUN entry plus one TURN entry with credentials", async () => {
  const answer = await iceServersFor(coturn(), { now: NOW });
  assert.equal(answer.ttl, 3600);
  assert.equal(answer.iceServers.length, 2);
  assert.deepEqual(answer.iceServers[0], { urls: ["stun:stun.example:3478"] });
  const turn = answer.iceServers[1];
  assert.deepEqual(turn.urls, [
    "turn:turn.example:3478?transport=udp",
    "turns:turn.example:5349",
  ]);
  assert.match(turn.username!, new RegExp(`^${NOW_S + 3600}:[0-9a-f]{32}$`));
  assert.equal(turn.credential, nodeHmac(SECRET, turn.username!));
  // Without STUN urls there is only the TURN entry.
  const bare = await iceServersFor(coturn({ stunUrls: [] }), { now: NOW });
  assert.equal(bare.iceServers.length, 1);
  assert.ok(bare.iceServers[0].username);
});

Deno.test("turn: stun provider answers the configured STUN urls only, or nothing", async () => {
  assert.deepEqual(
    await iceServersFor({
      provider: "stun",
      stunUrls: ["stun:a.example:3478", "stun:b.example:19302"],
      ttlSeconds: 1800,
    }),
    {
      iceServers: [{ urls: ["stun:a.example:3478", "stun:b.example:19302"] }],
      ttl: 1800,
    },
  );
  assert.deepEqual(
    await iceServersFor({ provider: "stun", stunUrls: [], ttlSeconds: 3600 }),
    { iceServers: [], ttl: 3600 },
  );
});

Deno.test({
  name: "turn: cloudflare timeout is a TurnUnavailableError (double hangs)",
  async fn() {
    await using cf = startCloudflareDouble();
    cf.mode = "hang";
    const started = performance.now();
    const err = await iceServersFor({
      provider: "cloudflare",
      stunUrls: [],
      keyId: DOUBLE_KEY_ID,
      apiToken: DOUBLE_TOKEN,
      apiBase: cf.apiBase,
      ttlSeconds: 600,
    }, { timeoutMs: 300 }).then(() => null, (e) => e);
    assert.ok(err instanceof TurnUnavailableError, String(err));
    assert.equal(err.reason, "timeout");
    assert.ok(!err.message.includes(DOUBLE_TOKEN));
    assert.ok(performance.now() - started < 4000, "gave up at the timeout");
    assert.equal(cf.requests.length, 1);
  },
});

Deno.test("turn: cloudflare network failure is a TurnUnavailableError", async () => {
  const err = await iceServersFor({
    provider: "cloudflare",
    stunUrls: [],
    keyId: "k",
    apiToken: DOUBLE_TOKEN,
    apiBase: "http://127.0.0.1:9/v1",
    ttlSeconds: 600,
  }, {
    fetch: () => Promise.reject(new TypeError("connection refused")),
  }).then(() => null, (e) => e);
  assert.ok(err instanceof TurnUnavailableError);
  assert.equal(err.reason, "network");
});

// --- rate limiter -----------------------------------------------------------

Deno.test("rate limit: a fresh key gets the whole burst, then is refused", () => {
  const l = new TokenBucketLimiter({
    capacity: 10,
    refillPerSecond: 0.5,
    maxKeys: 100,
  });
  const t = 1_000_000;
  for (let i = 0; i < 10; i++) assert.deepEqual(l.take("a", t), { ok: true });
  assert.deepEqual(l.take("a", t), { ok: false, retryAfterSeconds: 2 });
  // Another key is not affected.
  assert.deepEqual(l.take("b", t), { ok: true });
});

Deno.test("rate limit: a forgotten key starts again with a full bucket, others keep theirs", () => {
  const l = new TokenBucketLimiter({
    capacity: 2,
    refillPerSecond: 0.001,
    maxKeys: 100,
  });
  const t = 1_000_000;
  for (const k of ["a", "a", "b", "b"]) assert.ok(l.take(k, t).ok);
  l.forget("a");
  assert.equal(l.has("a"), false);
  assert.ok(l.take("a", t).ok);
  assert.ok(!l.take("b", t).ok);
});

Deno.test("rate limit: tokens refill over time, never beyond capacity", () => {
  const l = new TokenBucketLimiter({
    capacity: 3,
    refillPerSecond: 0.5,
    maxKeys: 100,
  });
  const t = 5_000_000;
  for (let i = 0; i < 3; i++) assert.ok(l.take("k", t).ok);
  assert.equal(l.take("k", t).ok, false);
  // Half a token after one second: still refused, and told to wait 1 s more.
  assert.deepEqual(l.take("k", t + 1000), { ok: false, retryAfterSeconds: 1 });
  // A whole token after two seconds.
  assert.deepEqual(l.take("k", t + 2000), { ok: true });
  assert.equal(l.take("k", t + 2000).ok, false);
  // After a long pause the bucket is full again, but holds no more than 3.
  const later = t + 3_600_000;
  for (let i = 0; i < 3; i++) assert.ok(l.take("k", later).ok);
  assert.equal(l.take("k", later).ok, false);
});

Deno.test("rate limit: retry-after says when the next token arrives", () => {
  const l = new TokenBucketLimiter({
    capacity: 1,
    refillPerSecond: 0.1,
    maxKeys: 10,
  });
  assert.ok(l.take("x", 0).ok);
  const refused = l.take("x", 0);
  assert.deepEqual(refused, { ok: false, retryAfterSeconds: 10 });
  // Waiting exactly that long is enough.
  assert.ok(l.take("x", 10_000).ok);
  // A clock that goes backwards never adds tokens.
  assert.equal(l.take("x", 5_000).ok, false);
});

Deno.test("rate limit: memory is bounded; the least recently used keys go first", () => {
  const l = new TokenBucketLimiter({
    capacity: 2,
    refillPerSecond: 1,
    maxKeys: 3,
  });
  l.take("a", 0);
  l.take("b", 0);
  l.take("c", 0);
  l.take("a", 0); // a is now the most recently used; b is the oldest
  l.take("d", 0);
  assert.equal(l.size, 3);
  assert.ok(!l.has("b"), "the oldest key was evicted");
  assert.ok(l.has("a") && l.has("c") && l.has("d"));
  for (let i = 0; i < 1000; i++) l.take(`k${i}`, 0);
  assert.equal(l.size, 3);
  l.clear();
  assert.equal(l.size, 0);
});

Deno.test("rate limit: bad options are refused", () => {
  assert.throws(
    () =>
      new TokenBucketLimiter({ capacity: 0, refillPerSecond: 1, maxKeys: 1 }),
    RangeError,
  );
  assert.throws(
    () =>
      new TokenBucketLimiter({ capacity: 1, refillPerSecond: 0, maxKeys: 1 }),
    RangeError,
  );
  assert.throws(
    () =>
      new TokenBucketLimiter({ capacity: 1, refillPerSecond: 1, maxKeys: 0 }),
    RangeError,
  );
});

Deno.test("rate limit: clients are keyed by IPv4 address or IPv6 /64", () => {
  assert.equal(clientKey("203.0.113.7"), "203.0.113.7");
  assert.equal(clientKey("::ffff:203.0.113.7"), "203.0.113.7");
  assert.equal(
    clientKey("2001:db8:aa:bb:1:2:3:4"),
    clientKey("2001:0db8:00aa:00bb:ffff:ffff:ffff:ffff"),
  );
  assert.equal(clientKey("2001:db8:aa:bb::1"), "2001:db8:aa:bb::/64");
  assert.equal(clientKey("[2001:db8::1]"), "2001:db8:0:0::/64");
  assert.equal(clientKey("::1"), "0:0:0:0::/64");
  assert.notEqual(
    clientKey("2001:db8:aa:bb::1"),
    clientKey("2001:db8:aa:bc::1"),
  );
});
