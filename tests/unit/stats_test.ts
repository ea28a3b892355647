import assert from "node:assert/strict";
import {
  acceptCall,
  type CallDecision,
  type CallLogRecord,
  createCall,
  endCall,
  getCallLog,
  updateCall,
} from "@/lib/store/calls.ts";
import {
  addVoicemailStats,
  changeDecision,
  DECISIONS,
  durationBucket,
  medianBucket,
  readStats,
  removeVoicemailStats,
  statsKeys,
  utcDay,
} from "@/lib/store/stats.ts";
import { callerLabel, readHistory } from "@/lib/store/history.ts";
import { callLogCsv, csvField, csvRow } from "@/lib/ops/csv.ts";
import { listCallLog } from "@/lib/ops/calllog.ts";
import { niceMax, stackedBars } from "@/lib/ops/chart.ts";
import { withKv } from "../_helpers/kv.ts";

const DAY = 86_400_000;
const RETAIN = 90 * DAY;

/** Runs one call through the real store functions and returns its log. */
async function runCall(
  kv: Deno.Kv,
  c: {
    decision: CallDecision;
    startedAt: number;
    durationMs?: number;
    relayed?: boolean;
    callerHash?: string;
    calleeHash?: string;
  },
): Promise<CallLogRecord> {
  const callId = crypto.randomUUID();
  assert.ok(
    await createCall(kv, {
      callId,
      state: "ringing",
      calleeHandle: "h",
      callerHash: c.callerHash ?? "c".repeat(64),
      calleeHash: c.calleeHash ?? "e".repeat(64),
      createdAt: c.startedAt,
      callerResume: "r",
      callerConn: "conn",
    }),
  );
  let end = c.startedAt + 3000;
  if (c.decision === "answered") {
    assert.ok(await acceptCall(kv, callId, "dev", "r2", "conn2", end));
    if (c.relayed) await updateCall(kv, callId, () => ({ relayed: true }));
    end += c.durationMs ?? 0;
  }
  const ended = await endCall(
    kv,
    callId,
    c.decision,
    ["ringing", "answered"],
    RETAIN,
    end,
  );
  assert.ok(ended);
  return (await getCallLog(kv, callId))!;
}

Deno.test("stats: counters after a run of calls equal what the log says", () =>
  withKv(async (kv) => {
    const now = Date.UTC(2030, 4, 20, 12, 0, 0);
    const decisions: CallDecision[] = [
      "answered",
      "declined",
      "missed",
      "cancelled",
      "unavailable",
      "busy",
    ];
    // 56 calls over the last 10 days, some an hour before midnight UTC.
    for (let i = 0; i < 56; i++) {
      const decision = decisions[(i * 7) % 6 === 0 ? 0 : i % 6];
      await runCall(kv, {
        decision,
        startedAt: now - (i % 10) * DAY - (i % 3) * 11 * 3600_000,
        durationMs: (i * 37_000) % 4_000_000,
        relayed: i % 4 === 0,
      });
    }
    const stats = await readStats(kv, { days: 14, now });

    // Recount from the log itself.
    const logs: CallLogRecord[] = [];
    for await (const e of kv.list<CallLogRecord>({ prefix: ["call_log"] })) {
      logs.push(e.value);
    }
    assert.equal(logs.length, 56);
    const first = utcDay(now - 13 * DAY);
    for (const d of stats.days) {
      const those = logs.filter((l) => utcDay(l.startedAt) === d.day);
      assert.equal(d.total, those.length, `${d.day} total`);
      for (const k of DECISIONS) {
        assert.equal(
          d.decisions[k],
          those.filter((l) => l.decision === k).length,
          `${d.day} ${k}`,
        );
      }
      assert.equal(
        d.relayed,
        those.filter((l) => l.decision === "answered" && l.relayed).length,
      );
    }
    assert.equal(stats.days.length, 14);
    assert.equal(stats.days[0].day, first);
    assert.equal(stats.days.at(-1)!.day, utcDay(now));
    const inWindow = logs.filter((l) => utcDay(l.startedAt) >= first);
    const answered = inWindow.filter((l) => l.decision === "answered");
    assert.equal(stats.window.total, inWindow.length);
    assert.equal(stats.window.answerRate, answered.length / inWindow.length);
    assert.equal(
      stats.window.relayedShare,
      answered.filter((l) => l.relayed).length / answered.length,
    );
    assert.equal(stats.allTime.total, 56);
    // The histogram holds every answered call, each in its bucket.
    const allAnswered = logs.filter((l) => l.decision === "answered");
    assert.equal(stats.duration.count, allAnswered.length);
    for (const b of stats.duration.buckets) {
      assert.equal(
        b.count,
        allAnswered.filter((l) =>
          durationBucket(l.durationMs) === b.fromSeconds
        )
          .length,
        `bucket ${b.fromSeconds}`,
      );
    }
    // The median bucket holds the median of the true durations.
    const sorted = allAnswered.map((l) => l.durationMs).sort((a, b) => a - b);
    const med = sorted[Math.ceil(sorted.length / 2) - 1] / 1000;
    const m = stats.duration.median!;
    assert.ok(
      med >= m.fromSeconds && (m.toSeconds === null || med < m.toSeconds),
    );
  }));

Deno.test("stats: duration buckets and the bucketed median", () => {
  assert.equal(durationBucket(0), 0);
  assert.equal(durationBucket(4_999), 0);
  assert.equal(durationBucket(5_000), 5);
  assert.equal(durationBucket(59_000), 30);
  assert.equal(durationBucket(3_599_999), 1800);
  assert.equal(durationBucket(10 * 3600_000), 3600);
  const b = (from: number, to: number | null, count: number) => ({
    fromSeconds: from,
    toSeconds: to,
    count,
  });
  assert.equal(medianBucket([b(0, 5, 0), b(5, 15, 0)]), null);
  // 3 short, 1 medium, 3 long: the 4th of 7 is the medium one.
  assert.deepEqual(
    medianBucket([b(0, 5, 3), b(5, 15, 1), b(15, 30, 0), b(3600, null, 3)]),
    { fromSeconds: 5, toSeconds: 15 },
  );
  // Even count: the lower median.
  assert.deepEqual(medianBucket([b(0, 5, 2), b(3600, null, 2)]), {
    fromSeconds: 0,
    toSeconds: 5,
  });
  assert.deepEqual(medianBucket([b(0, 5, 1), b(3600, null, 5)]), {
    fromSeconds: 3600,
    toSeconds: null,
  });
});

Deno.test("stats: a decision change moves one count to voicemail", () =>
  withKv(async (kv) => {
    const now = Date.UTC(2030, 0, 2, 10);
    const missed = await runCall(kv, { decision: "missed", startedAt: now });
    const answered = await runCall(kv, {
      decision: "answered",
      startedAt: now,
      durationMs: 42_000,
      relayed: true,
    });
    let s = await readStats(kv, { days: 1, now });
    assert.equal(s.window.decisions.missed, 1);
    assert.equal(s.window.relayed, 1);
    await changeDecision(kv.atomic(), missed, "voicemail").commit();
    s = await readStats(kv, { days: 1, now });
    assert.equal(s.window.decisions.missed, 0);
    assert.equal(s.window.decisions.voicemail, 1);
    assert.equal(s.window.total, 2);
    assert.equal(s.allTime.decisions.missed, 0);
    assert.equal(s.allTime.decisions.voicemail, 1);
    // The counter went back to exactly zero, not to 2^64 − 1.
    const raw = await kv.get<Deno.KvU64>(
      statsKeys.calls(utcDay(now), "missed"),
    );
    assert.equal(raw.value?.value, 0n);
    // Changing an answered call also takes it out of the histogram and TURN.
    await changeDecision(kv.atomic(), answered, "voicemail").commit();
    s = await readStats(kv, { days: 1, now });
    assert.equal(s.window.decisions.voicemail, 2);
    assert.equal(s.window.decisions.answered, 0);
    assert.equal(s.window.relayed, 0);
    assert.equal(s.duration.count, 0);
    assert.equal(s.allTime.relayed, 0);
    // Already voicemail: nothing changes.
    await changeDecision(
      kv.atomic(),
      { ...missed, decision: "voicemail" as CallDecision },
      "voicemail",
    ).commit();
    s = await readStats(kv, { days: 1, now });
    assert.equal(s.window.decisions.voicemail, 2);
  }));

Deno.test("stats: voicemail count and bytes go up and down", () =>
  withKv(async (kv) => {
    await addVoicemailStats(kv.atomic(), 1000).commit();
    await addVoicemailStats(kv.atomic(), 2500).commit();
    let s = await readStats(kv, { days: 1 });
    assert.deepEqual(s.voicemails, { count: 2, bytes: 3500 });
    await removeVoicemailStats(kv.atomic(), 1000).commit();
    s = await readStats(kv, { days: 1 });
    assert.deepEqual(s.voicemails, { count: 1, bytes: 2500 });
    await removeVoicemailStats(kv.atomic(), 2500).commit();
    s = await readStats(kv, { days: 1 });
    assert.deepEqual(s.voicemails, { count: 0, bytes: 0 });
  }));

Deno.test("stats: an empty store reads as zeros", () =>
  withKv(async (kv) => {
    const s = await readStats(kv, { days: 14 });
    assert.equal(s.days.length, 14);
    assert.equal(s.window.total, 0);
    assert.equal(s.window.answerRate, null);
    assert.equal(s.window.relayedShare, null);
    assert.equal(s.duration.median, null);
    assert.deepEqual(s.voicemails, { count: 0, bytes: 0 });
  }));

Deno.test("history: newest first, paged by cursor, only this callee's", () =>
  withKv(async (kv) => {
    const t0 = Date.UTC(2030, 0, 1);
    const mine = "a".repeat(64), theirs = "b".repeat(64);
    for (let i = 0; i < 25; i++) {
      await runCall(kv, {
        decision: "missed",
        startedAt: t0 + i * 60_000,
        calleeHash: mine,
      });
    }
    await runCall(kv, {
      decision: "missed",
      startedAt: t0,
      calleeHash: theirs,
    });
    const p1 = await readHistory(kv, mine, { limit: 10 });
    assert.equal(p1.entries.length, 10);
    assert.equal(p1.entries[0].startedAt, t0 + 24 * 60_000);
    assert.ok(p1.cursor);
    const p2 = await readHistory(kv, mine, { limit: 10, cursor: p1.cursor });
    const p3 = await readHistory(kv, mine, { limit: 10, cursor: p2.cursor });
    assert.equal(p3.entries.length, 5);
    assert.equal(p3.cursor, null);
    const all = [...p1.entries, ...p2.entries, ...p3.entries];
    assert.equal(new Set(all.map((e) => e.callId)).size, 25);
    for (let i = 1; i < all.length; i++) {
      assert.ok(all[i - 1].startedAt > all[i].startedAt);
    }
    // Exactly a full last page: no cursor to an empty page.
    const exact = await readHistory(kv, mine, { limit: 25 });
    assert.equal(exact.entries.length, 25);
    assert.equal(exact.cursor, null);
    await assert.rejects(() =>
      readHistory(kv, mine, { cursor: "not a cursor!" })
    );
  }));

Deno.test("history: caller labels are short, stable and differ by caller", () => {
  const a = "3f9a" + "0".repeat(60), b = "3f9b" + "1".repeat(60);
  assert.match(
    callerLabel(a),
    /^Caller [0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{2}$/,
  );
  assert.equal(callerLabel(a), callerLabel(a));
  assert.notEqual(callerLabel(a), callerLabel(b));
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    seen.add(callerLabel(crypto.randomUUID().replaceAll("-", "")));
  }
  assert.ok(seen.size >= 999, "labels rarely collide");
});

Deno.test("ops: CSV fields follow RFC 4180 and defuse formulas", () => {
  assert.equal(csvField("plain"), "plain");
  assert.equal(csvField('say "hi"'), '"say ""hi"""');
  assert.equal(csvField("a,b"), '"a,b"');
  assert.equal(csvField("two\nlines"), '"two\nlines"');
  assert.equal(csvField("=SUM(A1)"), "'=SUM(A1)");
  assert.equal(csvField("-1+2,"), `"'-1+2,"`);
  assert.equal(csvField(-3), "-3");
  assert.equal(csvField(true), "true");
  assert.equal(csvRow(["a", 1, "b,c"]), 'a,1,"b,c"\r\n');
});

Deno.test("ops: log pages cover every record once; the filter bounds its scan", () =>
  withKv(async (kv) => {
    const t0 = Date.UTC(2030, 0, 1);
    for (let i = 0; i < 30; i++) {
      await runCall(kv, {
        decision: i % 3 === 0 ? "busy" : "missed",
        startedAt: t0 + i,
      });
    }
    const ids = new Set<string>();
    let cursor: string | null = null;
    let pages = 0;
    do {
      const p = await listCallLog(kv, { cursor, limit: 7 });
      for (const r of p.rows) ids.add(r.ref);
      cursor = p.cursor;
      pages++;
    } while (cursor);
    assert.equal(ids.size, 30);
    assert.equal(pages, 5);
    const busy = await listCallLog(kv, { decision: "busy", limit: 50 });
    assert.equal(busy.rows.length, 10);
    assert.ok(busy.rows.every((r) => r.decision === "busy"));
    assert.equal(busy.cursor, null);
    // A small scan budget stops early but leaves a cursor to go on.
    const part = await listCallLog(kv, {
      decision: "busy",
      limit: 50,
      maxScan: 5,
    });
    assert.equal(part.scanned, 5);
    assert.ok(part.cursor);
    const rest = await listCallLog(kv, {
      decision: "busy",
      limit: 50,
      cursor: part.cursor,
    });
    assert.equal(part.rows.length + rest.rows.length, 10);
    assert.ok(busy.rows.every((r) => r.caller.length === 10));
  }));

Deno.test("ops: chart geometry stacks each day's outcomes to its total", () => {
  assert.equal(niceMax(0), 1);
  assert.equal(niceMax(7), 10);
  assert.equal(niceMax(13), 20);
  assert.equal(niceMax(200), 200);
  const decisions = Object.fromEntries(DECISIONS.map((d) => [d, 0])) as Record<
    (typeof DECISIONS)[number],
    number
  >;
  const chart = stackedBars([
    { day: "2030-01-01", total: 0, relayed: 0, decisions: { ...decisions } },
    {
      day: "2030-01-02",
      total: 10,
      relayed: 0,
      decisions: { ...decisions, answered: 6, missed: 4 },
    },
  ]);
  assert.equal(chart.max, 10);
  assert.equal(chart.bars[0].segments.length, 0);
  const [a, m] = chart.bars[1].segments;
  assert.equal(a.decision, "answered");
  const plot = chart.plotBottom - chart.plotTop;
  assert.ok(Math.abs(a.height + m.height - plot) < 0.2);
  assert.ok(Math.abs(m.y - chart.plotTop) < 0.2, "stacked to the top");
});

Deno.test("ops: the CSV stream stops at its row cap", () =>
  withKv(async (kv) => {
    for (let i = 0; i < 12; i++) {
      await runCall(kv, { decision: i % 2 ? "busy" : "missed", startedAt: i });
    }
    const text = await new Response(callLogCsv(kv, { maxRows: 5 })).text();
    const lines = text.split("\r\n");
    assert.equal(lines.pop(), "", "ends with CRLF");
    assert.equal(lines.length, 6, "header and 5 rows");
    const busy = await new Response(callLogCsv(kv, { decision: "busy" }))
      .text();
    assert.equal(busy.split("\r\n").length - 2, 6);
  }));
