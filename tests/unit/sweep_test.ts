/**
 * The sweep (signaling/sweep.ts) over a real KV file: calls whose deadlines
 * passed with no isolate there to act end exactly once, logged and counted,
 * however many sweepers race; a sweep reads only what is due; and nothing a
 * call leaves in KV lives forever.
 */
import assert from "node:assert/strict";
import {
  acceptCall,
  type CallLogRecord,
  type CallRecord,
  createCall,
  getCall,
  getCallLog,
  inCall,
  loseSide,
  resumeSide,
  type RingingEntry,
  ringingFor,
  settleCall,
  type Settled,
  touchCall,
  updateCall,
} from "@/lib/store/calls.ts";
import { keys } from "@/lib/store/keys.ts";
import { retryWhenLocked } from "@/lib/store/locked_retry.ts";
import { readStats } from "@/lib/store/stats.ts";
import { setLogSink } from "@/lib/log.ts";
import { Sweeper } from "@/signaling/sweep.ts";
import { withKv } from "../_helpers/kv.ts";
import { keysWithExpiry } from "../_helpers/kv_expiry.ts";

const S = 1000;
const RETAIN = 90 * 86_400_000;
/** The clock the calls run on (passed explicitly everywhere). */
const BASE = Date.UTC(2030, 4, 20, 10, 0, 0);
const TIMERS = { ringMs: 60 * S, silentMs: 45 * S, graceMs: 60 * S };

/** Creates a ringing call for `handle` at `at` through the real store. */
async function ring(
  kv: Deno.Kv,
  handle: string,
  at: number,
  timers: Partial<typeof TIMERS> = {},
): Promise<string> {
  const callId = crypto.randomUUID();
  const ok = await createCall(kv, {
    callId,
    state: "ringing",
    calleeHandle: handle,
    callerHash: "c".repeat(64),
    calleeHash: `${handle}`.padEnd(64, "e"),
    createdAt: at,
    callerResume: "r".repeat(64),
    callerConn: `caller-${callId}`,
  }, { ...TIMERS, ...timers });
  assert.ok(ok, "call created");
  return callId;
}

/** Answers a ringing call at `at` on the callee connection `callee-<id>`. */
async function answer(
  kv: Deno.Kv,
  callId: string,
  at: number,
): Promise<CallRecord> {
  const rec = await acceptCall(
    kv,
    callId,
    "dev",
    "q".repeat(64),
    `callee-${callId}`,
    at,
  );
  assert.ok(rec, "call answered");
  return rec;
}

/** Runs `fn` over `items`, `width` at a time. */
async function inParallel<T>(
  items: T[],
  width: number,
  fn: (item: T, i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  }));
}

async function listAll<T>(
  kv: Deno.Kv,
  prefix: Deno.KvKey,
): Promise<Deno.KvEntry<T>[]> {
  const out: Deno.KvEntry<T>[] = [];
  for await (const e of kv.list<T>({ prefix })) out.push(e);
  return out;
}

/** A sweeper whose settle is the store's settleCall, counting what it did. */
function countingSweeper(kv: Deno.Kv, batch?: number) {
  const counts = { ended: 0, live: 0, gone: 0, calls: 0 };
  const results: { callId: string; settled: Settled }[] = [];
  const sweeper = new Sweeper({
    kv,
    intervalMs: 60_000,
    batch,
    settle: async (callId, now) => {
      counts.calls++;
      const settled = await settleCall(kv, callId, RETAIN, now);
      counts[settled.kind]++;
      results.push({ callId, settled });
      return settled.kind;
    },
  });
  return { sweeper, counts, results };
}

/** Quiets the sweep's log lines for the duration of `fn`. */
async function quiet<T>(fn: () => Promise<T>): Promise<T> {
  const prev = setLogSink(() => {});
  try {
    return await fn();
  } finally {
    setLogSink(prev);
  }
}

type Kind = "missed" | "cancelled" | "answered";

Deno.test("sweep: two sweepers racing over 1000 due calls end each once", () =>
  quiet(() =>
    withKv(async (kv, path) => {
      const N = 1000;
      const kinds: Kind[] = Array.from(
        { length: N },
        (_, i) => (["missed", "cancelled", "answered"] as const)[i % 3],
      );
      const ids: string[] = new Array(N);
      const relayed = new Set<string>();
      await inParallel(kinds, 32, async (kind, i) => {
        const at = BASE + i;
        const handle = `callee_${i}`;
        if (kind === "missed") {
          // Nobody answers: missed at at+60 s.
          ids[i] = await ring(kv, handle, at);
        } else if (kind === "cancelled") {
          // The caller's socket closes 1 s in and it never resumes: with a
          // 10 s grace, cancelled at at+11 s, long before the ring ends.
          const id = ids[i] = await ring(kv, handle, at, { graceMs: 10 * S });
          assert.ok(await loseSide(kv, id, "caller", `caller-${id}`, at + S));
        } else {
          // Answered at +2 s; the callee's isolate last refreshed at +30 s
          // and then died; the caller's refreshed until +100 s.
          const id = ids[i] = await ring(kv, handle, at);
          await answer(kv, id, at + 2 * S);
          assert.ok(
            await touchCall(kv, id, "callee", `callee-${id}`, at + 30 * S),
          );
          assert.ok(
            await touchCall(kv, id, "caller", `caller-${id}`, at + 100 * S),
          );
          if (i % 2 === 0) {
            relayed.add(id);
            await updateCall(kv, id, () => ({ relayed: true }), at + 100 * S);
          }
        }
      });
      const expected = (k: Kind) => kinds.filter((x) => x === k).length;
      assert.equal((await listAll(kv, ["call_due"])).length, N);
      assert.equal(
        (await listAll(kv, ["ringing"])).length,
        expected("missed") + expected("cancelled"),
      );

      // Two isolates' sweeps, each on its own handle to the same KV file,
      // wrapped as the app opens its KV (lib/store/kv.ts): a shared SQLite
      // file can answer "database is locked" to a write, which is retried.
      const raw1 = await Deno.openKv(path);
      const raw2 = await Deno.openKv(path);
      try {
        const a = countingSweeper(retryWhenLocked(raw1), 100);
        const b = countingSweeper(retryWhenLocked(raw2), 100);
        const now = BASE + 10 * 60 * S;
        const [ra, rb] = await Promise.all([
          a.sweeper.sweep(now),
          b.sweeper.sweep(now),
        ]);
        assert.ok(ra.looked > 0 && rb.looked > 0, "both sweepers looked");
        let ended = ra.ended + rb.ended;
        // A call whose settle failed (a lock timeout) stays due for the next
        // tick, as on a timer: sweep again until nothing is left.
        for (let tick = 0; tick < 5; tick++) {
          const [xa, xb] = await Promise.all([
            a.sweeper.sweep(now),
            b.sweeper.sweep(now),
          ]);
          ended += xa.ended + xb.ended;
          if (xa.looked + xb.looked === 0) break;
        }
        assert.equal(ended, N, "every call ended once in all");
        assert.equal(a.counts.ended + b.counts.ended, N);
        const endedBy = new Set(
          [...a.results, ...b.results]
            .filter((r) => r.settled.kind === "ended")
            .map((r) => r.callId),
        );
        assert.equal(endedBy.size, N, "no call ended twice");
        assert.deepEqual(
          new Set(endedBy),
          new Set(ids),
          "the calls ended are the calls created",
        );
      } finally {
        raw1.close();
        raw2.close();
      }

      const logs = await listAll<CallLogRecord>(kv, ["call_log"]);
      assert.equal(logs.length, N, "exactly one log record per call");
      const byId = new Map(logs.map((e) => [e.value.callId, e.value]));
      for (let i = 0; i < N; i++) {
        const log = byId.get(ids[i]);
        assert.ok(log, `call ${i} logged`);
        assert.equal(log.decision, kinds[i], `call ${i} decision`);
        assert.equal(log.startedAt, BASE + i);
        // An answered call lasts until the callee's last sign of life.
        assert.equal(log.durationMs, kinds[i] === "answered" ? 28 * S : 0);
        assert.equal(log.relayed, relayed.has(ids[i]));
        const rec = await getCall(kv, ids[i]);
        assert.equal(rec?.state, "ended");
      }

      const stats = await readStats(kv, { days: 1, now: BASE });
      assert.equal(stats.allTime.total, N);
      assert.equal(stats.window.total, N);
      for (const k of ["missed", "cancelled", "answered"] as const) {
        assert.equal(stats.allTime.decisions[k], expected(k), k);
        assert.equal(stats.window.decisions[k], expected(k), `${k} today`);
      }
      for (
        const k of ["declined", "unavailable", "busy", "voicemail"] as const
      ) {
        assert.equal(stats.allTime.decisions[k], 0, k);
      }
      assert.equal(stats.allTime.relayed, relayed.size);
      assert.equal(stats.duration.count, expected("answered"));
      assert.equal(
        stats.duration.buckets.find((b) => b.fromSeconds === 15)?.count,
        expected("answered"),
        "every answered call in the 15–30 s bucket",
      );

      assert.deepEqual(await listAll(kv, ["call_due"]), [], "index empty");
      assert.deepEqual(await listAll(kv, ["ringing"]), [], "nothing rings");
      assert.deepEqual(await listAll(kv, ["in_call"]), [], "nobody busy");
    })
  ));

Deno.test("sweep: a sweep reads only what is due", () =>
  quiet(() =>
    withKv(async (kv) => {
      const live: string[] = [];
      const liveIndex = Array.from({ length: 2000 }, (_, i) => i);
      await inParallel(liveIndex, 32, async (i) => {
        const id = await ring(kv, `live_${i}`, BASE);
        if (i % 2 === 1) await answer(kv, id, BASE + S);
        live.push(id);
      });
      const due: string[] = [];
      for (let i = 0; i < 20; i++) {
        due.push(await ring(kv, `due_${i}`, BASE - 120 * S));
      }

      const { sweeper, counts } = countingSweeper(kv);
      const r = await sweeper.sweep(BASE + 2 * S);
      assert.equal(r.looked, 20);
      assert.equal(r.ended, 20);
      assert.equal(counts.calls, 20, "only the due calls were settled");

      for (const id of due) {
        assert.equal((await getCallLog(kv, id))?.decision, "missed");
      }
      for (const id of live) assert.equal(await getCallLog(kv, id), null);
      const indexed = await listAll<string>(kv, ["call_due"]);
      assert.deepEqual(
        indexed.map((e) => e.key[2] as string).sort(),
        [...live].sort(),
        "every live call still indexed, and only those",
      );
      const ringing = await listAll<RingingEntry>(kv, ["ringing"]);
      assert.equal(ringing.length, 1000, "the live ringing calls still ring");
      for (const id of live) {
        const rec = await getCall(kv, id);
        assert.ok(rec && rec.state !== "ended");
      }

      // Nothing more is due a moment later: the next sweep reads nothing.
      const again = await sweeper.sweep(BASE + 3 * S);
      assert.deepEqual(again, { looked: 0, ended: 0 });
    })
  ));

Deno.test("sweep: a refreshed side is re-indexed, not ended", () =>
  quiet(() =>
    withKv(async (kv) => {
      const id = await ring(kv, "bob_refresh", BASE);
      await answer(kv, id, BASE + S);
      // Caller last seen at BASE: indexed at BASE+105 s.
      const first = BASE + 105 * S;
      assert.equal((await getCall(kv, id))?.due, first);
      assert.ok(
        await touchCall(kv, id, "caller", `caller-${id}`, BASE + 100 * S),
      );
      assert.ok(
        await touchCall(kv, id, "callee", `callee-${id}`, BASE + 100 * S),
      );
      // The refresh leaves the index where it was (never later than real).
      const before = await listAll<string>(kv, ["call_due"]);
      assert.deepEqual(before.map((e) => e.key), [keys.callDue(first, id)]);

      const { sweeper, results } = countingSweeper(kv);
      const r = await sweeper.sweep(BASE + 150 * S);
      assert.deepEqual(r, { looked: 1, ended: 0 });
      const real = BASE + 205 * S;
      assert.deepEqual(results.map((x) => x.settled), [
        { kind: "live", due: real },
      ]);
      assert.equal(await getCallLog(kv, id), null, "not ended");
      const after = await listAll<string>(kv, ["call_due"]);
      assert.deepEqual(after.map((e) => [e.key, e.value]), [
        [keys.callDue(real, id), "answered"],
      ]);
      assert.equal((await getCall(kv, id))?.due, real);
      assert.equal(await inCall(kv, "bob_refresh", BASE + 150 * S), true);

      // Still live just before the new deadline; ended at it, up to the
      // last sign of life.
      assert.deepEqual(await sweeper.sweep(real - 1), { looked: 0, ended: 0 });
      assert.deepEqual(await sweeper.sweep(real), { looked: 1, ended: 1 });
      const log = await getCallLog(kv, id);
      assert.equal(log?.decision, "answered");
      assert.equal(log?.durationMs, 99 * S);
    })
  ));

/** A KV file in a temp folder that the test opens and closes itself. */
async function withKvFile(fn: (path: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "reach-kv-" });
  try {
    await fn(`${dir}/kv.sqlite3`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs `fn` on the KV at `path`, then closes it so the file is complete. */
async function onKv<T>(path: string, fn: (kv: Deno.Kv) => Promise<T>) {
  const kv = await Deno.openKv(path);
  try {
    return await fn(kv);
  } finally {
    kv.close();
  }
}

Deno.test("sweep: nothing an anonymous caller creates lives forever", () =>
  quiet(() =>
    withKvFile(async (path) => {
      const t0 = Date.now();
      const rows = () =>
        keysWithExpiry(path).map((r) => ({
          key: r.key.map(String),
          expiresAt: r.expiresAt,
        }));
      // Per-call keys expire within the record lifetime (6 h) of now.
      const bound = t0 + 6 * 3600_000 + 5 * 60_000;

      const id = await onKv(path, (kv) => ring(kv, "bob_anon", t0));
      const created = rows();
      assert.deepEqual(
        created.map((r) => r.key[0]).sort(),
        ["call", "call_due", "ringing"],
      );
      for (const r of created) {
        assert.ok(r.expiresAt > t0, `${r.key.join("/")} expires`);
        assert.ok(r.expiresAt <= bound, `${r.key.join("/")} expires soon`);
      }
      const ringingRow = created.find((r) => r.key[0] === "ringing")!;
      assert.ok(
        ringingRow.expiresAt <= t0 + TIMERS.ringMs + 2 * 60_000,
        "the ringing entry expires shortly after the ring ends",
      );

      // Answered, then the caller's socket drops and it never resumes.
      await onKv(path, async (kv) => {
        await answer(kv, id, t0 + S);
        await loseSide(kv, id, "caller", `caller-${id}`, t0 + 2 * S);
      });
      for (const r of rows()) {
        assert.ok(r.expiresAt > t0, `${r.key.join("/")} expires`);
        assert.ok(r.expiresAt <= bound, `${r.key.join("/")} expires soon`);
      }

      const settled = await onKv(
        path,
        (kv) => settleCall(kv, id, RETAIN, t0 + 2 * S + TIMERS.graceMs),
      );
      assert.equal(settled.kind, "ended");
      const end = rows();
      // Only the dashboard's aggregate counters are lasting; the log expires
      // with the retention period.
      assert.deepEqual(
        end.filter((r) => r.expiresAt < 0 && r.key[0] !== "stats"),
        [],
      );
      for (const r of end.filter((r) => r.key[0].startsWith("call_log"))) {
        assert.ok(r.expiresAt <= Date.now() + RETAIN + 60_000);
      }
      assert.ok(end.some((r) => r.key[0] === "call_log"));
      assert.ok(
        !end.some((r) => ["call_due", "ringing", "in_call"].includes(r.key[0])),
      );
    })
  ));

Deno.test("sweep: busy means a live answered call", () =>
  withKv(async (kv) => {
    const handle = "bob_busy";
    const id = await ring(kv, handle, BASE);
    assert.equal(
      await inCall(kv, handle, BASE + S),
      false,
      "ringing is not busy",
    );
    await answer(kv, id, BASE + S);
    // Caller last seen at BASE, callee at BASE+1 s: the caller's deadline.
    const deadline = BASE + TIMERS.silentMs + TIMERS.graceMs;
    assert.equal(await inCall(kv, handle, BASE + 2 * S), true);
    assert.equal(await inCall(kv, handle, deadline - 1), true);
    assert.equal(
      await inCall(kv, handle, deadline),
      false,
      "not busy once a side is gone, though no sweep has ended it yet",
    );
    // Both sides refresh: busy past the old deadline.
    await touchCall(kv, id, "caller", `caller-${id}`, BASE + 60 * S);
    await touchCall(kv, id, "callee", `callee-${id}`, BASE + 60 * S);
    assert.equal(await inCall(kv, handle, deadline), true);
    const later = BASE + 60 * S + TIMERS.silentMs + TIMERS.graceMs;
    assert.equal(await inCall(kv, handle, later - 1), true);
    assert.equal(await inCall(kv, handle, later), false);
    // Once ended, never busy again, whatever the clock says.
    const r = await quiet(() => settleCall(kv, id, RETAIN, later));
    assert.equal(r.kind, "ended");
    assert.equal(await inCall(kv, handle, BASE + 2 * S), false);
  }));

Deno.test("sweep: a call whose caller is gone can be neither answered nor offered, though no sweep ended it", () =>
  withKv(async (kv) => {
    const handle = "bob_gone";
    // Rings for a minute, but the caller's grace is 10 s.
    const id = await ring(kv, handle, BASE, { graceMs: 10 * S });
    assert.equal((await ringingFor(kv, handle, BASE + S)).length, 1);
    await loseSide(kv, id, "caller", `caller-${id}`, BASE + S);
    const after = BASE + 20 * S; // past the grace, inside the ring time
    assert.deepEqual(await ringingFor(kv, handle, after), [], "not offered");
    assert.equal(
      await acceptCall(kv, id, "dev", "q".repeat(64), "callee-x", after),
      null,
      "not answered",
    );
    const r = await quiet(() => settleCall(kv, id, RETAIN, after));
    assert.equal(r.kind, "ended");
    assert.equal(
      (await kv.get<{ decision: string }>(keys.callLog(id))).value?.decision,
      "cancelled",
    );
  }));

Deno.test("sweep: the busy marker lives as long as the answered call, renewed by each sign of life", () =>
  quiet(() =>
    withKvFile(async (path) => {
      const t0 = Date.now();
      const id = await onKv(path, async (kv) => {
        const id = await ring(kv, "bob_long", t0);
        await answer(kv, id, t0);
        return id;
      });
      const marker = () =>
        keysWithExpiry(path).find((r) => r.key[0] === "in_call")!;
      const first = marker();
      assert.ok(first, "answered: busy marker written");
      // A sign of life later: the marker is renewed with the record, so a
      // call longer than the record lifetime keeps the handle busy.
      const t1 = Date.now();
      while (Date.now() === t1) await onKv(path, (kv) => kv.get(["tick"]));
      await onKv(
        path,
        (kv) => touchCall(kv, id, "callee", `callee-${id}`, Date.now()),
      );
      assert.ok(
        marker().expiresAt > first.expiresAt,
        "renewed by the touch",
      );
    })
  ));

Deno.test("sweep: an accept is not lost to a heartbeat tick that rewrites the ringing call", () =>
  withKv(async (kv) => {
    let won = 0;
    for (let i = 0; i < 100; i++) {
      const id = await ring(kv, "bob_tick", BASE);
      // The caller's isolate refreshes its sign of life as the device accepts.
      const [rec] = await Promise.all([
        acceptCall(kv, id, "dev", "q".repeat(64), `callee-${id}`, BASE + S),
        touchCall(kv, id, "caller", `caller-${id}`, BASE + S),
      ]);
      if (rec?.state === "answered") won++;
    }
    assert.equal(won, 100, "every accept of a ringing call wins");
  }));

Deno.test("sweep: a resume after the deadline does not revive the call, though no sweep ended it", () =>
  withKv(async (kv) => {
    const id = await ring(kv, "bob_late", BASE);
    await answer(kv, id, BASE + S);
    await loseSide(kv, id, "caller", `caller-${id}`, BASE + 2 * S);
    const late = BASE + 2 * S + TIMERS.graceMs + S;
    assert.equal(
      await resumeSide(kv, id, "caller", "caller-again", late),
      null,
      "too late to resume",
    );
    assert.equal(await inCall(kv, "bob_late", late), false, "not busy");
    // In time, the same resume is taken.
    const id2 = await ring(kv, "bob_late", BASE);
    await answer(kv, id2, BASE + S);
    await loseSide(kv, id2, "caller", `caller-${id2}`, BASE + 2 * S);
    const back = await resumeSide(
      kv,
      id2,
      "caller",
      "caller-again",
      BASE + 2 * S + TIMERS.graceMs - 1,
    );
    assert.equal(back?.callerConn, "caller-again");
    assert.equal(back?.callerLostAt, undefined);
    const r = await quiet(() => settleCall(kv, id, RETAIN, late));
    assert.equal(r.kind, "ended");
  }));
