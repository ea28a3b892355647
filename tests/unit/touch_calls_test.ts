/**
 * touchCalls: a heartbeat tick's signs of life in batches. It must write
 * exactly what one touchCall per side would, and nothing for a socket that no
 * longer speaks for its side, an ended call or one past its deadline.
 */
import assert from "node:assert/strict";
import {
  acceptCall,
  type CallRecord,
  createCall,
  endCall,
  getCall,
  touchCall,
  touchCalls,
  updateCall,
} from "@/lib/store/calls.ts";
import { markOnlineMany, onlineDevices } from "@/lib/store/presence.ts";
import { withKv } from "../_helpers/kv.ts";

const S = 1000;
const BASE = Date.UTC(2030, 4, 20, 10, 0, 0);
const TIMERS = { ringMs: 60 * S, silentMs: 45 * S, graceMs: 60 * S };

async function answered(kv: Deno.Kv, at = BASE): Promise<string> {
  const callId = crypto.randomUUID();
  assert.ok(
    await createCall(kv, {
      callId,
      state: "ringing",
      calleeHandle: "bob",
      callerHash: "c".repeat(64),
      calleeHash: "e".repeat(64),
      createdAt: at,
      callerResume: "r".repeat(64),
      callerConn: `caller-${callId}`,
    }, TIMERS),
  );
  assert.ok(
    await acceptCall(kv, callId, "dev", "q".repeat(64), `callee-${callId}`, at),
  );
  return callId;
}

const both = (id: string) => [
  { callId: id, side: "caller" as const, conn: `caller-${id}` },
  { callId: id, side: "callee" as const, conn: `callee-${id}` },
];

Deno.test("touchCalls: both sides of 25 calls written as 25 single touches would, in one batch call", () =>
  withKv(async (kv) => {
    const ids: string[] = [];
    for (let i = 0; i < 25; i++) ids.push(await answered(kv));
    const twin = await answered(kv); // touched one side at a time, to compare
    const at = BASE + 20 * S;
    const out = await touchCalls(kv, ids.flatMap(both), at);
    assert.equal(out.size, 50);
    await touchCall(kv, twin, "caller", `caller-${twin}`, at);
    const ref = (await touchCall(kv, twin, "callee", `callee-${twin}`, at))!;
    for (const id of ids) {
      const rec = (await getCall(kv, id))!;
      assert.equal(rec.callerSeen, at);
      assert.equal(rec.calleeSeen, at);
      assert.equal(rec.due, ref.due, "the same deadline as one at a time");
      assert.deepEqual(out.get(`${id}:caller`), rec);
      assert.deepEqual(out.get(`${id}:callee`), rec);
    }
  }));

Deno.test("touchCalls: a socket that no longer speaks for its side, an ended call and one past its deadline are not revived", () =>
  withKv(async (kv) => {
    const resumed = await answered(kv);
    // The caller resumed on another socket: the old one's tick is stale.
    await updateCall(kv, resumed, () => ({ callerConn: "elsewhere" }), BASE);
    const ended = await answered(kv);
    await endCall(kv, ended, "answered", ["answered"], 86_400_000);
    const late = await answered(kv);
    const fine = await answered(kv);
    const at = BASE + 10 * S;
    // `late`'s callee fell silent long ago (its isolate died): past its
    // deadline at the tick's time, so the caller's tick must not revive it.
    const out = await touchCalls(kv, [
      ...both(resumed),
      ...both(ended),
      { callId: late, side: "caller", conn: `caller-${late}` },
      ...both(fine),
      { callId: crypto.randomUUID(), side: "caller", conn: "nobody" },
    ], at);
    const lateOut = await touchCalls(kv, [
      { callId: late, side: "caller", conn: `caller-${late}` },
    ], BASE + 10 * 60 * S);
    assert.equal(lateOut.get(`${late}:caller`), null, "past its deadline");
    assert.equal(out.get(`${resumed}:caller`), null, "stale socket");
    assert.equal(out.get(`${resumed}:callee`)?.calleeSeen, at);
    assert.equal((await getCall(kv, resumed))?.callerSeen, BASE);
    assert.equal(out.get(`${ended}:caller`), null);
    assert.equal(out.get(`${ended}:callee`), null);
    assert.equal((await getCall(kv, ended))?.state, "ended");
    assert.equal(out.get(`${fine}:callee`)?.callerSeen, at);
    assert.equal((await getCall(kv, late))?.callerSeen, at);
  }));

Deno.test("touchCalls: a record changed between the read and the write falls back to one touch at a time and loses nothing", () =>
  withKv(async (kv) => {
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(await answered(kv));
    // Every getMany is followed, before the commit, by a write to one of the
    // records (a relay report from another isolate): the batch's check fails.
    const realGetMany = kv.getMany.bind(kv);
    let raced = 0;
    (kv as { getMany: unknown }).getMany = async (k: Deno.KvKey[]) => {
      const got = await realGetMany(k);
      if (raced++ === 0) {
        await updateCall(kv, ids[3], () => ({ relayed: true }), BASE);
      }
      return got;
    };
    const at = BASE + 5 * S;
    const out = await touchCalls(kv, ids.flatMap(both), at);
    assert.equal(raced, 1, "one batch");
    for (const id of ids) {
      const rec = (await getCall(kv, id)) as CallRecord;
      assert.equal(rec.callerSeen, at, id);
      assert.equal(rec.calleeSeen, at, id);
      assert.equal(out.get(`${id}:callee`)?.calleeSeen, at);
    }
    assert.equal((await getCall(kv, ids[3]))?.relayed, true, "kept the report");
  }));

Deno.test("markOnlineMany: 250 devices online in three atomic steps, each as markOnline would", () =>
  withKv(async (kv) => {
    const devs = Array.from({ length: 250 }, (_, i) => ({
      handle: `h${i % 5}`,
      deviceId: crypto.randomUUID(),
      whenBusy: i % 2 ? "ring" as const : "busy" as const,
    }));
    await markOnlineMany(kv, devs);
    for (let h = 0; h < 5; h++) {
      const online = await onlineDevices(kv, `h${h}`);
      assert.equal(online.length, 50);
      assert.equal(online.filter((d) => d.whenBusy === "ring").length, 25);
    }
  }));
