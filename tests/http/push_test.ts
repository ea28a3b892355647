/**
 * Ring anywhere, end to end on the server: the real handler, a real KV file,
 * real signaling sockets on loopback, and a push-service double
 * (tests/_helpers/push_double.ts) that checks VAPID and decrypts every push
 * with the subscription's own private keys.
 */
import assert from "node:assert/strict";
import { callRef } from "@/lib/call_ref.ts";
import { setLogSink } from "@/lib/log.ts";
import { setPushFetch } from "@/lib/push/send.ts";
import { getCallLog } from "@/lib/store/calls.ts";
import {
  owner,
  type TestApp,
  testApp,
  type TestClient,
} from "../_helpers/app.ts";
import {
  type Delivery,
  PUSH_TEST_HOST,
  PushDouble,
  type TestSubscription,
} from "../_helpers/push_double.ts";
import { caller, device } from "../_helpers/signal_client.ts";
import { fakeSealed } from "../_helpers/sealed.ts";

interface PushApp extends AsyncDisposable {
  app: TestApp;
  double: PushDouble;
}

/** A test app whose pushes go to a fresh double (the app stops first, then the double). */
async function pushApp(env: Record<string, string> = {}): Promise<PushApp> {
  const app = await testApp({ REACH_PUSH_HOSTS: PUSH_TEST_HOST, ...env });
  assert.ok(app.config.push.enabled, "push is on in tests");
  const double = PushDouble.start({
    vapidPublicKey: app.config.push.vapid.publicKey,
  });
  setPushFetch(double.fetch);
  return {
    app,
    double,
    async [Symbol.asyncDispose]() {
      await app[Symbol.asyncDispose]();
      setPushFetch(null);
      await double.close();
    },
  };
}

async function subscribeVia(
  c: TestClient,
  sub: TestSubscription,
  name?: string,
) {
  const { id: _id, ...json } = sub;
  return await c.json<{ id: string; error?: string }>("/api/me/push", {
    method: "POST",
    body: name === undefined ? json : { ...json, name },
  });
}

async function eventually<T>(
  fn: () => Promise<T | null | undefined | false>,
  what: string,
  timeoutMs = 5_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`never: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface SubView {
  id: string;
  name: string | null;
  createdAt: number;
  lastRungAt: number | null;
}

const list = async (c: TestClient) =>
  (await c.json<{ subscriptions: SubView[] }>("/api/me/push")).body
    .subscriptions;

Deno.test("push: the public key, subscribe, replace, list, delete; the allowlist and key checks; the 11th refused; sealed at rest", async () => {
  await using p = await pushApp();
  const { app, double } = p;
  const key = await app.client().json<{ publicKey: string }>("/api/push/key");
  assert.equal(key.status, 200);
  assert.equal(
    key.body.publicKey,
    app.config.push.enabled && app.config.push.vapid.publicKey,
  );

  const anon = app.client();
  const sub = await double.subscribe();
  assert.equal((await subscribeVia(anon, sub)).status, 401, "signed in only");

  const ann = await owner(app, "ann_push");
  const first = await subscribeVia(ann, sub, "Laptop");
  assert.equal(first.status, 201);
  assert.match(first.body.id, /^[0-9a-f]{32}$/);
  const again = await subscribeVia(ann, sub, "Work laptop");
  assert.equal(again.status, 200, "the same endpoint replaces");
  assert.equal(again.body.id, first.body.id);

  const listed = await ann.request("/api/me/push");
  const text = await listed.text();
  const subs = JSON.parse(text).subscriptions as SubView[];
  assert.equal(subs.length, 1);
  assert.deepEqual(Object.keys(subs[0]).sort(), [
    "createdAt",
    "id",
    "lastRungAt",
    "name",
  ]);
  assert.equal(subs[0].name, "Work laptop");
  assert.equal(subs[0].lastRungAt, null);
  for (const secret of [sub.endpoint, sub.id, sub.keys.p256dh, sub.keys.auth]) {
    assert.ok(!text.includes(secret), "never the endpoint or keys");
  }

  // Only allowlisted https push services.
  for (
    const endpoint of [
      `http://${PUSH_TEST_HOST}/push/${sub.id}`,
      `https://${PUSH_TEST_HOST}@evil.test/push/${sub.id}`,
      `https://${PUSH_TEST_HOST}:8443/push/${sub.id}`,
      `https://evil${PUSH_TEST_HOST}/push/${sub.id}`,
      `https://127.0.0.1/push/${sub.id}`,
      "https://fcm.googleapis.com/fcm/send/x", // not on this server's list
    ]
  ) {
    const r = await ann.json("/api/me/push", {
      method: "POST",
      body: { endpoint, keys: sub.keys },
    });
    assert.equal(r.status, 400, endpoint);
    assert.equal(r.body.error, "push_endpoint_not_allowed", endpoint);
    assert.ok(String(r.body.message).length > 10);
  }
  const offCurve = Uint8Array.fromBase64(sub.keys.p256dh, {
    alphabet: "base64url",
  });
  offCurve[64] ^= 1;
  const badKeys: [Record<string, string>, string][] = [
    [{
      ...sub.keys,
      p256dh: offCurve.toBase64({ alphabet: "base64url", omitPadding: true }),
    }, "push_key_invalid"],
    [{ ...sub.keys, p256dh: sub.keys.p256dh.slice(0, 40) }, "push_key_invalid"],
    [{ ...sub.keys, auth: "AAAAAAAAAAAAAAAAAAAA" }, "push_auth_invalid"],
  ];
  for (const [keys, code] of badKeys) {
    const r = await ann.json("/api/me/push", {
      method: "POST",
      body: { endpoint: sub.endpoint, keys },
    });
    assert.equal(r.status, 400, code);
    assert.equal(r.body.error, code);
  }
  const extra = await ann.json("/api/me/push", {
    method: "POST",
    body: { endpoint: sub.endpoint, keys: sub.keys, pwn: 1 },
  });
  assert.equal(extra.status, 400);
  assert.equal(extra.body.error, "invalid_request");

  // Ten at most per owner.
  const more: TestSubscription[] = [];
  for (let i = 0; i < 9; i++) {
    const s = await double.subscribe();
    more.push(s);
    assert.equal((await subscribeVia(ann, s)).status, 201);
  }
  const eleventh = await subscribeVia(ann, await double.subscribe());
  assert.equal(eleventh.status, 409);
  assert.equal(eleventh.body.error, "too_many_push_devices");
  assert.equal((await list(ann)).length, 10);

  // Sealed at rest: no endpoint, path or key in the KV file's bytes.
  const dir = app.kvPath.replace(/[^/]*$/, "");
  const bytes: Uint8Array[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.name.startsWith("kv.sqlite3")) {
      bytes.push(await Deno.readFile(dir + e.name));
    }
  }
  assert.ok(bytes.length >= 1);
  const latin1 = bytes.map((b) => new TextDecoder("latin1").decode(b)).join();
  assert.ok(latin1.includes("ann_push"), "the scan reads the data");
  for (const s of [sub, ...more]) {
    for (const secret of [s.id, s.keys.p256dh, s.keys.auth, PUSH_TEST_HOST]) {
      assert.ok(!latin1.includes(secret), `stored in clear: ${secret}`);
    }
  }

  // Delete: 204, then 404; another owner cannot delete it.
  const bob = await owner(app, "bob_push");
  const del = `/api/me/push/${first.body.id}`;
  assert.equal((await bob.request(del, { method: "DELETE" })).status, 404);
  const noOrigin = app.client();
  noOrigin.cookies = ann.cookies;
  noOrigin.origin = null;
  assert.equal(
    (await noOrigin.request(del, { method: "DELETE" })).status,
    403,
    "another site cannot remove it",
  );
  assert.equal((await ann.request(del, { method: "DELETE" })).status, 204);
  const gone = await ann.json(del, { method: "DELETE" });
  assert.equal(gone.status, 404);
  assert.equal(gone.body.error, "not_found");
  assert.equal((await list(ann)).length, 9);
  assert.equal(
    (await ann.request("/api/me/push/nonsense", { method: "DELETE" })).status,
    404,
  );
});

Deno.test("push: a handle with a subscription and no socket rings; the browser gets ring, then cancel with the same Topic", async () => {
  await using p = await pushApp({ REACH_RING_SECONDS: "30" });
  const { app, double } = p;
  const lines: string[] = [];
  setLogSink((l) => lines.push(l));
  const base = app.listen();
  const bob = await owner(app, "bob_ring");
  await owner(app, "nobody_ring");

  const offline = await (await app.client().request("/@bob_ring")).text();
  assert.ok(offline.includes("Offline right now"));
  const sub = await double.subscribe();
  assert.equal((await subscribeVia(bob, sub, "Phone")).status, 201);
  const page = await (await app.client().request("/@bob_ring")).text();
  assert.ok(page.includes("Rings their browser"), "the page says so");
  assert.ok(!page.includes("Offline right now"));
  const pub = await app.client().json("/handles/bob_ring");
  assert.equal(pub.body.online, false, "no socket is online");

  await using alice = await caller(base);
  const callId = crypto.randomUUID();
  const t0 = Date.now();
  alice.send({ type: "ring", callId, to: "bob_ring" });
  const ringing = await alice.next("ringing", (m) => m.callId === callId);
  assert.equal(ringing.devices, 1, "the push subscription counts");

  const ring = await double.nextDelivery((d) =>
    (d.data as { t: string }).t === "ring"
  );
  const data = ring.data as Record<string, unknown>;
  assert.deepEqual(Object.keys(data).sort(), ["callId", "exp", "t"]);
  assert.equal(data.callId, callId);
  const exp = data.exp as number;
  assert.ok(exp >= t0 + 29_000 && exp <= Date.now() + 30_000, `${exp}`);
  assert.equal(ring.urgency, "high");
  assert.ok(ring.ttl >= 28 && ring.ttl <= 30, `ttl ${ring.ttl}`);
  assert.match(ring.topic!, /^[A-Za-z0-9_-]{32}$/);
  assert.equal(ring.size, 4096);
  assert.equal(ring.subId, sub.id);

  // The ring reached the push service: the owner's list says when.
  await eventually(
    async () => (await list(bob))[0].lastRungAt,
    "lastRungAt is set",
  );

  alice.send({ type: "cancel", callId });
  await alice.next("ended", (m) => m.callId === callId);
  const cancel = await double.nextDelivery((d) =>
    (d.data as { t: string }).t === "cancel"
  );
  assert.deepEqual(cancel.data, { t: "cancel", callId });
  assert.equal(
    cancel.topic,
    ring.topic,
    "the cancel replaces an undelivered ring",
  );
  assert.equal(cancel.urgency, "high");

  // A signed-in caller is not named: its sealed identity rides along as
  // sent (the server cannot read it), and nothing else says who it is.
  const carol = await owner(app, "carol_ring");
  await using signed = await caller(base, carol);
  const second = crypto.randomUUID();
  const sealed = fakeSealed(second, "bob_ring", 3);
  signed.send({ type: "ring", callId: second, to: "bob_ring", sealed });
  await signed.next("ringing");
  const named = await double.nextDelivery((d) =>
    (d.data as { callId: string }).callId === second
  );
  assert.deepEqual(Object.keys(named.data as object).sort(), [
    "callId",
    "exp",
    "sealed",
    "t",
  ]);
  assert.deepEqual((named.data as { sealed: unknown }).sealed, sealed);
  assert.ok(!JSON.stringify(named.data).includes("carol"));
  signed.send({ type: "cancel", callId: second });
  await double.nextDelivery((d) =>
    (d.data as { t: string; callId: string }).t === "cancel" &&
    (d.data as { callId: string }).callId === second
  );

  // No subscription, no socket: unavailable at once, as before.
  const nobody = crypto.randomUUID();
  alice.send({ type: "ring", callId: nobody, to: "nobody_ring" });
  const ended = await alice.next("ended", (m) => m.callId === nobody);
  assert.equal(ended.reason, "unavailable");

  const all = lines.join("\n");
  for (const e of ["push.sent"]) {
    assert.ok(lines.some((l) => JSON.parse(l).event === e), e);
  }
  for (
    const secret of [callId, sub.id, sub.keys.p256dh, "bob_ring", "carol_ring"]
  ) {
    assert.ok(!all.includes(secret), `logs leak ${secret}`);
  }
  const sent = lines.map((l) => JSON.parse(l)).filter((l) =>
    l.event === "push.sent"
  );
  assert.ok(sent.some((l) => l.call === callRef(callId)));
  assert.ok(sent.every((l) => l.source === PUSH_TEST_HOST && l.status === 201));
});

Deno.test("push: a push-only handle rings for the ring lifetime, then its end as missed (Calls.settle) sends the cancel", async () => {
  await using p = await pushApp({ REACH_RING_SECONDS: "1" });
  const { app, double } = p;
  const base = app.listen();
  const dee = await owner(app, "dee_ring");
  const sub = await double.subscribe();
  await subscribeVia(dee, sub);
  await using alice = await caller(base);
  const callId = crypto.randomUUID();
  const t0 = Date.now();
  alice.send({ type: "ring", callId, to: "dee_ring" });
  assert.equal((await alice.next("ringing")).devices, 1);
  const ended = await alice.next("ended", (m) => m.callId === callId);
  assert.equal(ended.reason, "missed");
  assert.ok(Date.now() - t0 >= 900, "it rang for the ring lifetime");
  const cancel = await double.nextDelivery((d) =>
    (d.data as { t: string }).t === "cancel"
  );
  assert.deepEqual(cancel.data, { t: "cancel", callId });
  assert.equal((await getCallLog(app.kv, callId))?.decision, "missed");
});

Deno.test("push: a 410 deletes the subscription; a 429 is retried once", async () => {
  await using p = await pushApp();
  const { app, double } = p;
  const base = app.listen();
  const eve = await owner(app, "eve_ring");
  const gone = await double.subscribe();
  const busy = await double.subscribe();
  await subscribeVia(eve, gone, "Old phone");
  await subscribeVia(eve, busy, "Laptop");
  double.respond(gone.id, [410]);
  double.respond(busy.id, [429]);
  await using alice = await caller(base);
  const callId = crypto.randomUUID();
  alice.send({ type: "ring", callId, to: "eve_ring" });
  assert.equal((await alice.next("ringing")).devices, 2);
  const delivered = await double.nextDelivery((d) => d.subId === busy.id);
  assert.equal((delivered.data as { t: string }).t, "ring");
  const busyTries = double.requests.filter((r) => r.subId === busy.id);
  assert.deepEqual(busyTries.map((r) => r.status), [429, 201]);
  assert.equal(busyTries[0].topic, busyTries[1].topic);
  await double.nextRequest((r) => r.subId === gone.id && r.status === 410);
  const left = await eventually(async () => {
    const l = await list(eve);
    return l.length === 1 && l;
  }, "the gone subscription is deleted");
  assert.equal(left[0].name, "Laptop");
  assert.equal(
    double.requests.filter((r) => r.subId === gone.id).length,
    1,
    "a 410 is not retried",
  );
  // The deleted one is not rung again.
  alice.send({ type: "cancel", callId });
  await double.nextDelivery((d) =>
    d.subId === busy.id && (d.data as { t: string }).t === "cancel"
  );
  assert.equal(double.requests.filter((r) => r.subId === gone.id).length, 1);
});

Deno.test("push: a ring's retry is dropped once the call stopped ringing, and its cancel waits for it", async () => {
  await using p = await pushApp();
  const { app, double } = p;
  const base = app.listen();
  const kim = await owner(app, "kim_ring");
  const sub = await double.subscribe();
  await subscribeVia(kim, sub);
  double.respond(sub.id, [429]);
  await using alice = await caller(base);
  const callId = crypto.randomUUID();
  alice.send({ type: "ring", callId, to: "kim_ring" });
  await alice.next("ringing");
  // The ring got 429 and waits to retry; the caller gives up meanwhile.
  await double.nextRequest((r) => r.status === 429);
  alice.send({ type: "cancel", callId });
  await alice.next("ended", (m) => m.callId === callId);
  const cancel = await double.nextDelivery((d) =>
    (d.data as { t: string }).t === "cancel"
  );
  assert.deepEqual(cancel.data, { t: "cancel", callId });
  assert.deepEqual(
    double.requests.map((r) => r.status),
    [429, 201],
    "the ring was not retried after its call ended",
  );
  assert.ok(
    !double.deliveries.some((d) => (d.data as { t: string }).t === "ring"),
  );
});

Deno.test("push: a push service that hangs does not delay the ringing reply, nor the socket ring", async () => {
  await using p = await pushApp();
  const { app, double } = p;
  assert.ok(app.config.push.enabled);
  app.config.push.timeoutMs = 4_000;
  const base = app.listen();
  const fay = await owner(app, "fay_ring");
  const sub = await double.subscribe();
  await subscribeVia(fay, sub);
  double.respond(sub.id, [], "hang");
  await using dev = await device(base, fay);
  await using alice = await caller(base);
  const callId = crypto.randomUUID();
  const t0 = performance.now();
  alice.send({ type: "ring", callId, to: "fay_ring" });
  const ringing = await alice.next("ringing", (m) => m.callId === callId);
  const took = performance.now() - t0;
  await dev.next("incoming", (m) => m.callId === callId);
  const rang = performance.now() - t0;
  assert.equal(ringing.devices, 2, "one socket and one push subscription");
  assert.ok(took < 1_000, `ringing after ${took} ms (push timeout 4000 ms)`);
  assert.ok(rang < 1_000, `socket rang after ${rang} ms`);
  // The push really was sent, and is still hanging.
  const hung = await double.nextRequest((r) => r.status === "hang");
  assert.equal(hung.subId, sub.id);
  // Answering is not held up by it either.
  dev.send({ type: "accept", callId });
  await alice.next("accepted");
  assert.ok(performance.now() - t0 < 2_000);
});

Deno.test("push: decline over HTTP ends the call for the caller; only the handle's owner may; cross-site refused", async () => {
  await using p = await pushApp();
  const { app, double } = p;
  const base = app.listen();
  const gil = await owner(app, "gil_ring");
  const other = await owner(app, "hal_ring");
  const sub = await double.subscribe();
  await subscribeVia(gil, sub);
  await using alice = await caller(base);
  const callId = crypto.randomUUID();
  alice.send({ type: "ring", callId, to: "gil_ring" });
  await alice.next("ringing");
  await double.nextDelivery((d) => (d.data as { t: string }).t === "ring");
  const path = `/api/calls/${callId}/decline`;

  const anon = await app.client().json(path, { method: "POST" });
  assert.equal(anon.status, 401);
  const notMine = await other.json(path, { method: "POST" });
  assert.equal(notMine.status, 403);
  assert.equal(notMine.body.error, "not_your_call");
  const foreign = app.client();
  foreign.cookies = gil.cookies;
  foreign.origin = "https://evil.example";
  assert.equal((await foreign.request(path, { method: "POST" })).status, 403);
  assert.equal(
    (await gil.request(path)).status,
    405,
    "GET does not decline",
  );

  const t0 = Date.now();
  const ok = await gil.request(path, { method: "POST" });
  assert.equal(ok.status, 204);
  const ended = await alice.next("ended", (m) => m.callId === callId);
  assert.equal(ended.reason, "declined");
  assert.ok(Date.now() - t0 < 2_000);
  const cancel = await double.nextDelivery((d) =>
    (d.data as { t: string }).t === "cancel"
  );
  assert.deepEqual(cancel.data, { t: "cancel", callId });
  assert.equal((await getCallLog(app.kv, callId))?.decision, "declined");

  const twice = await gil.json(path, { method: "POST" });
  assert.equal(twice.status, 409);
  assert.equal(twice.body.error, "not_ringing");
  const unknown = await gil.json(
    `/api/calls/${crypto.randomUUID()}/decline`,
    { method: "POST" },
  );
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.error, "not_ringing");
  const junk = await gil.json("/api/calls/not-a-call/decline", {
    method: "POST",
  });
  assert.equal(junk.status, 404);
});

Deno.test("push: answered on a socket elsewhere sends the cancel; REACH_PUSH=off turns it all off", async () => {
  {
    await using p = await pushApp();
    const { app, double } = p;
    const base = app.listen();
    const ivy = await owner(app, "ivy_ring");
    const sub = await double.subscribe();
    await subscribeVia(ivy, sub);
    await using dev = await device(base, ivy);
    await using alice = await caller(base);
    const callId = crypto.randomUUID();
    alice.send({ type: "ring", callId, to: "ivy_ring" });
    await dev.next("incoming");
    dev.send({ type: "accept", callId });
    await alice.next("accepted");
    const got: Delivery = await double.nextDelivery((d) =>
      (d.data as { t: string }).t === "cancel"
    );
    assert.deepEqual(got.data, { t: "cancel", callId });
  }
  await using app = await testApp({ REACH_PUSH: "off" });
  assert.equal((await app.client().json("/api/push/key")).status, 404);
  const jo = await owner(app, "jo_ring");
  const r = await jo.json("/api/me/push", {
    method: "POST",
    body: {
      endpoint: "https://fcm.googleapis.com/fcm/send/x",
      keys: { p256dh: "x", auth: "y" },
    },
  });
  assert.equal(r.status, 404);
  assert.equal(r.body.error, "push_disabled");
});
