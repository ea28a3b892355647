/**
 * /ops and /ops/calls.csv through the real handler: operator gating that
 * looks exactly like a missing page, the figures, the log table's filter and
 * paging, the CSV export, and nothing identifying on either.
 */
import assert from "node:assert/strict";
import { callRef } from "@/lib/call_ref.ts";
import { loadConfig, setConfig } from "@/lib/config.ts";
import { hmacHex } from "@/lib/crypto/hash.ts";
import {
  acceptCall,
  type CallDecision,
  createCall,
  endCall,
  getCallLog,
  updateCall,
} from "@/lib/store/calls.ts";
import { markOnline } from "@/lib/store/presence.ts";
import { addVoicemailStats } from "@/lib/store/stats.ts";
import {
  TEST_ENV,
  type TestApp,
  testApp,
  type TestClient,
} from "../_helpers/app.ts";
import { caller, device } from "../_helpers/signal_client.ts";
import { newWallet, type TestWallet } from "../_helpers/wallet.ts";

const DAY = 86_400_000;

async function seedCall(
  kv: Deno.Kv,
  c: {
    decision: CallDecision;
    startedAt?: number;
    durationMs?: number;
    relayed?: boolean;
    callerHash?: string;
    calleeHash?: string;
  },
): Promise<string> {
  const callId = crypto.randomUUID();
  const startedAt = c.startedAt ?? Date.now() - 60_000;
  assert.ok(
    await createCall(kv, {
      callId,
      state: "ringing",
      calleeHandle: "someone",
      callerHash: c.callerHash ?? "c0ffee".padEnd(64, "1"),
      calleeHash: c.calleeHash ?? "ca11ee".padEnd(64, "2"),
      createdAt: startedAt,
      callerResume: "r",
      callerConn: "conn",
    }),
  );
  let end = startedAt + 2000;
  if (c.decision === "answered") {
    assert.ok(await acceptCall(kv, callId, "dev", "r2", "conn2", end));
    if (c.relayed) await updateCall(kv, callId, () => ({ relayed: true }));
    end += c.durationMs ?? 0;
  }
  assert.ok(
    await endCall(kv, callId, c.decision, ["ringing", "answered"], DAY, end),
  );
  return callId;
}

/** Signs in a fresh wallet and makes it the only operator. */
async function operator(app: TestApp): Promise<TestClient> {
  const wallet: TestWallet = newWallet();
  setConfig(loadConfig({ ...TEST_ENV, REACH_OPERATOR_KEYS: wallet.address }));
  const c = app.client();
  await c.signIn(wallet);
  return c;
}

async function page(c: TestClient, path: string) {
  const res = await c.request(path);
  return { status: res.status, html: await res.text(), res };
}

/** A response with its per-response parts (nonces, dates) blanked out. */
async function shape(res: Response) {
  const body = (await res.text()).replace(/nonce="[^"]*"/g, 'nonce=""');
  const headers = [...res.headers]
    .filter(([k]) => k !== "date")
    .map(([k, v]) => [k, v.replace(/'nonce-[^']+'/g, "'nonce-'")]);
  return { status: res.status, headers, body };
}

function rows(html: string, tableId: string): string[] {
  const m = new RegExp(`<table[^>]*id="${tableId}"[\\s\\S]*?</table>`).exec(
    html,
  );
  if (!m) return [];
  return [...m[0].matchAll(/<tr\b[\s\S]*?<\/tr>/g)].slice(1).map((r) => r[0]);
}

function figure(html: string, id: string): string {
  const m = new RegExp(`<dd id="${id}">([\\s\\S]*?)</dd>`).exec(html);
  assert.ok(m, `figure ${id}`);
  return m[1].replace(/<!--.*?-->/g, "").replace(/\s+/g, " ").trim();
}

/** Parses RFC 4180 CSV strictly (CRLF records, quoted fields). */
function parseCsv(text: string): string[][] {
  const out: string[][] = [];
  let row: string[] = [], field = "", i = 0, quoted = false;
  while (i < text.length) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') (field += '"'), (i += 2);
      else if (ch === '"') (quoted = false), i++;
      else (field += ch), i++;
    } else if (ch === '"' && field === "") (quoted = true), i++;
    else if (ch === ",") row.push(field), (field = ""), i++;
    else if (ch === "\r" && text[i + 1] === "\n") {
      row.push(field), out.push(row), (row = []), (field = ""), (i += 2);
    } else {
      assert.notEqual(ch, "\n", "bare LF outside quotes");
      assert.notEqual(ch, '"', "stray quote");
      (field += ch), i++;
    }
  }
  assert.equal(field + row.join(""), "", "file ends with CRLF");
  return out;
}

Deno.test("ops: only operators see it; everyone else gets the ordinary 404", async () => {
  await using app = await testApp();
  const anon = app.client();
  for (const path of ["/ops", "/ops/calls.csv", "/ops?decision=missed"]) {
    const a = await shape(await anon.request(path));
    const missing = await shape(await anon.request("/no-such-page"));
    assert.equal(a.status, 404, path);
    assert.deepEqual(a, missing, `${path} looks like a missing page`);
  }
  // Signed in, even with a handle, but not listed.
  const someone = app.client();
  await someone.signIn(newWallet());
  await someone.json("/api/handles", {
    method: "POST",
    body: { handle: "not_an_op" },
  });
  for (const path of ["/ops", "/ops/calls.csv"]) {
    const a = await shape(await someone.request(path));
    const missing = await shape(await someone.request("/nothing-here"));
    assert.equal(a.status, 404);
    assert.deepEqual(a, missing, `${path}, signed in`);
  }
  // Other methods look missing too, rather than "405 Allow: GET".
  const post = await shape(await someone.request("/ops", { method: "POST" }));
  const postMissing = await shape(
    await someone.request("/nothing-here", { method: "POST" }),
  );
  assert.deepEqual(post, postMissing);

  const op = await operator(app);
  const ok = await page(op, "/ops");
  assert.equal(ok.status, 200);
  assert.match(ok.html, /<h1>Operations<\/h1>/);
  assert.equal(ok.res.headers.get("cache-control"), "no-store");
  assert.match(ok.res.headers.get("content-security-policy")!, /default-src/);
  assert.ok(!/<script/i.test(ok.html), "no client script on /ops");
  // The same key stops working once it is no longer listed.
  setConfig(loadConfig(TEST_ENV));
  assert.equal((await page(op, "/ops")).status, 404);
  assert.equal((await op.request("/ops/calls.csv")).status, 404);
});

Deno.test("ops: the page shows the figures from the counters", async () => {
  await using app = await testApp();
  const { kv } = app;
  const now = Date.now();
  // 4 answered (2 relayed; 10 s, 20 s, 40 s, 100 s), 3 missed, 1 busy.
  for (
    const [d, relayed] of [[10, true], [20, true], [40, false], [100, false]]
  ) {
    await seedCall(kv, {
      decision: "answered",
      durationMs: (d as number) * 1000,
      relayed: relayed as boolean,
    });
  }
  for (let i = 0; i < 3; i++) await seedCall(kv, { decision: "missed" });
  await seedCall(kv, { decision: "busy" });
  // An old call outside the 14-day window counts only all-time.
  await seedCall(kv, { decision: "declined", startedAt: now - 20 * DAY });
  await addVoicemailStats(kv.atomic(), 3 * 1024 * 1024).commit();
  await addVoicemailStats(kv.atomic(), 1024 * 1024).commit();
  await markOnline(kv, "alpha", "d1");
  await markOnline(kv, "alpha", "d2");
  await markOnline(kv, "beta", "d3", "busy", now - 60_000); // expired
  const op = await operator(app);
  const { html } = await page(op, "/ops");
  assert.equal(figure(html, "fig-calls"), "8");
  assert.equal(figure(html, "fig-answer-rate"), "50.0%");
  // Lower median of 10, 20, 40, 100 s is 20 s: bucket 15–30 s.
  assert.equal(figure(html, "fig-median"), "15 s – 30 s");
  assert.equal(figure(html, "fig-relayed"), "50.0%");
  assert.equal(figure(html, "fig-voicemails"), "2 (4.0 MiB)");
  assert.equal(figure(html, "fig-devices"), "2");
  assert.match(figure(html, "fig-connections"), /^0 \(0 devices, 0 callers\)$/);
  assert.equal(figure(html, "fig-all-time"), "9");
  // Breakdown table.
  assert.match(html, /<td data-decision="answered">4<\/td>/);
  assert.match(html, /<td data-decision="missed">3<\/td>/);
  assert.match(html, /<td data-decision="busy">1<\/td>/);
  assert.match(html, /<td data-decision="declined">0<\/td>/);
  // The chart: an accessible SVG with a table fallback.
  assert.match(
    html,
    /<svg[^>]*role="img"[^>]*aria-labelledby="ops-chart-title/,
  );
  assert.match(html, /<title id="ops-chart-title">/);
  assert.match(html, /<rect class="seg d-answered"/);
  assert.match(html, /Calls per day as a table/);
});

Deno.test("ops: the log table filters by decision and pages by cursor", async () => {
  await using app = await testApp();
  const { kv } = app;
  for (let i = 0; i < 55; i++) await seedCall(kv, { decision: "missed" });
  for (let i = 0; i < 7; i++) await seedCall(kv, { decision: "declined" });
  const op = await operator(app);

  const first = await page(op, "/ops");
  assert.equal(rows(first.html, "call-log").length, 50);
  const next = /<a rel="next" href="([^"]+)"/.exec(first.html)?.[1];
  assert.ok(next, "a next-page link");
  const second = await page(op, next!.replaceAll("&amp;", "&"));
  const secondRows = rows(second.html, "call-log");
  assert.equal(secondRows.length, 12);
  assert.ok(!/<a rel="next"/.test(second.html), "no third page");
  assert.match(second.html, /First page/);
  const ids = (h: string) =>
    rows(h, "call-log").map((r) => /data-call-ref="([^"]+)"/.exec(r)![1]);
  assert.equal(new Set([...ids(first.html), ...ids(second.html)]).size, 62);

  const declined = await page(op, "/ops?decision=declined");
  const dRows = rows(declined.html, "call-log");
  assert.equal(dRows.length, 7);
  assert.ok(dRows.every((r) => r.includes("<td>declined</td>")));
  assert.match(declined.html, /href="\/ops\/calls.csv\?decision=declined"/);
  // An unknown filter or a broken cursor falls back to everything.
  assert.equal(
    rows((await page(op, "/ops?decision=zzz")).html, "call-log").length,
    50,
  );
  const broken = await page(op, "/ops?cursor=%21%21%21");
  assert.equal(broken.status, 200);
  assert.equal(rows(broken.html, "call-log").length, 50);
  // Paging past the end shows the empty state.
  const none = await page(op, "/ops?decision=busy");
  assert.match(none.html, /id="log-empty"/);
});

Deno.test("ops: CSV export is text/csv, RFC 4180, and filtered", async () => {
  await using app = await testApp();
  const { kv } = app;
  for (let i = 0; i < 5; i++) {
    await seedCall(kv, {
      decision: "answered",
      durationMs: 61_000,
      relayed: i % 2 === 0,
    });
  }
  for (let i = 0; i < 3; i++) await seedCall(kv, { decision: "cancelled" });
  const op = await operator(app);
  const res = await op.request("/ops/calls.csv");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type")!, /^text\/csv/);
  assert.match(
    res.headers.get("content-disposition")!,
    /^attachment; filename="reach-calls-all-\d{4}-\d{2}-\d{2}\.csv"$/,
  );
  const table = parseCsv(await res.text());
  assert.deepEqual(table[0], [
    "call_ref",
    "started_at",
    "duration_seconds",
    "decision",
    "relayed",
    "caller_hash",
    "callee_hash",
  ]);
  assert.equal(table.length, 9);
  for (const r of table.slice(1)) {
    assert.equal(r.length, 7);
    assert.match(r[1], /^\d{4}-\d{2}-\d{2}T/);
    assert.match(r[5], /^[0-9a-f]{10}$/);
    assert.match(r[6], /^[0-9a-f]{10}$/);
  }
  const answered = table.slice(1).filter((r) => r[3] === "answered");
  assert.equal(answered.length, 5);
  assert.ok(answered.every((r) => r[2] === "61"));
  assert.equal(answered.filter((r) => r[4] === "true").length, 3);

  const filtered = parseCsv(
    await (await op.request("/ops/calls.csv?decision=cancelled")).text(),
  );
  assert.equal(filtered.length, 4);
  assert.ok(filtered.slice(1).every((r) => r[3] === "cancelled"));
});

Deno.test("ops: no handle, number, address or SDP on /ops or in the CSV", async () => {
  await using app = await testApp({ REACH_SMS_PROVIDER: "dev" });
  const base = app.listen();
  // A real call through the signaling hub, with SDP and candidates.
  const bob = app.client();
  await bob.signIn(newWallet());
  await bob.json("/api/handles", {
    method: "POST",
    body: { handle: "secret_bob" },
  });
  await using dev = await device(base, bob);
  await using alice = await caller(base);
  const callId = crypto.randomUUID();
  alice.send({ type: "ring", callId, to: "secret_bob" });
  await dev.next("incoming", (m) => m.callId === callId);
  dev.send({ type: "accept", callId });
  await alice.next("accepted", (m) => m.callId === callId);
  alice.send({
    type: "offer",
    callId,
    sdp: "v=0\r\no=- 1 2 IN IP4 198.51.100.23\r\ns=-\r\n",
  });
  await dev.next("offer");
  alice.send({
    type: "candidate",
    callId,
    candidate: {
      candidate: "candidate:1 1 udp 2122260223 198.51.100.23 54321 typ host",
      sdpMid: "0",
      sdpMLineIndex: 0,
    },
  });
  await dev.next("candidate");
  alice.send({ type: "report", callId, relayed: true });
  alice.send({ type: "hangup", callId, reason: "normal" });
  await dev.next("hangup");
  let log = await getCallLog(app.kv, callId);
  for (let i = 0; !log && i < 200; i++) {
    await app.kv.get(["wait"]); // one KV round trip
    log = await getCallLog(app.kv, callId);
  }
  assert.ok(log, "the call was logged");

  const op = await operator(app);
  const { html } = await page(op, "/ops");
  assert.match(figure(html, "fig-connections"), /^[1-9]/, "sockets counted");
  assert.equal(figure(html, "fig-devices"), "1");
  const csv = await (await op.request("/ops/calls.csv")).text();
  const calleeHash = await hmacHex(app.config.hmacKey, "callee", "secret_bob");
  for (const [name, text] of [["/ops", html], ["csv", csv]]) {
    assert.ok(text.includes(calleeHash.slice(0, 10)), `${name} lists the call`);
    assert.ok(!text.includes(calleeHash), `${name}: hashes are shortened`);
    assert.ok(!text.includes(log.callerHash), `${name}: caller shortened`);
    assert.ok(!/secret_bob/i.test(text), `${name}: no handle`);
    assert.ok(!text.includes("198.51.100.23"), `${name}: no address`);
    assert.ok(!/\b\d{1,3}(\.\d{1,3}){3}\b/.test(text), `${name}: no IPv4`);
    assert.ok(!/v=0|candidate:/.test(text), `${name}: no SDP`);
    assert.ok(!/\+\d{7,}/.test(text), `${name}: no phone number`);
    assert.ok(!text.includes(callId), `${name}: no raw call id`);
    assert.ok(text.includes(callRef(callId)), `${name}: the call's reference`);
  }
});

Deno.test("ops: live calls are counted from KV, so calls on other isolates show and ended ones do not", async () => {
  await using app = await testApp();
  const kv = app.kv;
  const now = Date.now();
  // Written straight to KV, as hubs on other isolates write them: this
  // isolate holds none of their sockets.
  const ring = async (callId: string) =>
    assert.ok(
      await createCall(kv, {
        callId,
        state: "ringing",
        calleeHandle: "someone",
        callerHash: "c".repeat(64),
        calleeHash: "d".repeat(64),
        createdAt: now,
        callerResume: "r",
        callerConn: `conn-${callId}`,
      }),
    );
  for (const id of ["r1", "r2", "a1", "a2", "e1"]) await ring(id);
  assert.ok(await acceptCall(kv, "a1", "dev", "x", "c-a1", now));
  assert.ok(await acceptCall(kv, "a2", "dev", "x", "c-a2", now));
  assert.ok(
    await endCall(kv, "e1", "cancelled", ["ringing"], DAY, now),
  );
  const op = await operator(app);
  let { html } = await page(op, "/ops");
  assert.equal(figure(html, "fig-live"), "2 ringing, 2 answered");
  assert.match(figure(html, "fig-connections"), /^0 /, "none on this isolate");
  // One ends: the count follows at once.
  assert.ok(await endCall(kv, "a2", "cancelled", ["answered"], DAY));
  ({ html } = await page(op, "/ops"));
  assert.equal(figure(html, "fig-live"), "2 ringing, 1 answered");
});
