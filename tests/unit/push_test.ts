/**
 * Web Push, offline: RFC 8291's own example against a decryptor written from
 * the RFC (tests/_helpers/push_double.ts), our sender's output against that
 * decryptor, the VAPID JWT, the headers, the push-service allowlist, the
 * subscription checks, the configuration, retries and timeouts, and the
 * sealed subscription store.
 */
import assert from "node:assert/strict";
import { encryptNotification } from "@block65/webcrypto-web-push";
import { ConfigError, loadConfig } from "@/lib/config.ts";
import { callRef } from "@/lib/call_ref.ts";
import { setLogSink } from "@/lib/log.ts";
import {
  buildPush,
  MAX_PUSH_PLAINTEXT,
  type PushPayload,
  pushTopic,
  ringPayload,
  sendPush,
  setPushFetch,
} from "@/lib/push/send.ts";
import { fakeSealed } from "../_helpers/sealed.ts";
import {
  checkEndpoint,
  checkSubscriptionKeys,
  DEFAULT_PUSH_HOSTS,
  parsePushHosts,
} from "@/lib/push/validate.ts";
import { generateVapidKeys, type VapidKeys } from "@/lib/push/vapid.ts";
import { keys } from "@/lib/store/keys.ts";
import {
  addPushSub,
  listPushSubRecords,
  listPushSubs,
  openPushSub,
  type PushSubRecord,
  removePushSub,
  resealPushSubs,
} from "@/lib/store/push_subs.ts";
import {
  b64u,
  decryptWebPush,
  deriveWebPushKeys,
  importUaPrivateKey,
  newUaKeys,
  type UaKeys,
  verifyVapid,
} from "../_helpers/push_double.ts";
import { withKv } from "../_helpers/kv.ts";

// RFC 8291 Appendix A, verbatim (base64url).
const A = {
  plaintext: "V2hlbiBJIGdyb3cgdXAsIEkgd2FudCB0byBiZSBhIHdhdGVybWVsb24",
  asPrivate: "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw",
  asPublic:
    "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8",
  uaPrivate: "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94",
  uaPublic:
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
  auth: "BTBZMqHH6r4Tts7J_aSIgg",
  salt: "DGv6ra1nlYgDCS1FRnbzlw",
  ecdhSecret: "kyrL1jIIOHEzg3sM2ZWRHDRB62YACZhhSlknJ672kSs",
  cek: "oIhVW04MRdy2XN9CiKLxTg",
  nonce: "4h_95klXJ5E_qnoN",
  body:
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
};
const WATERMELON = "When I grow up, I want to be a watermelon";

async function rfcUa(): Promise<UaKeys> {
  const publicKey = b64u.decode(A.uaPublic);
  return {
    privateKey: await importUaPrivateKey(b64u.decode(A.uaPrivate), publicKey),
    publicKey,
    auth: b64u.decode(A.auth),
  };
}

Deno.test("RFC 8291 Appendix A: the example decrypts, with the RFC's intermediate secrets", async () => {
  const ua = await rfcUa();
  assert.equal(new TextDecoder().decode(b64u.decode(A.plaintext)), WATERMELON);
  const k = await deriveWebPushKeys(
    ua,
    b64u.decode(A.asPublic),
    b64u.decode(A.salt),
  );
  assert.equal(b64u.encode(k.ecdhSecret), A.ecdhSecret);
  assert.equal(b64u.encode(k.cek), A.cek);
  assert.equal(b64u.encode(k.nonce), A.nonce);
  const plain = await decryptWebPush(b64u.decode(A.body), ua);
  assert.equal(new TextDecoder().decode(plain), WATERMELON);
  // One flipped bit anywhere in the ciphertext fails authentication.
  const bad = b64u.decode(A.body);
  bad[bad.length - 3] ^= 1;
  await assert.rejects(() => decryptWebPush(bad, ua));
});

Deno.test("RFC 8291 Appendix A: the pinned library reproduces the example byte for byte", async () => {
  // Give the library the RFC's ephemeral key pair and salt in place of
  // random ones, and no padding: its output must be the RFC's body.
  const asPublic = b64u.decode(A.asPublic);
  const asPair = {
    privateKey: await importUaPrivateKey(b64u.decode(A.asPrivate), asPublic),
    publicKey: await crypto.subtle.importKey(
      "raw",
      asPublic,
      { name: "ECDH", namedCurve: "P-256" },
      true,
      [],
    ),
  };
  const subtle = crypto.subtle as unknown as Record<string, unknown>;
  const realGenerate = crypto.subtle.generateKey;
  const realRandom = crypto.getRandomValues;
  subtle.generateKey = () => Promise.resolve(asPair);
  (crypto as unknown as Record<string, unknown>).getRandomValues = <
    T extends ArrayBufferView,
  >(a: T): T => {
    if (a instanceof Uint8Array && a.length === 16) {
      a.set(b64u.decode(A.salt));
      return a;
    }
    return realRandom.call(crypto, a as never) as T;
  };
  let body: Uint8Array;
  try {
    body = await encryptNotification(
      {
        endpoint: "https://push.example/x",
        expirationTime: null,
        keys: { p256dh: A.uaPublic, auth: A.auth },
      },
      new TextEncoder().encode(WATERMELON),
      { pad: false },
    );
  } finally {
    delete subtle.generateKey;
    delete (crypto as unknown as Record<string, unknown>).getRandomValues;
  }
  assert.equal(crypto.subtle.generateKey, realGenerate, "restored");
  assert.equal(crypto.getRandomValues, realRandom, "restored");
  assert.equal(b64u.encode(body), A.body);
});

// ----------------------------------------------------------------- sender

const VAPID: VapidKeys = {
  ...generateVapidKeys(),
  subject: "mailto:ops@reach.example",
};
const HMAC = new Uint8Array(32).fill(7);

async function target(endpoint = "https://fcm.googleapis.com/fcm/send/abc") {
  const ua = await newUaKeys();
  return {
    ua,
    sub: {
      endpoint,
      p256dh: b64u.encode(ua.publicKey),
      auth: b64u.encode(ua.auth),
    },
  };
}

Deno.test("sender: its output decrypts with the subscription's private keys, padded to 4096 bytes", async () => {
  const { ua, sub } = await target();
  const callId = crypto.randomUUID();
  const payloads: PushPayload[] = [
    { t: "ring", callId, exp: 1_900_000_000_000 },
    ringPayload(callId, 1_900_000_000_000, fakeSealed(callId, "bob", 3)),
    { t: "cancel", callId },
  ];
  const sizes = new Set<number>();
  for (const payload of payloads) {
    const req = await buildPush(sub, payload, {
      vapid: VAPID,
      ttlSeconds: 60,
      topic: pushTopic(HMAC, callId),
    });
    sizes.add(req.body.length);
    const plain = new TextDecoder().decode(await decryptWebPush(req.body, ua));
    assert.deepEqual(JSON.parse(plain), payload);
    // Another browser's keys cannot open it.
    await assert.rejects(() =>
      newUaKeys().then((other) => decryptWebPush(req.body, other))
    );
  }
  assert.deepEqual([...sizes], [4096], "one size: the length tells nothing");
});

Deno.test("sender: the VAPID JWT names the push service's origin, expires within 24 h, has our subject, and verifies", async () => {
  const { sub } = await target("https://fcm.googleapis.com/fcm/send/xyz?a=1");
  const before = Math.floor(Date.now() / 1000);
  const req = await buildPush(sub, { t: "cancel", callId: "c" }, {
    vapid: VAPID,
    ttlSeconds: 60,
    topic: "t",
  });
  const v = await verifyVapid(req.headers.authorization, {
    audience: "https://fcm.googleapis.com",
    publicKey: VAPID.publicKey,
  });
  assert.ok(v.ok, v.ok ? "" : v.why);
  assert.equal(v.header.alg, "ES256");
  assert.equal(v.claims.aud, "https://fcm.googleapis.com");
  assert.equal(v.claims.sub, "mailto:ops@reach.example");
  assert.ok(v.claims.exp > before && v.claims.exp <= before + 24 * 3600 + 1);
  assert.equal(v.k, VAPID.publicKey);
  // Another server's key does not verify it, and a changed claim breaks it.
  const other = generateVapidKeys();
  const swapped = req.headers.authorization.replace(
    VAPID.publicKey,
    other.publicKey,
  );
  const bad = await verifyVapid(swapped, {
    audience: "https://fcm.googleapis.com",
  });
  assert.ok(!bad.ok && bad.why === "bad signature");
  const wrongAud = await verifyVapid(req.headers.authorization, {
    audience: "https://updates.push.services.mozilla.com",
  });
  assert.ok(!wrongAud.ok && wrongAud.why === "wrong aud");
  // Signed once per push service (reused for an hour), never across services.
  const same = await buildPush(
    (await target("https://fcm.googleapis.com/fcm/send/other")).sub,
    { t: "cancel", callId: "d" },
    { vapid: VAPID, ttlSeconds: 60, topic: "t" },
  );
  assert.equal(same.headers.authorization, req.headers.authorization);
  const moz = await buildPush(
    (await target("https://updates.push.services.mozilla.com/wpush/v2/x")).sub,
    { t: "cancel", callId: "d" },
    { vapid: VAPID, ttlSeconds: 60, topic: "t" },
  );
  const mv = await verifyVapid(moz.headers.authorization, {
    audience: "https://updates.push.services.mozilla.com",
    publicKey: VAPID.publicKey,
  });
  assert.ok(mv.ok);
});

Deno.test("sender: headers TTL, Urgency high, a call's Topic, aes128gcm", async () => {
  const { sub } = await target();
  const callId = crypto.randomUUID();
  const topic = pushTopic(HMAC, callId);
  assert.match(topic, /^[A-Za-z0-9_-]{32}$/, "RFC 8030: ≤ 32 base64url");
  assert.equal(pushTopic(HMAC, callId), topic, "the same for ring and cancel");
  assert.notEqual(pushTopic(HMAC, crypto.randomUUID()), topic, "per call");
  assert.notEqual(pushTopic(new Uint8Array(32), callId), topic, "keyed");
  const req = await buildPush(
    sub,
    { t: "ring", callId, exp: 0 },
    { vapid: VAPID, ttlSeconds: 59.2, topic },
  );
  assert.equal(req.url, sub.endpoint);
  assert.equal(req.headers.ttl, "60");
  assert.equal(req.headers.urgency, "high");
  assert.equal(req.headers.topic, topic);
  assert.equal(req.headers["content-encoding"], "aes128gcm");
  assert.equal(req.headers["content-type"], "application/octet-stream");
  assert.equal(req.headers["content-length"], undefined, "fetch sets it");
  assert.ok(!JSON.stringify(req.headers).includes(callId), "no call id");
});

/** Runs `fn` with pushes going to `answer` (one call per attempt). */
async function withFetch(
  answer: (n: number, init?: RequestInit) => Promise<Response> | Response,
  fn: (calls: () => number, lines: string[]) => Promise<void>,
) {
  let n = 0;
  const lines: string[] = [];
  const prevSink = setLogSink((l) => lines.push(l));
  setPushFetch((_input, init) => Promise.resolve(answer(++n, init)));
  try {
    await fn(() => n, lines);
  } finally {
    setPushFetch(null);
    setLogSink(prevSink);
  }
}

const quick = {
  vapid: VAPID,
  ttlSeconds: 60,
  topic: "t",
  timeoutMs: 1000,
  retryDelayMs: 5,
};

Deno.test("sender: 201 accepted; 404/410 gone; 429 and 5xx retried once; other 4xx not retried", async () => {
  const { sub } = await target(
    "https://fcm.googleapis.com/fcm/send/SECRETPATH",
  );
  const callId = crypto.randomUUID();
  const msg: PushPayload = { t: "cancel", callId };
  const statuses = (list: number[]) => (n: number) =>
    new Response(null, { status: list[Math.min(n, list.length) - 1] });
  const cases: [number[], string, number][] = [
    [[201], "accepted", 1],
    [[410], "gone", 1],
    [[404], "gone", 1],
    [[429, 201], "accepted", 2],
    [[503, 201], "accepted", 2],
    [[500, 500, 201], "failed", 2],
    [[429, 410], "gone", 2],
    [[400, 201], "failed", 1],
    [[403, 201], "failed", 1],
  ];
  for (const [list, kind, attempts] of cases) {
    await withFetch(statuses(list), async (calls, lines) => {
      const r = await sendPush(sub, msg, quick);
      assert.equal(r.kind, kind, list.join(","));
      assert.equal(r.attempts, attempts, list.join(","));
      assert.equal(calls(), attempts);
      const all = lines.join("\n");
      for (const secret of ["SECRETPATH", callId, sub.p256dh, sub.auth]) {
        assert.ok(!all.includes(secret), `logs leak ${secret}`);
      }
      const last = JSON.parse(lines.at(-1)!);
      assert.equal(last.source, "fcm.googleapis.com");
      assert.equal(last.call, callRef(callId));
      assert.equal(last.type, "cancel");
    });
  }
});

Deno.test("sender: the retry is skipped when beforeRetry says the message is no longer wanted", async () => {
  const { sub } = await target();
  await withFetch(() => new Response(null, { status: 503 }), async (calls) => {
    const r = await sendPush(sub, { t: "cancel", callId: "x" }, {
      ...quick,
      beforeRetry: () => Promise.resolve(false),
    });
    assert.ok(r.kind === "failed" && r.reason === "skipped");
    assert.equal(calls(), 1);
  });
});

Deno.test("sender: a push service that hangs is given up at the timeout; shutdown aborts at once", async () => {
  const { sub } = await target();
  const hang = (_n: number, init?: RequestInit) =>
    new Promise<Response>((_, reject) =>
      init!.signal!.addEventListener(
        "abort",
        () => reject(init!.signal!.reason),
      )
    );
  await withFetch(hang, async (calls) => {
    const t0 = performance.now();
    const r = await sendPush(sub, { t: "cancel", callId: "x" }, {
      ...quick,
      timeoutMs: 150,
    });
    const took = performance.now() - t0;
    assert.equal(r.kind, "failed");
    assert.ok(r.kind === "failed" && r.reason === "timeout");
    assert.equal(calls(), 1, "a timeout is not retried");
    assert.ok(took >= 140 && took < 1000, `${took} ms`);
    const stop = new AbortController();
    const p = sendPush(sub, { t: "cancel", callId: "x" }, {
      ...quick,
      timeoutMs: 60_000,
      signal: stop.signal,
    });
    setTimeout(() => stop.abort(), 20);
    const aborted = await p;
    assert.ok(aborted.kind === "failed" && aborted.reason === "aborted");
  });
});

// -------------------------------------------------------------- allowlist

Deno.test("allowlist: real push services pass", () => {
  for (
    const ok of [
      "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91bH",
      "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABk",
      "https://wns2-par02p.notify.windows.com/w/?token=BQYAAAD",
      "https://web.push.apple.com/QGxz_Fh7xJ",
      "https://api.push.apple.com/3/device/abc",
      "https://FCM.googleapis.com:443/fcm/send/x",
    ]
  ) {
    assert.ok(checkEndpoint(ok, DEFAULT_PUSH_HOSTS).ok, ok);
  }
});

Deno.test("allowlist: tricks are refused", () => {
  for (
    const bad of [
      "http://fcm.googleapis.com/fcm/send/x",
      "https://fcm.googleapis.com@evil.test/",
      "https://user:pw@fcm.googleapis.com/fcm/send/x",
      "https://fcm.googleapis.com:8443/fcm/send/x",
      "https://fcm.googleapis.com:80/fcm/send/x",
      "https://evilfcm.googleapis.com.evil.test/",
      "https://fcm.googleapis.com.evil.test/",
      "https://evilfcm.googleapis.com/",
      "https://googleapis.com/",
      "https://notify.windows.com/w/",
      "https://evilnotify.windows.com/w/",
      "https://push.apple.com/",
      "https://fcm.googleapis.com./fcm/send/x",
      "https://142.250.74.42/fcm/send/x",
      "https://[2607:f8b0:4004:c1b::5f]/fcm/send/x",
      "https://0x7f000001/",
      "https://127.0.0.1/",
      "https://localhost/",
      "https://evil.test#@fcm.googleapis.com/",
      "https://evil.test\\@fcm.googleapis.com/",
      "ftp://fcm.googleapis.com/",
      "javascript:alert(1)",
      "fcm.googleapis.com/fcm/send/x",
      "",
      "https://fcm.googleapis.com/" + "a".repeat(2100),
    ]
  ) {
    const r = checkEndpoint(bad, DEFAULT_PUSH_HOSTS);
    assert.ok(!r.ok, bad);
  }
});

Deno.test("allowlist: REACH_PUSH_HOSTS takes names and *.suffix patterns only", () => {
  assert.deepEqual(
    parsePushHosts(" Push.Test , *.push.example.com,push.test"),
    [
      "push.test",
      "*.push.example.com",
    ],
  );
  for (
    const bad of [
      "127.0.0.1",
      "push.test:8443",
      "*",
      "*.com",
      "https://push.test",
      "push.test/x",
      "[::1]",
      "localhost",
      "",
      " , ",
    ]
  ) {
    assert.equal(parsePushHosts(bad), null, bad);
  }
  const only = parsePushHosts("push.test")!;
  assert.ok(checkEndpoint("https://push.test/push/1", only).ok);
  assert.ok(!checkEndpoint("https://fcm.googleapis.com/x", only).ok);
  assert.ok(!checkEndpoint("https://a.push.test/x", only).ok);
});

// ------------------------------------------------------ subscription keys

Deno.test("subscription keys: a 65-byte uncompressed point on P-256 and a 16-byte auth", async () => {
  const ua = await newUaKeys();
  const good = b64u.encode(ua.publicKey);
  const auth = b64u.encode(ua.auth);
  assert.ok(checkSubscriptionKeys(good, auth).ok);
  const offCurve = ua.publicKey.slice();
  offCurve[64] ^= 1;
  const compressed = new Uint8Array(33);
  compressed[0] = 0x02;
  compressed.set(ua.publicKey.subarray(1, 33), 1);
  const prefix = ua.publicKey.slice();
  prefix[0] = 0x05;
  const zero = new Uint8Array(65);
  zero[0] = 0x04;
  for (
    const bad of [
      b64u.encode(offCurve),
      b64u.encode(compressed),
      b64u.encode(prefix),
      b64u.encode(zero),
      b64u.encode(ua.publicKey.subarray(0, 64)),
      b64u.encode(new Uint8Array([...ua.publicKey, 0])),
      good.replace(/[A-Za-z]/, "+"),
      "not base64!",
    ]
  ) {
    const r = checkSubscriptionKeys(bad, auth);
    assert.ok(!r.ok && r.code === "push_key_invalid", bad);
  }
  for (
    const bad of [
      b64u.encode(new Uint8Array(15)),
      b64u.encode(new Uint8Array(17)),
      "",
      "%%%",
    ]
  ) {
    const r = checkSubscriptionKeys(good, bad);
    assert.ok(!r.ok && r.code === "push_auth_invalid", bad);
  }
});

// ----------------------------------------------------------------- config

const key = (n: number) => new Uint8Array(32).fill(n).toBase64();
const PROD = {
  REACH_ENV: "production",
  REACH_ORIGIN: "https://reach.example",
  REACH_HMAC_KEY: key(1),
  REACH_DATA_KEYS: `k1:${key(2)}`,
};

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e.problems;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("config: VAPID keys from the environment are checked: length, curve, pair", () => {
  const pair = generateVapidKeys();
  const c = loadConfig({
    ...PROD,
    REACH_VAPID_PUBLIC_KEY: pair.publicKey,
    REACH_VAPID_PRIVATE_KEY: pair.privateKey,
  });
  assert.ok(c.push.enabled);
  assert.equal(c.push.vapidSource, "env");
  assert.equal(c.push.vapid.publicKey, pair.publicKey);
  assert.equal(c.push.vapid.subject, "https://reach.example");
  assert.deepEqual(c.push.hosts, [...DEFAULT_PUSH_HOSTS]);
  const offCurve = b64u.decode(pair.publicKey);
  offCurve[64] ^= 1;
  const cases: [Record<string, string>, RegExp][] = [
    [{
      REACH_VAPID_PUBLIC_KEY: b64u.encode(offCurve),
      REACH_VAPID_PRIVATE_KEY: pair.privateKey,
    }, /^REACH_VAPID_PUBLIC_KEY: .*curve/],
    [{
      REACH_VAPID_PUBLIC_KEY: pair.publicKey.slice(0, 60),
      REACH_VAPID_PRIVATE_KEY: pair.privateKey,
    }, /^REACH_VAPID_PUBLIC_KEY: .*65-byte/],
    [{
      REACH_VAPID_PUBLIC_KEY: pair.publicKey,
      REACH_VAPID_PRIVATE_KEY: b64u.encode(new Uint8Array(31).fill(3)),
    }, /^REACH_VAPID_PRIVATE_KEY: .*32-byte/],
    [{
      REACH_VAPID_PUBLIC_KEY: pair.publicKey,
      REACH_VAPID_PRIVATE_KEY: b64u.encode(new Uint8Array(32)),
    }, /^REACH_VAPID_PRIVATE_KEY: .*not a valid/],
    [{
      REACH_VAPID_PUBLIC_KEY: pair.publicKey,
      REACH_VAPID_PRIVATE_KEY: "a+b/".repeat(11),
    }, /^REACH_VAPID_PRIVATE_KEY: .*base64url/],
    [{
      REACH_VAPID_PUBLIC_KEY: pair.publicKey,
      REACH_VAPID_PRIVATE_KEY: generateVapidKeys().privateKey,
    }, /not the private key/],
    [{ REACH_VAPID_PUBLIC_KEY: pair.publicKey }, /are a pair/],
    [{ REACH_VAPID_PRIVATE_KEY: pair.privateKey }, /are a pair/],
    [
      { ...pair_(pair), REACH_VAPID_SUBJECT: "ops@reach.example" },
      /^REACH_VAPID_SUBJECT: /,
    ],
    [
      { ...pair_(pair), REACH_VAPID_SUBJECT: "http://reach.example" },
      /^REACH_VAPID_SUBJECT: /,
    ],
    [{ ...pair_(pair), REACH_PUSH_HOSTS: "10.0.0.1" }, /^REACH_PUSH_HOSTS: /],
    [{ ...pair_(pair), REACH_PUSH: "maybe" }, /^REACH_PUSH: /],
  ];
  for (const [env, want] of cases) {
    const p = problems({ ...PROD, ...env });
    assert.ok(p.some((x) => want.test(x)), `${JSON.stringify(env)}: ${p}`);
  }
});

function pair_(p: { publicKey: string; privateKey: string }) {
  return {
    REACH_VAPID_PUBLIC_KEY: p.publicKey,
    REACH_VAPID_PRIVATE_KEY: p.privateKey,
  };
}

Deno.test("config: production refuses REACH_PUSH=on without keys; unset without keys is off; off is off", () => {
  const p = problems({ ...PROD, REACH_PUSH: "on" });
  assert.ok(
    p.some((x) =>
      x.includes("REACH_VAPID_PUBLIC_KEY") && x.includes("REACH_PUSH=on")
    ),
    String(p),
  );
  const unset = loadConfig(PROD);
  assert.deepEqual(unset.push, { enabled: false, reason: "no_keys" });
  const off = loadConfig({
    ...PROD,
    ...pair_(generateVapidKeys()),
    REACH_PUSH: "off",
  });
  assert.deepEqual(off.push, { enabled: false, reason: "off" });
  const hosts = loadConfig({
    ...PROD,
    ...pair_(generateVapidKeys()),
    REACH_VAPID_SUBJECT: "mailto:push@reach.example",
    REACH_PUSH_HOSTS: "push.test",
  });
  assert.ok(hosts.push.enabled);
  assert.deepEqual(hosts.push.hosts, ["push.test"]);
  assert.equal(hosts.push.vapid.subject, "mailto:push@reach.example");
});

Deno.test("config: development takes VAPID keys from the dev file, else generates them for the process", () => {
  const file = { REACH_HMAC_KEY: key(4), REACH_DATA_KEYS: `dev1:${key(5)}` };
  const generated = loadConfig({}, file);
  assert.ok(generated.push.enabled);
  assert.equal(generated.push.vapidSource, "generated");
  const other = loadConfig({}, file);
  assert.ok(other.push.enabled);
  assert.notEqual(other.push.vapid.publicKey, generated.push.vapid.publicKey);
  const pair = generateVapidKeys();
  const fromFile = loadConfig({}, {
    ...file,
    REACH_VAPID_PUBLIC_KEY: pair.publicKey,
    REACH_VAPID_PRIVATE_KEY: pair.privateKey,
  });
  assert.ok(fromFile.push.enabled);
  assert.equal(fromFile.push.vapidSource, "dev-file");
  assert.equal(fromFile.push.vapid.publicKey, pair.publicKey);
  assert.match(fromFile.push.vapid.subject, /^mailto:/);
  assert.throws(
    () =>
      loadConfig({}, {
        ...file,
        REACH_VAPID_PUBLIC_KEY: "bad",
        REACH_VAPID_PRIVATE_KEY: "bad",
      }),
    /dev-secrets.*VAPID/,
  );
  const off = loadConfig({ REACH_PUSH: "off" }, file);
  assert.equal(off.push.enabled, false);
});

// ------------------------------------------------------------------ store

const SECRETS = {
  hmacKey: new Uint8Array(32).fill(1),
  dataKeys: [{ kid: "d1", key: new Uint8Array(32).fill(2) }],
};

Deno.test("store: sealed at rest, bound to handle and id; same endpoint replaces; one endpoint rings one handle; capped", async () => {
  await withKv(async (kv) => {
    const { sub } = await target(
      "https://fcm.googleapis.com/fcm/send/UNIQUEPATH",
    );
    const a = await addPushSub(
      kv,
      SECRETS,
      "ann",
      { ...sub, name: "Laptop" },
      3,
    );
    assert.ok(a.ok && a.created);
    const raw = (await kv.get<PushSubRecord>(keys.pushSub("ann", a.id))).value!;
    const stored = JSON.stringify(raw);
    for (const s of ["UNIQUEPATH", "fcm.googleapis", sub.p256dh, sub.auth]) {
      assert.ok(!stored.includes(s), `stored in clear: ${s}`);
    }
    assert.deepEqual(await openPushSub(SECRETS.dataKeys, "ann", raw), sub);
    // The envelope opens only where it was sealed.
    await assert.rejects(() => openPushSub(SECRETS.dataKeys, "bob", raw));
    await assert.rejects(() =>
      openPushSub(SECRETS.dataKeys, "ann", { ...raw, id: "0".repeat(32) })
    );

    // The same endpoint again: the same record, new keys and name.
    const { sub: again } = await target(sub.endpoint);
    const b = await addPushSub(kv, SECRETS, "ann", {
      ...again,
      name: "Renamed",
    }, 3);
    assert.ok(b.ok && !b.created && b.id === a.id);
    const list = await listPushSubs(kv, "ann");
    assert.equal(list.length, 1);
    assert.equal(list[0].name, "Renamed");
    assert.deepEqual(Object.keys(list[0]).sort(), [
      "createdAt",
      "id",
      "lastRungAt",
      "name",
    ]);
    const [rec] = await listPushSubRecords(kv, "ann");
    assert.equal(
      (await openPushSub(SECRETS.dataKeys, "ann", rec)).p256dh,
      again.p256dh,
    );

    // Another handle subscribing the same endpoint takes it over.
    const c = await addPushSub(kv, SECRETS, "bob", { ...again, name: null }, 3);
    assert.ok(c.ok && c.created);
    assert.equal((await listPushSubs(kv, "ann")).length, 0);
    assert.equal((await listPushSubs(kv, "bob")).length, 1);

    // The cap, and removal.
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await addPushSub(kv, SECRETS, "cat", {
        ...(await target(`https://fcm.googleapis.com/fcm/send/${i}`)).sub,
        name: null,
      }, 3);
      assert.ok(r.ok);
      ids.push(r.id);
    }
    const over = await addPushSub(kv, SECRETS, "cat", {
      ...(await target()).sub,
      name: null,
    }, 3);
    assert.deepEqual(over, {
      ok: false,
      code: "too_many_push_devices",
      max: 3,
    });
    assert.ok(await removePushSub(kv, "cat", ids[0]));
    assert.ok(!(await removePushSub(kv, "cat", ids[0])));
    const after = await addPushSub(kv, SECRETS, "cat", {
      ...(await target()).sub,
      name: null,
    }, 3);
    assert.ok(after.ok);
  });
});

Deno.test("store: a rotation reseals subscriptions under the newest data key", async () => {
  await withKv(async (kv) => {
    const { sub } = await target();
    const r = await addPushSub(kv, SECRETS, "dan", { ...sub, name: null }, 10);
    assert.ok(r.ok);
    const ring = [
      { kid: "d2", key: new Uint8Array(32).fill(3) },
      ...SECRETS.dataKeys,
    ];
    assert.deepEqual(await resealPushSubs(kv, ring), {
      resealed: 1,
      failed: 0,
    });
    const [rec] = await listPushSubRecords(kv, "dan");
    assert.equal(rec.enc.kid, "d2");
    assert.deepEqual(await openPushSub([ring[0]], "dan", rec), sub);
    assert.deepEqual(await resealPushSubs(kv, ring), {
      resealed: 0,
      failed: 0,
    });
  });
});

Deno.test("push: a ring carries the sealed identity when it fits one record, and rings without it when not", () => {
  const callId = crypto.randomUUID();
  const small = fakeSealed(callId, "bob", 3);
  const withIt = ringPayload(callId, 1, small);
  assert.deepEqual(withIt, { t: "ring", callId, exp: 1, sealed: small });
  const big = fakeSealed(callId, "bob", 10, 2400);
  assert.ok(JSON.stringify(big).length > MAX_PUSH_PLAINTEXT);
  assert.deepEqual(ringPayload(callId, 1, big), { t: "ring", callId, exp: 1 });
  // The boundary: the largest payload kept is within one record.
  for (let ct = 1500; ct < 2600; ct += 7) {
    const p = ringPayload(callId, Date.now(), fakeSealed(callId, "bob", 8, ct));
    const bytes = new TextEncoder().encode(JSON.stringify(p)).length;
    assert.ok(bytes <= MAX_PUSH_PLAINTEXT, `${bytes}`);
  }
});

Deno.test("push: MAX_PUSH_PLAINTEXT bytes encrypt into exactly one 4096-byte record", async () => {
  const sub = {
    endpoint: "https://push.example/x",
    expirationTime: null,
    keys: { p256dh: A.uaPublic, auth: A.auth },
  };
  const body = await encryptNotification(
    sub,
    new Uint8Array(MAX_PUSH_PLAINTEXT).fill(0x61),
  );
  assert.equal(body.byteLength, 4096);
  // One byte more no longer fits the record the ring payload must fit.
  const over = await encryptNotification(
    sub,
    new Uint8Array(MAX_PUSH_PLAINTEXT + 1).fill(0x61),
  ).then((b) => b.byteLength, () => -1);
  assert.notEqual(over, 4096);
});
