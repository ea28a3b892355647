import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { createHandler } from "$fresh/server.ts";
import freshConfig from "@/fresh.config.ts";
import manifest from "@/fresh.gen.ts";
import { loadConfig, setConfig } from "@/lib/config.ts";
import { setLogSink } from "@/lib/log.ts";
import { addressSubject } from "@/lib/client_address.ts";
import { LIMITS } from "@/lib/limits.ts";
import { rateCount } from "@/lib/store/rate.ts";
import { ORIGIN, TEST_ENV, testApp } from "../_helpers/app.ts";
import { inOneWindow } from "../_helpers/limit_window.ts";
import {
  DOUBLE_KEY_ID,
  DOUBLE_STUN_URLS,
  DOUBLE_TOKEN,
  DOUBLE_TURN_URLS,
  startCloudflareDouble,
} from "../_helpers/cloudflare_double.ts";

const SECRET = "coturn-static-auth-secret-for-tests";

interface IceBody {
  iceServers: { urls: string[]; username?: string; credential?: string }[];
  ttl: number;
  error?: string;
  message?: string;
}

function useCloudflare(apiBase: string, extra: Record<string, string> = {}) {
  setConfig(loadConfig({
    ...TEST_ENV,
    REACH_TURN_PROVIDER: "cloudflare",
    REACH_CF_TURN_API_BASE: apiBase,
    REACH_CF_TURN_KEY_ID: DOUBLE_KEY_ID,
    REACH_CF_TURN_API_TOKEN: DOUBLE_TOKEN,
    ...extra,
  }));
}

Deno.test("ice: cloudflare gets exactly the documented request; its answer passes through", async () => {
  await using app = await testApp();
  await using cf = startCloudflareDouble();
  useCloudflare(cf.apiBase, { REACH_TURN_TTL_SECONDS: "900" });
  const { status, body, res } = await app.client().json<IceBody>("/api/ice");
  assert.equal(status, 200);
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.match(res.headers.get("content-type")!, /^application\/json/);

  assert.equal(cf.requests.length, 1);
  const sent = cf.requests[0];
  assert.equal(sent.method, "POST");
  assert.equal(
    sent.path,
    `/v1/turn/keys/${DOUBLE_KEY_ID}/credentials/generate-ice-servers`,
  );
  assert.equal(sent.authorization, `Bearer ${DOUBLE_TOKEN}`);
  assert.match(sent.contentType!, /^application\/json/);
  assert.deepEqual(JSON.parse(sent.body), { ttl: 900 });

  const issued = cf.issued[0];
  assert.deepEqual(body, {
    iceServers: [
      { urls: DOUBLE_STUN_URLS },
      {
        urls: DOUBLE_TURN_URLS,
        username: issued.username,
        credential: issued.credential,
      },
    ],
    ttl: 900,
  });

  // Each call mints fresh credentials: nothing is cached.
  const again = await app.client().json<IceBody>("/api/ice");
  assert.equal(again.status, 200);
  assert.equal(cf.requests.length, 2);
  assert.equal(again.body.iceServers[1].username, cf.issued[1].username);
  assert.notEqual(cf.issued[0].username, cf.issued[1].username);
});

Deno.test("ice: configured STUN urls are merged into the cloudflare answer", async () => {
  await using app = await testApp();
  await using cf = startCloudflareDouble();
  useCloudflare(cf.apiBase, {
    REACH_STUN_URLS:
      "stun:stun.reach.example:3478,stun:stun.cloudflare.com:3478",
  });
  const { status, body } = await app.client().json<IceBody>("/api/ice");
  assert.equal(status, 200);
  // Ours first, less the one Cloudflare already lists.
  assert.deepEqual(body.iceServers[0], {
    urls: ["stun:stun.reach.example:3478"],
  });
  assert.deepEqual(body.iceServers[1], { urls: DOUBLE_STUN_URLS });
  assert.equal(body.iceServers.length, 3);
});

Deno.test("ice: a failing cloudflare gives 503 turn_unavailable with the JSON error shape", async () => {
  await using app = await testApp();
  await using cf = startCloudflareDouble();
  for (const mode of ["401", "500", "not_json", "bad_shape"] as const) {
    cf.mode = mode;
    useCloudflare(cf.apiBase);
    const { status, body, res } = await app.client().json<IceBody>("/api/ice");
    assert.equal(status, 503, mode);
    assert.equal(body.error, "turn_unavailable", mode);
    assert.equal(typeof body.message, "string");
    assert.deepEqual(Object.keys(body).sort(), ["error", "message"]);
    assert.equal(res.headers.get("cache-control"), "no-store");
  }
  // A wrong token is refused by the double itself: also 503, never 401.
  cf.mode = "ok";
  useCloudflare(cf.apiBase, { REACH_CF_TURN_API_TOKEN: "wrong-token" });
  const wrong = await app.client().json<IceBody>("/api/ice");
  assert.equal(wrong.status, 503);
  assert.equal(wrong.body.error, "turn_unavailable");
  assert.equal(cf.requests.at(-1)!.authorization, "Bearer wrong-token");
});

Deno.test("ice: coturn answer carries REST credentials the secret verifies", async () => {
  await using app = await testApp();
  setConfig(loadConfig({
    ...TEST_ENV,
    REACH_TURN_PROVIDER: "coturn",
    REACH_TURN_URLS: "turn:127.0.0.1:3478?transport=udp",
    REACH_TURN_SECRET: SECRET,
    REACH_STUN_URLS: "stun:127.0.0.1:3478",
    REACH_TURN_TTL_SECONDS: "1200",
  }));
  const before = Math.floor(Date.now() / 1000);
  const { status, body, res } = await app.client().json<IceBody>("/api/ice");
  const after = Math.floor(Date.now() / 1000);
  assert.equal(status, 200);
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.equal(body.ttl, 1200);
  assert.deepEqual(body.iceServers[0], { urls: ["stun:127.0.0.1:3478"] });
  const turn = body.iceServers[1];
  assert.deepEqual(turn.urls, ["turn:127.0.0.1:3478?transport=udp"]);
  const [expiry, nonce] = turn.username!.split(":");
  assert.ok(+expiry >= before + 1200 && +expiry <= after + 1200);
  assert.match(nonce, /^[0-9a-f]{32}$/);
  assert.equal(
    turn.credential,
    createHmac("sha1", SECRET).update(turn.username!).digest("base64"),
  );
});

Deno.test("ice: stun provider answers the STUN list and the ttl", async () => {
  await using app = await testApp();
  // The test config: stun provider, no STUN urls (host candidates need none).
  const none = await app.client().json<IceBody>("/api/ice");
  assert.equal(none.status, 200);
  assert.deepEqual(none.body, { iceServers: [], ttl: 3600 });
  setConfig(loadConfig({
    ...TEST_ENV,
    REACH_STUN_URLS: "stun:stun.example:3478, stun:stun2.example:19302",
  }));
  const two = await app.client().json<IceBody>("/api/ice");
  assert.deepEqual(two.body, {
    iceServers: [{
      urls: ["stun:stun.example:3478", "stun:stun2.example:19302"],
    }],
    ttl: 3600,
  });
});

Deno.test("ice: only GET is allowed", async () => {
  await using app = await testApp();
  const { status, body } = await app.client().json("/api/ice", {
    method: "POST",
  });
  assert.equal(status, 405);
  assert.equal(body.error, "method_not_allowed");
});

const ICE_WINDOW_MS = LIMITS.iceRequestsPerAddress.windowMs;

Deno.test("ice: 30 requests a minute per address, counted in KV; then 429 with Retry-After; other addresses are not", () =>
  inOneWindow(ICE_WINDOW_MS, async () => {
    await using app = await testApp({ REACH_LIMIT_ICE_PER_ADDRESS: "30" });
    const c = app.client();
    for (let i = 0; i < 30; i++) {
      assert.equal((await c.json("/api/ice")).status, 200, `request ${i + 1}`);
    }
    // The count lives in KV (shared by every isolate), under the address's
    // keyed hash, never the address.
    const subject = await addressSubject(app.config, "127.0.0.1");
    assert.equal(
      await rateCount(app.kv, "iceRequestsPerAddress", subject, ICE_WINDOW_MS),
      30,
    );
    const limited = await c.json<IceBody>("/api/ice");
    assert.equal(limited.status, 429);
    assert.equal(limited.body.error, "rate_limited");
    assert.deepEqual(Object.keys(limited.body).sort(), ["error", "message"]);
    assert.match(limited.body.message!, /at most 30 a minute/);
    const retry = Number(limited.res.headers.get("retry-after"));
    assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 61, `${retry}`);
    // Without REACH_PROXY_HEADER a forged X-Forwarded-For changes nothing.
    const forged = await app.client({
      headers: { "x-forwarded-for": "198.51.100.9" },
    }).json("/api/ice");
    assert.equal(forged.status, 429);

    // Another client address has its own budget.
    const h = await createHandler(manifest, freshConfig);
    const other = await h(new Request(`${ORIGIN}/api/ice`), {
      remoteAddr: { transport: "tcp", hostname: "192.0.2.55", port: 50000 },
      completed: Promise.resolve(),
    } as unknown as Deno.ServeHandlerInfo);
    assert.equal(other.status, 200);
    await other.body?.cancel();
  }));

Deno.test("ice: behind a trusted proxy each forwarded address has its own budget", () =>
  inOneWindow(ICE_WINDOW_MS, async () => {
    await using app = await testApp({
      REACH_LIMIT_ICE_PER_ADDRESS: "2",
      REACH_PROXY_HEADER: "x-forwarded-for",
    });
    const from = (xff: string) =>
      app.client({ headers: { "x-forwarded-for": xff } }).json("/api/ice");
    assert.equal((await from("198.51.100.1")).status, 200);
    assert.equal((await from("198.51.100.1")).status, 200);
    assert.equal((await from("198.51.100.1")).status, 429);
    // The proxy appends the real address last; earlier entries are the client's.
    assert.equal((await from("203.0.113.1, 198.51.100.1")).status, 429);
    assert.equal((await from("198.51.100.2")).status, 200);
  }));

Deno.test("ice: no token, secret or credential reaches a log line", async () => {
  await using app = await testApp();
  await using cf = startCloudflareDouble();
  const lines: string[] = [];
  const prev = setLogSink((l) => lines.push(l));
  try {
    useCloudflare(cf.apiBase);
    assert.equal((await app.client().json("/api/ice")).status, 200);
    cf.mode = "500";
    assert.equal((await app.client().json("/api/ice")).status, 503);
    setConfig(loadConfig({
      ...TEST_ENV,
      REACH_TURN_PROVIDER: "coturn",
      REACH_TURN_URLS: "turn:127.0.0.1:3478",
      REACH_TURN_SECRET: SECRET,
    }));
    const coturn = await app.client().json<IceBody>("/api/ice");
    assert.equal(coturn.status, 200);
    for (let i = 0; i < 10; i++) await app.client().json("/api/ice");

    assert.ok(lines.length >= 13, `lines were written (${lines.length})`);
    assert.ok(
      lines.some((l) => JSON.parse(l).event === "ice.turn_unavailable"),
      "the upstream failure is logged (as a reason, not a body)",
    );
    const turn = coturn.body.iceServers[0];
    const forbidden = [
      DOUBLE_TOKEN,
      SECRET,
      ...cf.issued.flatMap((i) => [i.username, i.credential]),
      turn.username!,
      turn.username!.split(":")[1],
      turn.credential!,
      "127.0.0.1",
    ];
    for (const line of lines) {
      for (const f of forbidden) {
        assert.ok(!line.includes(f), `log line leaks ${f}: ${line}`);
      }
    }
  } finally {
    setLogSink(prev);
  }
});
