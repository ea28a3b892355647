/**
 * Private contact discovery through the real handler (lib/phone/DISCOVERY.md):
 * the key, evaluation and its limits (each tried past its end), invalid
 * points, the retired endpoint, the directory's ETag and its atomic upkeep,
 * key rotation, and limits shared by two workers on one KV.
 */
import assert from "node:assert/strict";
import { findByPhone } from "@/lib/client/discovery.ts";
import { memoryStore } from "@/lib/client/oprf_cache.ts";
import { addressSubject } from "@/lib/client_address.ts";
import { loadConfig, setConfig } from "@/lib/config.ts";
import { LIMITS } from "@/lib/limits.ts";
import { setLogSink } from "@/lib/log.ts";
import { decodeChunk } from "@/lib/phone/directory.ts";
import { discoveryKey, fromB64u, toB64u } from "@/lib/phone/oprf.ts";
import { replaceEntry } from "@/lib/store/discovery.ts";
import { bindPhone, setDiscoverable, unbindPhone } from "@/lib/store/phones.ts";
import { rateCount } from "@/lib/store/rate.ts";
import { rotateKeys } from "@/lib/store/rotation.ts";
import {
  ORIGIN,
  owner,
  person,
  TEST_ENV,
  testApp,
  type TestClient,
} from "../_helpers/app.ts";
import { AppWorker } from "../_helpers/app_worker.ts";
import {
  assertDirectoryConsistent,
  blinded,
  evaluate,
  through,
} from "../_helpers/discovery.ts";
import { pageJsWeight } from "../_helpers/js_weight.ts";
import { inOneWindow } from "../_helpers/limit_window.ts";
import { newWallet } from "../_helpers/wallet.ts";

const PROXY = { REACH_PROXY_HEADER: "x-forwarded-for" };
const DAY = LIMITS.discoveryPerHandle.windowMs;

type Answer = { status: number; body: Record<string, unknown>; res: Response };

function assertRateLimited(r: Answer, what: RegExp) {
  assert.equal(r.status, 429, JSON.stringify(r.body));
  assert.equal(r.body.error, "rate_limited");
  assert.match(String(r.body.message), what);
  const retry = Number(r.res.headers.get("retry-after"));
  assert.ok(
    Number.isInteger(retry) && retry >= 1 && retry <= 86401,
    `${retry}`,
  );
}

const B64U = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

const ask = (c: TestClient, n: number, keyId = "h1") =>
  evaluate(c, { keyId, blinded: blinded(n) });

Deno.test("discovery key: the suite, the mode, the key id and the public key", async () => {
  await using app = await testApp();
  const r = await app.client().json("/api/discover/key");
  assert.equal(r.status, 200);
  const k = discoveryKey(app.config.discoveryKeys[0]);
  assert.deepEqual(r.body, {
    suite: "ristretto255-SHA512",
    mode: "voprf",
    keyId: "h1",
    publicKey: toB64u(k.publicKey),
  });
  assert.match(String(r.body.publicKey), /^[A-Za-z0-9_-]{43}$/);
});

Deno.test("evaluate: owners only, 1 to 100 elements, the current key, valid points; an answer per element with one proof", async () => {
  await using app = await testApp();
  const logs: string[] = [];
  setLogSink((l) => logs.push(l));
  const anon = await ask(app.client(), 1);
  assert.equal(anon.status, 401);
  const noHandle = app.client();
  await noHandle.signIn(newWallet());
  assert.equal((await ask(noHandle, 1)).status, 409);

  const c = await owner(app, "evaluator");
  const ok = await ask(c, 100);
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.equal(ok.body.keyId, "h1");
  const evaluated = ok.body.evaluated as string[];
  assert.equal(evaluated.length, 100);
  assert.ok(evaluated.every((e) => fromB64u(e)?.length === 32));
  assert.equal(fromB64u(String(ok.body.proof))?.length, 64);
  assert.equal(ok.res.headers.get("cache-control"), "no-store");

  for (const n of [0, 101]) {
    const r = await ask(c, n);
    assert.equal(r.status, 400, `${n} elements`);
    assert.equal(r.body.error, "invalid_request");
  }
  const rotated = await ask(c, 1, "old");
  assert.equal(rotated.status, 409);
  assert.equal(rotated.body.error, "key_rotated");
  assert.equal(rotated.body.keyId, "h1");

  const subject = await addressSubject(app.config, "127.0.0.1");
  const spent = () => rateCount(app.kv, "discoveryPerAddress", subject, DAY);
  const before = await spent();
  const good = blinded(1)[0];
  const bytes = fromB64u(good)!;
  const odd = bytes.slice();
  odd[0] ^= 1; // a "negative" s: not a canonical encoding
  const high = bytes.slice();
  high[31] |= 0x80; // s >= 2^255: not a field element
  const bad = [
    "not base64!",
    toB64u(new Uint8Array(31)),
    toB64u(new Uint8Array(33).fill(3)),
    toB64u(new Uint8Array(32)), // the identity
    toB64u(new Uint8Array(32).fill(0xff)),
    toB64u(odd),
    toB64u(high),
    good + "=",
    good.slice(0, 42) + B64U[B64U.indexOf(good[42]) | 1], // padding bit set
  ];
  for (const b of bad) {
    const r = await evaluate(c, { keyId: "h1", blinded: [good, b] });
    assert.equal(r.status, 400, b);
    assert.equal(r.body.error, "invalid_point", b);
    assert.match(String(r.body.message), /blinded\.1/);
  }
  assert.equal(await spent(), before, "refused points spend nothing");
  // Logs: counts only, never an element.
  const lines = logs.filter((l) => l.includes("discover.evaluate"));
  assert.ok(lines.length >= 1);
  for (const l of logs) {
    for (const e of [...evaluated.slice(0, 5), good]) {
      assert.ok(!l.includes(e), `a log line holds an element: ${l}`);
    }
  }
  assert.ok(lines.some((l) => l.includes('"count":100')));
});

Deno.test("evaluate limits: a handle's budget follows it to any address; asking beyond it at once is refused as such", () =>
  inOneWindow(DAY, async () => {
    await using app = await testApp({
      ...PROXY,
      REACH_LIMIT_DISCOVERY_PER_HANDLE: "150",
    });
    const a = await person(app, "roamer");
    assert.equal((await ask(a, 100)).status, 200);
    assert.equal((await ask(a, 50)).status, 200);
    assertRateLimited(
      await ask(a, 1),
      /Your handle has looked up too many numbers \(at most 150 a day\)/,
    );
    // Attack: the same session from another network.
    const moved = app.client({ headers: { "x-forwarded-for": "192.0.2.80" } });
    moved.cookies = a.cookies;
    assertRateLimited(await ask(moved, 1), /Your handle/);
    // Attack: a new session of the same wallet is the same handle.
    const wallet = newWallet();
    const first = app.client({ headers: { "x-forwarded-for": "192.0.2.90" } });
    await first.signIn(wallet);
    await first.json("/api/handles", {
      method: "POST",
      body: { handle: "two_sessions" },
    });
    assert.equal((await ask(first, 100)).status, 200);
    assert.equal((await ask(first, 50)).status, 200);
    const second = app.client({ headers: { "x-forwarded-for": "192.0.2.91" } });
    await second.signIn(wallet);
    assertRateLimited(await ask(second, 1), /Your handle/);
  }));

Deno.test("evaluate limits: a batch over the whole limit is refused as such", () =>
  inOneWindow(DAY, async () => {
    await using app = await testApp({
      ...PROXY,
      REACH_LIMIT_DISCOVERY_PER_HANDLE: "50",
    });
    assertRateLimited(
      await ask(await person(app, "big_asker"), 51),
      /This asks about 51 numbers.*ask about fewer/,
    );
  }));

Deno.test("evaluate limits: fresh handles from one address share its budget; another address has its own", () =>
  inOneWindow(DAY, async () => {
    await using app = await testApp({
      ...PROXY,
      REACH_LIMIT_DISCOVERY_PER_ADDRESS: "250",
    });
    const fresh = [];
    for (let i = 0; i < 4; i++) fresh.push(await person(app, `fresh_${i}`));
    assert.equal((await ask(fresh[0], 100)).status, 200);
    assert.equal((await ask(fresh[1], 100)).status, 200);
    assert.equal((await ask(fresh[2], 50)).status, 200);
    const subject = await addressSubject(app.config, "198.51.100.1");
    assert.equal(
      await rateCount(app.kv, "discoveryPerAddress", subject, DAY),
      250,
      "one per element, in KV",
    );
    assertRateLimited(
      await ask(fresh[3], 1),
      /numbers looked up from your network \(at most 250 a day\)/,
    );
    assert.equal(
      await rateCount(app.kv, "discoveryPerAddress", subject, DAY),
      250,
      "refused requests are not counted",
    );
    // The refusal came from the address: the handle's own budget is untouched.
    assert.equal(
      await rateCount(app.kv, "discoveryPerHandle", "fresh_3", DAY),
      0,
    );
    const elsewhere = await person(app, "elsewhere", "198.51.100.2");
    assert.equal((await ask(elsewhere, 100)).status, 200);
  }));

Deno.test("evaluate limits: the global cap counts everyone, from any address and handle", () =>
  inOneWindow(DAY, async () => {
    await using app = await testApp({
      ...PROXY,
      REACH_LIMIT_DISCOVERY_GLOBAL: "120",
    });
    const one = await person(app, "global_1", "198.51.100.11");
    const two = await person(app, "global_2", "198.51.100.12");
    assert.equal((await ask(one, 100)).status, 200);
    assertRateLimited(await ask(two, 30), /for everyone together/);
    assert.equal((await ask(two, 20)).status, 200);
    // Attack: many accounts on many addresses, one element each.
    for (let i = 0; i < 3; i++) {
      const c = await person(app, `sybil_${i}`, `203.0.113.${i}`);
      assertRateLimited(await ask(c, 1), /for everyone together/);
    }
  }));

Deno.test("the old POST /api/discover answers 410 without reading its body", async () => {
  await using app = await testApp();
  const bob = await owner(app, "old_client");
  for (const cookie of [null, bob.cookies]) {
    let pulled = false;
    // No queue to fill: pull() runs only when someone reads.
    const body = new ReadableStream<Uint8Array>({
      pull() {
        pulled = true;
        throw new Error("the body was read");
      },
    }, { highWaterMark: 0 });
    const headers = new Headers({
      origin: ORIGIN,
      "content-type": "application/json",
    });
    if (cookie) {
      headers.set(
        "cookie",
        [...cookie].map(([k, v]) => `${k}=${v}`).join("; "),
      );
    }
    const res = await app.handler(
      new Request(ORIGIN + "/api/discover", {
        method: "POST",
        headers,
        body,
        duplex: "half",
      } as RequestInit),
    );
    assert.equal(res.status, 410);
    const b = await res.json();
    assert.equal(b.error, "discovery_moved");
    assert.match(b.message, /blinds/);
    assert.equal(pulled, false, "the body was never pulled");
  }
});

/** GET a chunk; its status, ETag and decoded entries. */
async function chunk(c: TestClient, n = 0, etag?: string) {
  const res = await c.request(`/api/discover/directory?chunk=${n}`, {
    headers: etag ? { "if-none-match": etag } : {},
  });
  const bytes = new Uint8Array(await res.arrayBuffer());
  return {
    status: res.status,
    etag: res.headers.get("etag") ?? "",
    cacheControl: res.headers.get("cache-control"),
    chunk: res.status === 200 ? decodeChunk(bytes) : null,
  };
}

function lastCode(lines: string[]): string {
  const line = lines.findLast((l) => l.startsWith("[reach dev sms]"));
  assert.ok(line, "the dev provider printed a code");
  return /(\d{6})\s*$/.exec(line)![1];
}

function captureConsole(): { lines: string[]; restore(): void } {
  const lines: string[] = [];
  const orig = console.log;
  console.log = (...args: unknown[]) => lines.push(args.map(String).join(" "));
  return { lines, restore: () => (console.log = orig) };
}

Deno.test("directory: owners only; ETag and 304; bind, hide, show, rebind and unbind change it in the same atomic", async () => {
  await using app = await testApp();
  const out = captureConsole();
  try {
    assert.equal((await chunk(app.client())).status, 401);
    const finder = await owner(app, "dir_finder");
    const empty = await chunk(finder);
    assert.equal(empty.status, 200);
    assert.equal(empty.chunk?.count, 0);
    assert.equal(empty.chunk?.keyId, "h1");
    assert.equal(empty.cacheControl, "private, no-cache");
    assert.match(empty.etag, /^"rdr1-h1-0-0-\d+"$/);
    assert.equal((await chunk(finder, 0, empty.etag)).status, 304);
    assert.equal((await chunk(finder, 0, `W/${empty.etag}`)).status, 304);
    assert.equal((await chunk(finder, 1)).status, 400, "one chunk only");
    assert.equal(
      (await finder.request("/api/discover/directory?chunk=x")).status,
      400,
    );

    // Bind through the HTTP flow (dev SMS), then let it be found.
    const ann = await owner(app, "dir_ann");
    const phone = "+447911123456";
    assert.equal(
      (await ann.json("/api/me/phone/start", {
        method: "POST",
        body: { phone },
      })).status,
      200,
    );
    const code = lastCode(out.lines);
    assert.equal(
      (await ann.json("/api/me/phone/verify", {
        method: "POST",
        body: { phone, code },
      })).status,
      200,
    );
    assert.equal((await chunk(finder, 0, empty.etag)).status, 304, "hidden");
    assert.deepEqual(await assertDirectoryConsistent(app.kv, "h1"), []);
    const show = () =>
      ann.json("/api/me/phone", {
        method: "PATCH",
        body: { discoverable: true },
      });
    const hide = () =>
      ann.json("/api/me/phone", {
        method: "PATCH",
        body: { discoverable: false },
      });
    assert.equal((await show()).status, 200);
    const shown = await chunk(finder, 0, empty.etag);
    assert.equal(shown.status, 200);
    assert.equal(shown.chunk?.count, 1);
    assert.notEqual(shown.etag, empty.etag);
    assert.deepEqual(await assertDirectoryConsistent(app.kv, "h1"), [
      "dir_ann",
    ]);
    const store = memoryStore();
    const find = () =>
      findByPhone([phone], { fetch: through(finder), store }).then((r) =>
        r.matches.map((m) => m.handle)
      );
    assert.deepEqual(await find(), ["dir_ann"]);

    assert.equal((await hide()).status, 200);
    const hidden = await chunk(finder, 0, shown.etag);
    assert.equal(hidden.status, 200);
    assert.equal(hidden.chunk?.count, 0);
    assert.deepEqual(await find(), []);
    assert.deepEqual(await assertDirectoryConsistent(app.kv, "h1"), []);

    assert.equal((await show()).status, 200);
    assert.deepEqual(await find(), ["dir_ann"]);
    // Re-verifying the same number keeps it findable.
    await ann.json("/api/me/phone/start", { method: "POST", body: { phone } });
    const again = lastCode(out.lines);
    await ann.json("/api/me/phone/verify", {
      method: "POST",
      body: { phone, code: again },
    });
    assert.deepEqual(await find(), ["dir_ann"]);
    assert.deepEqual(await assertDirectoryConsistent(app.kv, "h1"), [
      "dir_ann",
    ]);
    const before = (await chunk(finder)).etag;
    assert.equal(
      (await ann.json("/api/me/phone", { method: "DELETE" })).status,
      200,
    );
    const gone = await chunk(finder, 0, before);
    assert.equal(gone.status, 200);
    assert.equal(gone.chunk?.count, 0);
    assert.deepEqual(await find(), []);
    assert.deepEqual(await assertDirectoryConsistent(app.kv, "h1"), []);
  } finally {
    out.restore();
  }
});

Deno.test("directory: racing binds, unbinds and switches leave it exactly matching the records", async () => {
  await using app = await testApp();
  const n = 24;
  const num = (i: number) => `+4479110${String(i).padStart(5, "0")}`;
  const h = (i: number) => `race_${i}`;
  const ops: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    ops.push((async () => {
      await bindPhone(app.kv, app.config, h(i), num(i));
      await Promise.all([
        setDiscoverable(app.kv, app.config, h(i), true),
        setDiscoverable(app.kv, app.config, h(i), i % 2 === 0),
        i % 3 === 0 ? unbindPhone(app.kv, h(i)) : Promise.resolve(),
        // Another handle grabbing the same number: refused or after unbind.
        bindPhone(app.kv, app.config, `${h(i)}_b`, num(i)),
      ]);
      await setDiscoverable(app.kv, app.config, `${h(i)}_b`, true);
    })());
  }
  await Promise.all(ops);
  const listed = await assertDirectoryConsistent(app.kv, "h1");
  assert.ok(listed.length > 0);
  const finder = await owner(app, "race_finder");
  const all = await chunk(finder);
  assert.equal(all.chunk?.count, listed.length);
  const found = await findByPhone(
    Array.from({ length: n }, (_, i) => num(i)),
    { fetch: through(finder), store: memoryStore() },
  );
  assert.deepEqual(found.matches.map((m) => m.handle).sort(), listed);
});

Deno.test("directory: past 8192 entries it splits into chunks by tag; a change touches one chunk's ETag", async () => {
  await using app = await testApp();
  const kid = "h1";
  // 9000 stand-in entries (random tags), written as binding would.
  for (let at = 0; at < 9000; at += 200) {
    const op = app.kv.atomic();
    for (let i = at; i < at + 200; i++) {
      replaceEntry(op, `filler_${i}`, undefined, {
        kid,
        tag: crypto.getRandomValues(new Uint8Array(8)),
        box: crypto.getRandomValues(new Uint8Array(60)),
      });
    }
    assert.ok((await op.commit()).ok);
  }
  await bindPhone(app.kv, app.config, "split_ann", "+447911123456");
  await setDiscoverable(app.kv, app.config, "split_ann", true);
  const finder = await owner(app, "split_finder");
  const c0 = await chunk(finder, 0);
  const c1 = await chunk(finder, 1);
  assert.equal(c0.chunk?.bits, 1);
  assert.equal(c1.chunk?.bits, 1);
  assert.equal((c0.chunk?.count ?? 0) + (c1.chunk?.count ?? 0), 9001);
  assert.equal((await chunk(finder, 2)).status, 400);
  const found = await findByPhone(["+447911123456"], {
    fetch: through(finder),
    store: memoryStore(),
  });
  assert.deepEqual(found.matches.map((m) => m.handle), ["split_ann"]);
  // An entry whose tag starts with 0xff changes chunk 1 only.
  const op = app.kv.atomic();
  const tag = crypto.getRandomValues(new Uint8Array(8));
  tag[0] = 0xff;
  replaceEntry(op, "late", undefined, {
    kid,
    tag,
    box: new Uint8Array(60),
  });
  await op.commit();
  assert.equal((await chunk(finder, 0, c0.etag)).status, 304);
  assert.equal((await chunk(finder, 1, c1.etag)).status, 200);
});

Deno.test("rotation: a new discovery key is served at once; rotate-keys rebuilds the directory under it", async () => {
  await using app = await testApp();
  await bindPhone(app.kv, app.config, "rot_ann", "+447911123456");
  await setDiscoverable(app.kv, app.config, "rot_ann", true);
  await bindPhone(app.kv, app.config, "rot_bob", "+33612345678");
  const finder = await owner(app, "rot_finder");
  const store = memoryStore();
  const find = () =>
    findByPhone(["+447911123456", "+33612345678"], {
      fetch: through(finder),
      store,
    });
  assert.deepEqual((await find()).matches.map((m) => m.handle), ["rot_ann"]);

  const old = app.config.discoveryKeys[0].key.toBase64();
  const fresh = crypto.getRandomValues(new Uint8Array(32)).toBase64();
  const config = loadConfig({
    ...TEST_ENV,
    REACH_DISCOVERY_KEYS: `k2:${fresh},h1:${old}`,
  });
  setConfig(config);
  const key = await finder.json("/api/discover/key");
  assert.equal(key.body.keyId, "k2");
  const stale = await ask(finder, 1, "h1");
  assert.equal(stale.status, 409);
  assert.equal(stale.body.keyId, "k2");
  // Until rotate-keys runs, the new key's directory is empty.
  const before = await find();
  assert.equal(before.evaluated, 2, "outputs under h1 are no use under k2");
  assert.deepEqual(before.matches, []);

  const r = await rotateKeys(app.kv, config);
  assert.equal(r.discoveryKid, "k2");
  assert.equal(r.rebuilt, 1);
  assert.equal(r.failed + r.conflicts, 0);
  assert.deepEqual(await assertDirectoryConsistent(app.kv, "k2"), [
    "rot_ann",
  ]);
  const after = await find();
  assert.equal(after.evaluated, 0, "kept outputs under k2");
  assert.deepEqual(after.matches.map((m) => m.handle), ["rot_ann"]);
  assert.equal((await rotateKeys(app.kv, config)).rebuilt, 0, "idempotent");
});

Deno.test("limits: two workers on one KV share every budget", async () => {
  const dir = await Deno.makeTempDir({ prefix: "reach-disc-mw-" });
  const kvPath = `${dir}/kv.sqlite3`;
  const env = {
    ...TEST_ENV,
    REACH_LIMIT_DISCOVERY_PER_HANDLE: "150",
    REACH_LIMIT_DISCOVERY_GLOBAL: "260",
  };
  const a = await AppWorker.start("disc-a", env, kvPath);
  const b = await AppWorker.start("disc-b", env, kvPath);
  try {
    await inOneWindow(DAY, async () => {
      const tag = crypto.randomUUID().slice(0, 8);
      const onA = await owner(a, `mw_${tag}_x`);
      const onB = b.client();
      onB.cookies = onA.cookies; // the same session, served by the other worker
      assert.equal((await ask(onA, 100)).status, 200);
      const r = await ask(onB, 100);
      assert.equal(r.status, 429, JSON.stringify(r.body));
      assert.match(String(r.body.message), /Your handle/);
      assert.equal((await ask(onB, 50)).status, 200);
      // The global cap (260): 150 spent; another handle gets 110 more.
      const other = await owner(b, `mw_${tag}_y`);
      assert.equal((await ask(other, 100)).status, 200);
      const onA2 = a.client();
      onA2.cookies = other.cookies;
      const g = await ask(onA2, 20);
      assert.equal(g.status, 429, JSON.stringify(g.body));
      assert.match(String(g.body.message), /for everyone together/);
      assert.equal((await ask(onA2, 10)).status, 200);
    });
  } finally {
    await a.stop();
    await b.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("config: production with phone binding needs REACH_DISCOVERY_KEYS; development derives one", () => {
  const base = {
    ...TEST_ENV,
    REACH_ENV: "production",
    REACH_ORIGIN: "https://reach.example",
    REACH_SMS_PROVIDER: "twilio",
    TWILIO_ACCOUNT_SID: "AC" + "0".repeat(32),
    TWILIO_AUTH_TOKEN: "t".repeat(32),
    TWILIO_VERIFY_SERVICE_SID: "VA" + "0".repeat(32),
  };
  assert.throws(() => loadConfig(base), /REACH_DISCOVERY_KEYS is required/);
  const seed = crypto.getRandomValues(new Uint8Array(32)).toBase64();
  const withKeys = loadConfig({ ...base, REACH_DISCOVERY_KEYS: `d7:${seed}` });
  assert.equal(withKeys.discoveryKeys[0].kid, "d7");
  assert.throws(
    () => loadConfig({ ...base, REACH_DISCOVERY_KEYS: "d7:short" }),
    /REACH_DISCOVERY_KEYS/,
  );
  // Without phone binding there is nothing to find: a derived key will do.
  const noSms = loadConfig({ ...base, REACH_SMS_PROVIDER: "none" });
  assert.equal(noSms.discoveryKeys[0].kid, "h1");
  // Derived keys are stable, and not the HMAC key itself.
  const dev = loadConfig(TEST_ENV);
  assert.deepEqual(dev.discoveryKeys, loadConfig(TEST_ENV).discoveryKeys);
  assert.notDeepEqual(dev.discoveryKeys[0].key, dev.hmacKey);
  assert.notDeepEqual(dev.discoveryKeys[0].key, dev.phonePeppers[0].key);
});

Deno.test("page weight: /me loads the OPRF and the number rules only when someone searches", async () => {
  await using app = await testApp();
  const c = await owner(app, "weigh_finder");
  const html = await (await c.request("/me")).text();
  const weight = await pageJsWeight(html, (p) => c.request(p));
  const island = weight.files.find((f) => f.url.includes("FindByPhone"));
  assert.ok(island && !island.lazy, "the island loads with the page");
  assert.ok(island.gzip <= 1200, `FindByPhone is ${island.gzip} B gzipped`);
  const lazy = weight.files.filter((f) => f.lazy);
  assert.ok(lazy.some((f) => /discovery/.test(f.url)), "discovery is lazy");
  for (const f of weight.files.filter((f) => !f.lazy)) {
    const text = await (await c.request(f.url)).text();
    assert.ok(!text.includes("OPRFV1-"), `${f.url} carries the OPRF`);
    assert.ok(!text.includes("reach seal"), `${f.url} carries the directory`);
  }
});
