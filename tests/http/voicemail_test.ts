/**
 * Voicemail over HTTP against the real handler and a real KV file: inbox
 * keys, the caller's upload (authenticated by the call's resume token), the
 * owner's inbox, and what KV ends up holding. Calls are real (WebSockets) or
 * made with the call store and a known resume token.
 */
import assert from "node:assert/strict";
import { sha256Hex } from "@/lib/crypto/hash.ts";
import { setLogSink } from "@/lib/log.ts";
import {
  acceptCall,
  type CallDecision,
  createCall,
  endCall,
  getCallLog,
} from "@/lib/store/calls.ts";
import { keys } from "@/lib/store/keys.ts";
import { statsKeys } from "@/lib/store/stats.ts";
import { HANDLE_LIMIT_PER_HOUR } from "@/lib/voicemail/service.ts";
import {
  owner,
  type TestApp,
  testApp,
  type TestClient,
} from "../_helpers/app.ts";
import { caller, device } from "../_helpers/signal_client.ts";

const WEBM_MAGIC = [0x1a, 0x45, 0xdf, 0xa3];

function rand(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) {
    crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  }
  return out;
}

async function addKey(c: TestClient, keyId = crypto.randomUUID()) {
  const res = await c.json("/api/me/inbox-keys", {
    method: "POST",
    body: { keyId, publicKey: rand(32).toBase64() },
  });
  assert.equal(res.status, 201);
  return keyId;
}

/** A well-formed envelope whose ct is the given bytes (random: ciphertext). */
function envelope(
  callId: string,
  handle: string,
  ct: Uint8Array = rand(200),
  keyIds: string[] = [crypto.randomUUID()],
) {
  return {
    v: 1,
    callId,
    handle,
    iv: rand(12).toBase64(),
    ct: ct.toBase64(),
    recipients: keyIds.map((keyId) => ({
      keyId,
      epk: rand(32).toBase64(),
      iv: rand(12).toBase64(),
      wrapped: rand(48).toBase64(),
    })),
  };
}

interface Call {
  callId: string;
  token: string;
}

/** A call to `handle` made with the call store, left in the given state. */
async function storeCall(
  app: TestApp,
  handle: string,
  end: CallDecision | "ringing" | "answered",
  callerHash = rand(32).toHex(),
): Promise<Call> {
  const callId = crypto.randomUUID();
  const token = rand(32).toHex();
  assert.ok(
    await createCall(app.kv, {
      callId,
      state: "ringing",
      calleeHandle: handle,
      callerHash,
      calleeHash: rand(32).toHex(),
      createdAt: Date.now(),
      callerResume: await sha256Hex(token),
      callerConn: "test",
    }),
  );
  if (end === "answered") {
    assert.ok(await acceptCall(app.kv, callId, "dev", "x", "conn"));
  } else if (end !== "ringing") {
    assert.ok(
      await endCall(
        app.kv,
        callId,
        end,
        ["ringing"],
        app.config.callLogRetentionMs,
      ),
    );
  }
  return { callId, token };
}

function upload(
  c: TestClient,
  call: Call,
  body: unknown,
  token: string | null = call.token,
  from?: string,
) {
  const headers: Record<string, string> = {};
  if (token !== null) headers["x-reach-call-token"] = token;
  if (from) headers["x-forwarded-for"] = from;
  return c.json<
    { callId: string; size: number; error?: string; message?: string }
  >(
    `/api/voicemail/${call.callId}`,
    { method: "POST", body, headers },
  );
}

async function countPrefix(kv: Deno.Kv, prefix: Deno.KvKey) {
  let n = 0;
  for await (const _ of kv.list({ prefix })) n++;
  return n;
}

async function u64(kv: Deno.Kv, key: Deno.KvKey): Promise<number> {
  const v = (await kv.get<Deno.KvU64>(key)).value;
  return v ? Number(v.value) : 0;
}

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (hay[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}

Deno.test("inbox keys: add (idempotent), cap of 10, remove, public list", async () => {
  await using app = await testApp();
  const anon = await app.client().json("/api/me/inbox-keys", {
    method: "POST",
    body: { keyId: crypto.randomUUID(), publicKey: rand(32).toBase64() },
  });
  assert.equal(anon.status, 401);
  const nora = await owner(app, "nora_vm");
  const empty = await app.client().json("/handles/nora_vm/inbox-keys");
  assert.equal(empty.status, 200);
  assert.deepEqual(empty.body, { keys: [] });
  assert.equal(
    (await app.client().json("/handles/nobody_vm/inbox-keys")).status,
    404,
  );

  const keyId = crypto.randomUUID();
  const publicKey = rand(32).toBase64();
  const first = await nora.json("/api/me/inbox-keys", {
    method: "POST",
    body: { keyId, publicKey },
  });
  assert.equal(first.status, 201);
  assert.deepEqual(first.body, { keyId });
  const again = await nora.json("/api/me/inbox-keys", {
    method: "POST",
    body: { keyId, publicKey },
  });
  assert.equal(again.status, 200);
  assert.deepEqual(again.body, { keyId });
  const clash = await nora.json("/api/me/inbox-keys", {
    method: "POST",
    body: { keyId, publicKey: rand(32).toBase64() },
  });
  assert.equal(clash.status, 409);
  for (
    const body of [
      { keyId: "not-a-uuid", publicKey },
      { keyId, publicKey: rand(31).toBase64() },
      { keyId, publicKey: rand(33).toBase64() },
      { keyId, publicKey: "!".repeat(44) },
      { keyId },
    ]
  ) {
    const res = await nora.json("/api/me/inbox-keys", {
      method: "POST",
      body,
    });
    assert.equal(res.status, 400, JSON.stringify(body));
  }
  const listed = await app.client().json<{ keys: unknown[] }>(
    "/handles/NORA_VM/inbox-keys",
  );
  assert.deepEqual(listed.body, { keys: [{ keyId, publicKey }] });

  const ids = [keyId];
  for (let i = 1; i < 10; i++) ids.push(await addKey(nora));
  const eleventh = await nora.json<{ error: string; message: string }>(
    "/api/me/inbox-keys",
    {
      method: "POST",
      body: { keyId: crypto.randomUUID(), publicKey: rand(32).toBase64() },
    },
  );
  assert.equal(eleventh.status, 409);
  assert.equal(eleventh.body.error, "too_many_keys");
  assert.match(eleventh.body.message, /remove an old device/i);
  // Re-registering one of the ten still answers 200.
  assert.equal(
    (await nora.json("/api/me/inbox-keys", {
      method: "POST",
      body: { keyId, publicKey },
    })).status,
    200,
  );

  const del = await nora.json(`/api/me/inbox-keys/${ids[3]}`, {
    method: "DELETE",
  });
  assert.equal(del.status, 200);
  const after = await app.client().json<{ keys: { keyId: string }[] }>(
    "/handles/nora_vm/inbox-keys",
  );
  assert.equal(after.body.keys.length, 9);
  assert.ok(!after.body.keys.some((k) => k.keyId === ids[3]));
  await addKey(nora);
  // Another owner cannot remove nora's keys (it only touches its own).
  const other = await owner(app, "other_vm");
  await other.json(`/api/me/inbox-keys/${ids[0]}`, { method: "DELETE" });
  assert.equal(
    (await app.client().json<{ keys: unknown[] }>(
      "/handles/nora_vm/inbox-keys",
    )).body.keys.length,
    10,
  );
});

Deno.test("inbox keys: parallel adds never pass the cap", async () => {
  await using app = await testApp();
  const c = await owner(app, "par_vm");
  const results = await Promise.all(
    Array.from({ length: 25 }, () =>
      c.json("/api/me/inbox-keys", {
        method: "POST",
        body: { keyId: crypto.randomUUID(), publicKey: rand(32).toBase64() },
      })),
  );
  assert.equal(results.filter((r) => r.status === 201).length, 10);
  assert.equal(results.filter((r) => r.status === 409).length, 15);
  assert.equal(await countPrefix(app.kv, keys.inboxKeyPrefix("par_vm")), 10);
});

Deno.test("voicemail: a real missed call takes a voicemail; the owner lists, fetches, reads and deletes it", async () => {
  await using app = await testApp({ REACH_RING_SECONDS: "1" });
  const lines: string[] = [];
  setLogSink((l) => lines.push(l));
  const base = app.listen();
  const bob = await owner(app, "bob_vm");
  await addKey(bob);
  await using dev = await device(base, bob);
  await using alice = await caller(base);

  const callId = crypto.randomUUID();
  alice.send({ type: "ring", callId, to: "bob_vm" });
  const ringing = await alice.next("ringing", (m) => m.callId === callId);
  await dev.next("incoming", (m) => m.callId === callId);
  const ended = await alice.next("ended", (m) => m.callId === callId);
  assert.equal(ended.reason, "missed");
  assert.equal((await getCallLog(app.kv, callId))?.decision, "missed");
  const callsBefore = await u64(app.kv, statsKeys.voicemailCount());

  const env = envelope(callId, "bob_vm");
  const bytes = JSON.stringify(env);
  const res = await upload(
    app.client(),
    { callId, token: ringing.resumeToken },
    bytes,
  );
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assert.deepEqual(res.body, { callId, size: bytes.length });
  assert.equal(
    (await getCallLog(app.kv, callId))?.decision as string,
    "voicemail",
  );
  assert.equal(
    await u64(app.kv, statsKeys.voicemailCount()),
    callsBefore + 1,
  );

  const list = await bob.json<{
    voicemails: {
      callId: string;
      createdAt: string;
      size: number;
      read: boolean;
    }[];
    unread: number;
  }>("/api/me/voicemails");
  assert.equal(list.status, 200);
  assert.equal(list.body.unread, 1);
  assert.equal(list.body.voicemails.length, 1);
  const item = list.body.voicemails[0];
  assert.deepEqual(Object.keys(item).sort(), [
    "callId",
    "createdAt",
    "read",
    "size",
  ]);
  assert.equal(item.callId, callId);
  assert.equal(item.size, bytes.length);
  assert.equal(item.read, false);
  assert.equal(new Date(item.createdAt).toISOString(), item.createdAt);

  const got = await bob.request(`/api/me/voicemails/${callId}`);
  assert.equal(got.status, 200);
  assert.match(got.headers.get("content-type") ?? "", /application\/json/);
  assert.equal(await got.text(), bytes, "the exact bytes come back");

  // Only the owner: another owner sees nothing and can change nothing.
  const eve = await owner(app, "eve_vm");
  assert.deepEqual(
    (await eve.json("/api/me/voicemails")).body,
    { voicemails: [], unread: 0 },
  );
  for (
    const [path, method] of [
      [`/api/me/voicemails/${callId}`, "GET"],
      [`/api/me/voicemails/${callId}/read`, "POST"],
      [`/api/me/voicemails/${callId}`, "DELETE"],
    ]
  ) {
    const r = await eve.json(path, { method });
    assert.equal(r.status, 404, `${method} ${path}`);
  }
  assert.equal(
    (await app.client().json("/api/me/voicemails")).status,
    401,
    "signed out",
  );

  const read = await bob.json(`/api/me/voicemails/${callId}/read`, {
    method: "POST",
  });
  assert.equal(read.status, 200);
  const afterRead = await bob.json<{
    voicemails: { read: boolean }[];
    unread: number;
  }>("/api/me/voicemails");
  assert.equal(afterRead.body.unread, 0);
  assert.equal(afterRead.body.voicemails[0].read, true);

  const del = await bob.json(`/api/me/voicemails/${callId}`, {
    method: "DELETE",
  });
  assert.equal(del.status, 200);
  assert.equal(
    await countPrefix(app.kv, keys.voicemailChunkPrefix("bob_vm", callId)),
    0,
  );
  assert.equal(await countPrefix(app.kv, keys.voicemailPrefix("bob_vm")), 0);
  assert.equal(await u64(app.kv, statsKeys.voicemailCount()), callsBefore);
  assert.equal(
    (await bob.json(`/api/me/voicemails/${callId}`)).status,
    404,
  );
  assert.equal(
    (await bob.json(`/api/me/voicemails/${callId}`, { method: "DELETE" }))
      .status,
    404,
  );

  // Logs: event names and call ids, never the handle, token or body.
  const all = lines.join("\n");
  assert.ok(lines.some((l) => JSON.parse(l).event === "voicemail.stored"));
  for (const secret of ["bob_vm", ringing.resumeToken, env.ct, env.iv]) {
    assert.ok(!all.includes(secret), `log leaks ${secret.slice(0, 12)}`);
  }
});

Deno.test("voicemail: a real declined call takes one too", async () => {
  await using app = await testApp();
  const base = app.listen();
  const cat = await owner(app, "cat_vm");
  await addKey(cat);
  await using dev = await device(base, cat);
  await using a = await caller(base);
  const callId = crypto.randomUUID();
  a.send({ type: "ring", callId, to: "cat_vm" });
  const ringing = await a.next("ringing", (m) => m.callId === callId);
  await dev.next("incoming", (m) => m.callId === callId);
  dev.send({ type: "decline", callId });
  assert.equal(
    (await a.next("ended", (m) => m.callId === callId)).reason,
    "declined",
  );
  const res = await upload(
    app.client(),
    { callId, token: ringing.resumeToken },
    envelope(callId, "cat_vm"),
  );
  assert.equal(res.status, 201);
  assert.equal(
    (await getCallLog(app.kv, callId))?.decision as string,
    "voicemail",
  );
});

Deno.test("voicemail: refusals — token, call, eligibility, inbox keys, envelope, size", async () => {
  await using app = await testApp({ REACH_VOICEMAIL_MAX_BYTES: "16384" });
  const dan = await owner(app, "dan_vm");
  const c = app.client();

  // No inbox keys yet.
  const early = await storeCall(app, "dan_vm", "missed");
  const none = await upload(
    c,
    early,
    envelope(early.callId, "dan_vm"),
  );
  assert.equal(none.status, 422);
  assert.equal(none.body.error, "no_inbox_keys");
  assert.equal(
    (none.body as unknown as { message: string }).message,
    "@dan_vm has no browser set up to receive voicemail.",
  );
  await addKey(dan);

  const call = await storeCall(app, "dan_vm", "missed");
  const good = envelope(call.callId, "dan_vm");
  for (const token of [null, "", rand(32).toHex(), early.token]) {
    const r = await upload(c, call, good, token);
    assert.equal(r.status, 403, `token ${token}`);
    assert.equal(r.body.error, "not_your_call");
  }
  const missing = { callId: crypto.randomUUID(), token: call.token };
  assert.equal((await upload(c, missing, good)).status, 404);
  assert.equal(
    (await upload(c, missing, good)).body.error,
    "no_such_call",
  );
  assert.equal(
    (await upload(c, { callId: "../x", token: call.token }, good)).status,
    404,
  );

  for (const state of ["ringing", "answered", "cancelled"] as const) {
    const other = await storeCall(app, "dan_vm", state);
    const r = await upload(c, other, envelope(other.callId, "dan_vm"));
    assert.equal(r.status, 409, state);
    assert.equal(r.body.error, "not_eligible", state);
    assert.match(
      (r.body as unknown as { message: string }).message,
      /unanswered/,
    );
  }
  // An answered call that has ended is not eligible either.
  const talked = await storeCall(app, "dan_vm", "answered");
  await endCall(
    app.kv,
    talked.callId,
    "missed",
    ["answered"],
    app.config.callLogRetentionMs,
  );
  assert.equal(
    (await upload(c, talked, envelope(talked.callId, "dan_vm"))).status,
    409,
  );
  for (const decision of ["unavailable", "busy"] as const) {
    const ok = await storeCall(app, "dan_vm", decision);
    assert.equal(
      (await upload(c, ok, envelope(ok.callId, "dan_vm"))).status,
      201,
      decision,
    );
  }

  const bad: [string, unknown][] = [
    ["not json", "{not json"],
    ["array", []],
    ["v2", { ...good, v: 2 }],
    ["extra field", { ...good, audio: "UklGRg==" }],
    ["no recipients", { ...good, recipients: [] }],
    [
      "11 recipients",
      envelope(
        call.callId,
        "dan_vm",
        rand(50),
        Array.from({ length: 11 }, () => crypto.randomUUID()),
      ),
    ],
    [
      "duplicate keyIds",
      envelope(call.callId, "dan_vm", rand(50), ["k", "k"]),
    ],
    ["short iv", { ...good, iv: rand(11).toBase64() }],
    ["ct not base64", { ...good, ct: "%%%%" + good.ct.slice(4) }],
    ["ct too short", { ...good, ct: rand(8).toBase64() }],
    [
      "bad epk",
      {
        ...good,
        recipients: [{ ...good.recipients[0], epk: rand(31).toBase64() }],
      },
    ],
    ["other call", { ...good, callId: crypto.randomUUID() }],
    ["other handle", { ...good, handle: "eve_vm" }],
    ["case of handle", { ...good, handle: "DAN_VM" }],
  ];
  for (const [what, body] of bad) {
    const r = await upload(c, call, body);
    assert.equal(r.status, 400, what);
  }
  const notJson = await c.request(`/api/voicemail/${call.callId}`, {
    method: "POST",
    body: JSON.stringify(good),
    headers: { "content-type": "text/plain", "x-reach-call-token": call.token },
  });
  assert.equal(notJson.status, 415);

  // 16 KiB cap: one byte over is refused, streamed or declared.
  const big = envelope(call.callId, "dan_vm", new Uint8Array(0));
  const fill = 16384 - JSON.stringify(big).length;
  big.ct = "A".repeat(fill - (fill % 4));
  const atCap = JSON.stringify(big) + " ".repeat(fill % 4);
  assert.equal(new TextEncoder().encode(atCap).length, 16384);
  const over = await upload(c, call, atCap + " ");
  assert.equal(over.status, 413);
  assert.equal(over.body.error, "payload_too_large");
  const declared = await c.request(`/api/voicemail/${call.callId}`, {
    method: "POST",
    body: "{}",
    headers: {
      "content-type": "application/json",
      "content-length": "999999",
      "x-reach-call-token": call.token,
    },
  });
  assert.equal(declared.status, 413);
  assert.equal(
    await countPrefix(app.kv, keys.voicemailChunkPrefix("dan_vm", call.callId)),
    0,
    "nothing refused was stored",
  );
  const exact = await upload(c, call, atCap);
  assert.equal(exact.status, 201, "exactly the cap is accepted");
  assert.equal(exact.body.size, 16384);
});

Deno.test("voicemail: retries are idempotent; different bytes are refused", async () => {
  await using app = await testApp();
  const fay = await owner(app, "fay_vm");
  await addKey(fay);
  const call = await storeCall(app, "fay_vm", "declined");
  const body = JSON.stringify(envelope(call.callId, "fay_vm", rand(200_000)));
  const c = app.client();
  const first = await upload(c, call, body);
  assert.equal(first.status, 201);
  const chunkPrefix = keys.voicemailChunkPrefix("fay_vm", call.callId);
  const chunks = await countPrefix(app.kv, chunkPrefix);
  assert.equal(chunks, Math.ceil(body.length / (60 * 1024)));
  const count = await u64(app.kv, statsKeys.voicemailCount());

  const second = await upload(c, call, body);
  assert.equal(second.status, 200);
  assert.deepEqual(second.body, { callId: call.callId, size: body.length });
  assert.equal(await countPrefix(app.kv, keys.voicemailPrefix("fay_vm")), 1);
  assert.equal(await countPrefix(app.kv, chunkPrefix), chunks);
  assert.equal(await u64(app.kv, statsKeys.voicemailCount()), count);

  const different = await upload(
    c,
    call,
    envelope(call.callId, "fay_vm", rand(200_000)),
  );
  assert.equal(different.status, 409);
  assert.equal(different.body.error, "voicemail_exists");
  const got = await fay.request(`/api/me/voicemails/${call.callId}`);
  assert.equal(await got.text(), body, "the first upload is kept intact");

  // Parallel duplicates of one upload store it once.
  const twin = await storeCall(app, "fay_vm", "missed");
  const twinBody = JSON.stringify(
    envelope(twin.callId, "fay_vm", rand(150_000)),
  );
  const results = await Promise.all(
    Array.from({ length: 4 }, () => upload(app.client(), twin, twinBody)),
  );
  assert.deepEqual(
    results.map((r) => r.status).sort(),
    [200, 200, 200, 201],
  );
  assert.equal(await countPrefix(app.kv, keys.voicemailPrefix("fay_vm")), 2);
});

Deno.test("voicemail: limits per address whatever the call, per handle (50/hour)", async () => {
  await using app = await testApp({
    REACH_PROXY_HEADER: "x-forwarded-for",
    REACH_LIMIT_VOICEMAILS_PER_ADDRESS: "5",
    REACH_VOICEMAIL_QUOTA_COUNT: "1000",
  });
  const gus = await owner(app, "gus_vm");
  await addKey(gus);
  const c = app.client();
  // Every call has its own caller hash (a fresh caller token each time):
  // that used to give a fresh budget; the address does not change.
  for (let i = 0; i < 5; i++) {
    const call = await storeCall(app, "gus_vm", "missed");
    assert.equal(
      (await upload(
        c,
        call,
        envelope(call.callId, "gus_vm"),
        undefined,
        "203.0.113.5",
      ))
        .status,
      201,
      `upload ${i + 1}`,
    );
  }
  const sixth = await storeCall(app, "gus_vm", "missed");
  const limited = await upload(
    c,
    sixth,
    envelope(sixth.callId, "gus_vm"),
    undefined,
    "203.0.113.5",
  );
  assert.equal(limited.status, 429);
  assert.equal(limited.body.error, "rate_limited");
  const retry = Number(limited.res.headers.get("retry-after"));
  assert.ok(retry >= 1 && retry <= 3600, `retry-after ${retry}`);
  // Another address is not affected.
  assert.equal(
    (await upload(
      c,
      sixth,
      envelope(sixth.callId, "gus_vm"),
      undefined,
      "198.51.100.8",
    ))
      .status,
    201,
  );

  // Many addresses reach hal, up to 50 in the hour in all.
  const hal = await owner(app, "hal_vm");
  await addKey(hal);
  for (let i = 0; i < HANDLE_LIMIT_PER_HOUR; i++) {
    const call = await storeCall(app, "hal_vm", "missed");
    assert.equal(
      (await upload(
        c,
        call,
        envelope(call.callId, "hal_vm"),
        undefined,
        `10.9.${i}.1`,
      ))
        .status,
      201,
      `upload ${i + 1}`,
    );
  }
  const over = await storeCall(app, "hal_vm", "missed");
  const full = await upload(
    c,
    over,
    envelope(over.callId, "hal_vm"),
    undefined,
    "10.10.0.1",
  );
  assert.equal(full.status, 429);
  assert.ok(Number(full.res.headers.get("retry-after")) >= 1);
});

Deno.test("voicemail: without the proxy setting, a forged X-Forwarded-For gives no new budget", async () => {
  await using app = await testApp({ REACH_LIMIT_VOICEMAILS_PER_ADDRESS: "2" });
  const kim = await owner(app, "kim_vm");
  await addKey(kim);
  const c = app.client();
  const statuses = [];
  for (let i = 0; i < 3; i++) {
    const call = await storeCall(app, "kim_vm", "missed");
    statuses.push(
      (await upload(
        c,
        call,
        envelope(call.callId, "kim_vm"),
        undefined,
        `192.0.2.${i}`,
      ))
        .status,
    );
  }
  assert.deepEqual(statuses, [201, 201, 429]);
});

Deno.test("voicemail: each inbox has a quota of messages and bytes", async () => {
  await using app = await testApp({
    REACH_VOICEMAIL_QUOTA_COUNT: "3",
    REACH_VOICEMAIL_QUOTA_BYTES: String(1024 * 1024),
  });
  const lou = await owner(app, "lou_vm");
  await addKey(lou);
  const c = app.client();
  for (let i = 0; i < 3; i++) {
    const call = await storeCall(app, "lou_vm", "missed");
    assert.equal(
      (await upload(c, call, envelope(call.callId, "lou_vm"))).status,
      201,
    );
  }
  const fourth = await storeCall(app, "lou_vm", "missed");
  const full = await upload(c, fourth, envelope(fourth.callId, "lou_vm"));
  assert.equal(full.status, 507);
  assert.equal(full.body.error, "inbox_full");
  assert.match(full.body.message!, /full/);
  assert.equal(await countPrefix(app.kv, keys.voicemailPrefix("lou_vm")), 3);

  // Bytes: a 1 MiB quota holds two ~400 KB messages, not three.
  const mia = await owner(app, "mia_vm");
  await addKey(mia);
  const statuses = [];
  for (let i = 0; i < 3; i++) {
    const call = await storeCall(app, "mia_vm", "missed");
    statuses.push(
      (await upload(c, call, envelope(call.callId, "mia_vm", rand(300_000))))
        .status,
    );
  }
  assert.deepEqual(statuses, [201, 201, 507]);

  // Racing uploads cannot overfill it either.
  const ned = await owner(app, "ned_vm");
  await addKey(ned);
  const calls = await Promise.all(
    Array.from({ length: 8 }, () => storeCall(app, "ned_vm", "missed")),
  );
  const raced = await Promise.all(
    calls.map((call) => upload(c, call, envelope(call.callId, "ned_vm"))),
  );
  assert.ok(raced.filter((r) => r.status === 201).length <= 3);
  assert.ok(await countPrefix(app.kv, keys.voicemailPrefix("ned_vm")) <= 3);
});

Deno.test("voicemail: unread first, then newest; read marking", async () => {
  await using app = await testApp();
  const ivy = await owner(app, "ivy_vm");
  await addKey(ivy);
  const c = app.client();
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const call = await storeCall(app, "ivy_vm", "missed");
    assert.equal(
      (await upload(c, call, envelope(call.callId, "ivy_vm"))).status,
      201,
    );
    ids.push(call.callId);
    // Distinct creation times without sleeping: wait for the clock to move.
    const t = Date.now();
    while (Date.now() === t) await app.kv.get(["tick"]);
  }
  const list = () =>
    ivy.json<{
      voicemails: { callId: string; read: boolean }[];
      unread: number;
    }>("/api/me/voicemails");
  let l = await list();
  assert.equal(l.body.unread, 3);
  assert.deepEqual(l.body.voicemails.map((v) => v.callId), ids.toReversed());
  // Mark the newest read: it drops below the unread ones.
  assert.equal(
    (await ivy.json(`/api/me/voicemails/${ids[2]}/read`, { method: "POST" }))
      .status,
    200,
  );
  assert.equal(
    (await ivy.json(`/api/me/voicemails/${ids[2]}/read`, { method: "POST" }))
      .status,
    200,
    "marking twice is fine",
  );
  l = await list();
  assert.equal(l.body.unread, 2);
  assert.deepEqual(l.body.voicemails.map((v) => v.callId), [
    ids[1],
    ids[0],
    ids[2],
  ]);
  assert.deepEqual(l.body.voicemails.map((v) => v.read), [false, false, true]);
  assert.equal(
    (await ivy.json(`/api/me/voicemails/${crypto.randomUUID()}/read`, {
      method: "POST",
    })).status,
    404,
  );
});

Deno.test("voicemail: a ~900 KiB sealed recording round trips byte-exact and KV holds no WebM in clear", async () => {
  await using app = await testApp();
  const jo = await owner(app, "jo_vm");
  const keyId = await addKey(jo);
  const call = await storeCall(app, "jo_vm", "missed");

  // A fake WebM recording (it starts with the EBML magic), sealed with
  // AES-GCM the way a browser would: the server only ever sees ciphertext.
  const plain = rand(660 * 1024);
  plain.set(WEBM_MAGIC, 0);
  plain.set(WEBM_MAGIC, 4096);
  const key = await crypto.subtle.generateKey(
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt"],
  );
  const iv = rand(12);
  const ct = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: iv as BufferSource },
      key,
      plain as BufferSource,
    ),
  );
  const env = { ...envelope(call.callId, "jo_vm", ct, [keyId]) };
  env.iv = iv.toBase64();
  const body = JSON.stringify(env);
  assert.ok(body.length > 880 * 1024 && body.length < 920 * 1024);

  const res = await upload(app.client(), call, body);
  assert.equal(res.status, 201);
  assert.equal(res.body.size, body.length);
  const chunkPrefix = keys.voicemailChunkPrefix("jo_vm", call.callId);
  assert.equal(await countPrefix(app.kv, chunkPrefix), 15);

  const got = await jo.request(`/api/me/voicemails/${call.callId}`);
  const back = new Uint8Array(await got.arrayBuffer());
  assert.deepEqual(back, new TextEncoder().encode(body));

  // KV holds exactly what was sent, chunked, and nowhere the recording in
  // clear: not its raw bytes, not its base64.
  const stored: Uint8Array[] = [];
  for await (const e of app.kv.list<Uint8Array>({ prefix: chunkPrefix })) {
    assert.ok(e.value.length <= 60 * 1024);
    stored.push(e.value);
  }
  assert.deepEqual(
    new Uint8Array(stored.flatMap((s) => [...s])),
    new TextEncoder().encode(body),
  );
  const magic = new Uint8Array(WEBM_MAGIC);
  const plainB64 = plain.subarray(0, 48).toBase64();
  const enc = new TextEncoder();
  for await (const e of app.kv.list({ prefix: [] })) {
    const v = e.value;
    const raw = v instanceof Uint8Array
      ? v
      : v instanceof Deno.KvU64
      ? new Uint8Array()
      : enc.encode(JSON.stringify(v));
    assert.equal(indexOf(raw, magic), -1, `WebM magic in ${String(e.key)}`);
    assert.equal(
      indexOf(raw, enc.encode(plainB64)),
      -1,
      `plaintext base64 in ${String(e.key)}`,
    );
  }
  // Only call id, time, size (and the hash and chunk count) sit beside it.
  const meta = (await app.kv.get(keys.voicemail("jo_vm", call.callId))).value;
  assert.deepEqual(Object.keys(meta as object).sort(), [
    "callId",
    "chunks",
    "createdAt",
    "read",
    "sha256",
    "size",
  ]);
});
