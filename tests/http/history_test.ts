/** /me "Recent calls": the owner's own calls, newest first, paged, anonymous. */
import assert from "node:assert/strict";
import { hmacHex } from "@/lib/crypto/hash.ts";
import {
  acceptCall,
  type CallDecision,
  createCall,
  endCall,
} from "@/lib/store/calls.ts";
import {
  calleeHashOf,
  callerLabel,
  callerPseudonym,
} from "@/lib/store/history.ts";
import { owner, testApp } from "../_helpers/app.ts";

async function seedCall(
  kv: Deno.Kv,
  c: {
    decision: CallDecision;
    startedAt: number;
    callerHash: string;
    calleeHash: string;
    durationMs?: number;
  },
) {
  const callId = crypto.randomUUID();
  assert.ok(
    await createCall(kv, {
      callId,
      state: "ringing",
      calleeHandle: "x",
      callerHash: c.callerHash,
      calleeHash: c.calleeHash,
      createdAt: c.startedAt,
      callerResume: "r",
      callerConn: "conn",
    }),
  );
  let end = c.startedAt + 1000;
  if (c.decision === "answered") {
    assert.ok(await acceptCall(kv, callId, "dev", "r2", "c2", end));
    end += c.durationMs ?? 0;
  }
  assert.ok(
    await endCall(
      kv,
      callId,
      c.decision,
      ["ringing", "answered"],
      86_400_000,
      end,
    ),
  );
}

function historyRows(html: string): string[] {
  const m = /<div class="call-history">[\s\S]*?<\/div>/.exec(html);
  assert.ok(m, "the Recent calls section");
  return [...m[0].matchAll(/<tr class="call-[^"]*">[\s\S]*?<\/tr>/g)].map((
    r,
  ) => r[0]);
}

Deno.test("history: /me lists the owner's calls newest first, paged, with an empty state", async () => {
  await using app = await testApp();
  const { kv, config } = app;
  const dana = await owner(app, "dana_hist");
  let html = await (await dana.request("/me")).text();
  assert.match(html, /<h2 id="recent-calls">Recent calls<\/h2>/);
  assert.match(html, /No calls yet/);

  const mine = await calleeHashOf(config.hmacKey, "dana_hist");
  const other = await calleeHashOf(config.hmacKey, "someone_else");
  const alice = await hmacHex(config.hmacKey, "caller", "alice-id");
  const carol = await hmacHex(config.hmacKey, "caller", "carol-id");
  const now = Date.now();
  // 25 calls, a minute apart, alternating callers; the newest is answered.
  for (let i = 0; i < 25; i++) {
    await seedCall(kv, {
      decision: i === 24 ? "answered" : i % 3 ? "missed" : "declined",
      startedAt: now - (25 - i) * 60_000,
      callerHash: i % 2 ? carol : alice,
      calleeHash: mine,
      durationMs: 83_000,
    });
  }
  await seedCall(kv, {
    decision: "busy",
    startedAt: now - 1000,
    callerHash: alice,
    calleeHash: other,
  });

  html = await (await dana.request("/me")).text();
  const first = historyRows(html);
  assert.equal(first.length, 20, "a page of 20");
  assert.ok(!html.includes("No calls yet"));
  assert.ok(!first.some((r) => r.includes("call-busy")), "not others' calls");
  const times = (rows: string[]) =>
    rows.map((r) => Date.parse(/datetime="([^"]+)"/.exec(r)![1]));
  const t1 = times(first);
  for (let i = 1; i < t1.length; i++) {
    assert.ok(t1[i - 1] > t1[i], "newest first");
  }
  // Newest: answered, 1:23 long, relative time with the ISO time in a title.
  assert.match(first[0], /Answered/);
  assert.match(first[0], /<td>1:23<\/td>/);
  assert.match(first[0], /title="\d{4}-\d{2}-\d{2}T[^"]+Z"/);
  assert.match(first[0], />1 min ago</);
  assert.match(first[1], /Missed|Declined/);
  assert.match(first[1], /<td>—<\/td>/);

  // Labels: stable for the same caller, different for different callers.
  const label = (r: string) => /Caller [0-9A-Z]{4}-[0-9A-Z]{2}/.exec(r)![0];
  const labelFor = (h: string) =>
    callerPseudonym(config.hmacKey, "dana_hist", h);
  assert.equal(label(first[0]), await labelFor(alice));
  assert.equal(label(first[1]), await labelFor(carol));
  assert.notEqual(label(first[0]), callerLabel(alice), "not the bare hash's");
  assert.equal(label(first[2]), label(first[0]));
  assert.equal(label(first[3]), label(first[1]));
  assert.notEqual(label(first[0]), label(first[1]));
  // Anonymous: no caller hash, no other handle.
  assert.ok(!html.includes(alice) && !html.includes(alice.slice(0, 10)));
  assert.ok(!html.includes("someone_else"));

  const older = /<a href="([^"]+)" rel="next">Older calls<\/a>/.exec(html)?.[1];
  assert.ok(older, "an Older calls link");
  assert.match(older!, /^\/me\?before=[^"#]+#recent-calls$/);
  const html2 = await (await dana.request(older!.replaceAll("&amp;", "&")))
    .text();
  const second = historyRows(html2);
  assert.equal(second.length, 5);
  assert.ok(times(second)[0] < t1.at(-1)!, "older than the first page");
  assert.ok(!/Older calls/.test(html2), "the last page");
  assert.match(html2, /href="\/me#recent-calls">Newest calls/);

  // A broken cursor shows the newest calls.
  const broken = await (await dana.request("/me?before=%21%21")).text();
  assert.equal(historyRows(broken).length, 20);

  // Another owner sees only their own (empty) history.
  const erin = await owner(app, "erin_hist");
  const theirs = await (await erin.request("/me")).text();
  assert.equal(historyRows(theirs).length, 0);
  assert.match(theirs, /No calls yet/);
});
