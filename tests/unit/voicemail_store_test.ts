/**
 * The voicemail store against a real KV file: chunking, the meta written last,
 * concurrent uploads, read marking, deletion, and the expiries the write path
 * passes (recorded by a pass-through wrapper, since KV cannot be asked for a
 * key's expiry).
 */
import assert from "node:assert/strict";
import { keys } from "@/lib/store/keys.ts";
import {
  CHUNK_BYTES,
  CHUNKS_PER_ATOMIC,
  deleteVoicemail,
  listVoicemails,
  markVoicemailRead,
  readVoicemail,
  storeVoicemail,
  type StoreVoicemailInput,
  UPLOAD_CLAIM_MS,
} from "@/lib/store/voicemail.ts";
import { withKv } from "../_helpers/kv.ts";

const DAY = 86400_000;
const RETENTION = 30 * DAY;
const LOG_RETENTION = 90 * DAY;

interface Recorded {
  commit: number;
  op: "set" | "delete";
  key: Deno.KvKey;
  value?: unknown;
  expireIn?: number;
}

/**
 * A Deno.Kv that forwards everything to the real one and records each
 * atomic's set/delete mutations, with the options they were given.
 */
function recording(
  kv: Deno.Kv,
  opts: { failCommitWhen?: (muts: Recorded[]) => boolean } = {},
) {
  const log: Recorded[] = [];
  let commits = 0;
  const wrap = (real: Deno.AtomicOperation): Deno.AtomicOperation => {
    const mine: Recorded[] = [];
    const proxy: Deno.AtomicOperation = new Proxy(real, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target);
        if (typeof v !== "function") return v;
        return (...args: unknown[]) => {
          if (prop === "set") {
            const o = args[2] as { expireIn?: number } | undefined;
            mine.push({
              commit: -1,
              op: "set",
              key: args[0] as Deno.KvKey,
              value: args[1],
              expireIn: o?.expireIn,
            });
          } else if (prop === "delete") {
            mine.push({ commit: -1, op: "delete", key: args[0] as Deno.KvKey });
          } else if (prop === "commit") {
            if (opts.failCommitWhen?.(mine)) {
              return Promise.reject(new Error("injected failure"));
            }
            const n = commits++;
            return (v.apply(target, args) as Promise<Deno.KvCommitResult>)
              .then((res) => {
                if (res.ok) {
                  for (const m of mine) log.push({ ...m, commit: n });
                }
                return res;
              });
          }
          const r = v.apply(target, args);
          return r === target ? proxy : r;
        };
      },
    });
    return proxy;
  };
  const wrapped = new Proxy(kv, {
    get(target, prop) {
      if (prop === "atomic") return () => wrap(target.atomic());
      const v = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  return { kv: wrapped, log };
}

function input(
  handle: string,
  callId: string,
  bytes: Uint8Array,
  sha256: string,
  callEndedAt = Date.now(),
): StoreVoicemailInput {
  return {
    handle,
    callId,
    bytes,
    sha256,
    retentionMs: RETENTION,
    callEndedAt,
    callLogRetentionMs: LOG_RETENTION,
  };
}

async function sha(bytes: Uint8Array) {
  return new Uint8Array(
    await crypto.subtle.digest("SHA-256", bytes as BufferSource),
  ).toHex();
}

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) {
    crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  }
  return out;
}

async function countChunks(kv: Deno.Kv, handle: string, callId: string) {
  let n = 0;
  for await (
    const _ of kv.list({ prefix: keys.voicemailChunkPrefix(handle, callId) })
  ) n++;
  return n;
}

async function seedLog(kv: Deno.Kv, callId: string, decision = "missed") {
  await kv.set(keys.callLog(callId), {
    callId,
    callerHash: "c".repeat(64),
    calleeHash: "d".repeat(64),
    startedAt: Date.now() - 60_000,
    durationMs: 0,
    decision,
    relayed: false,
  });
}

Deno.test("vm store: every chunk and the meta carry the retention expiry; the log keeps its own", () =>
  withKv(async (real) => {
    const { kv, log } = recording(real);
    const callId = crypto.randomUUID();
    await seedLog(real, callId);
    const bytes = randomBytes(CHUNK_BYTES * 12 + 100); // 13 chunks, 2 atomics
    const now = 1_700_000_000_000;
    const endedAt = now - 5 * 60_000;
    const res = await storeVoicemail(
      kv,
      input("amy", callId, bytes, await sha(bytes), endedAt),
      () => now,
    );
    assert.ok(res.ok && res.created);
    assert.equal(res.meta.chunks, 13);
    assert.equal(res.meta.createdAt, now);

    const chunkSets = log.filter((m) =>
      m.op === "set" && m.key[0] === "vm_chunk"
    );
    assert.equal(chunkSets.length, 13);
    for (const m of chunkSets) {
      assert.equal(m.expireIn, RETENTION, `chunk ${String(m.key[3])} expiry`);
      assert.ok((m.value as Uint8Array).length <= CHUNK_BYTES);
    }
    // Batched: no atomic carries more than CHUNKS_PER_ATOMIC chunks.
    const perCommit = new Map<number, number>();
    for (const m of chunkSets) {
      perCommit.set(m.commit, (perCommit.get(m.commit) ?? 0) + 1);
    }
    assert.deepEqual([...perCommit.values()], [CHUNKS_PER_ATOMIC, 3]);

    const metaSet = log.find((m) => m.op === "set" && m.key[0] === "vm");
    assert.ok(metaSet, "meta written");
    assert.deepEqual(metaSet.key, ["vm", "amy", callId]);
    assert.equal(metaSet.expireIn, RETENTION);
    // The meta is written last, in one atomic with the log and the claim.
    const last = Math.max(...log.map((m) => m.commit));
    assert.equal(metaSet.commit, last);
    assert.ok(chunkSets.every((m) => m.commit < last));
    const logSet = log.find((m) => m.op === "set" && m.key[0] === "call_log");
    assert.equal(logSet?.commit, last);
    assert.equal(logSet?.expireIn, endedAt + LOG_RETENTION - now);
    assert.equal((logSet?.value as { decision: string }).decision, "voicemail");
    assert.ok(
      log.some((m) =>
        m.op === "delete" && m.key[0] === "vm_upload" && m.commit === last
      ),
      "the upload claim is released with the meta",
    );
    const claim = log.find((m) => m.op === "set" && m.key[0] === "vm_upload");
    assert.equal(claim?.expireIn, UPLOAD_CLAIM_MS);

    assert.deepEqual(await readVoicemail(real, "amy", callId), bytes);
  }));

Deno.test("vm store: the meta never outlives its chunks when the upload took time", () =>
  withKv(async (real) => {
    const { kv, log } = recording(real);
    let t = 1_700_000_000_000;
    const bytes = randomBytes(1000);
    // Each clock reading moves 3 seconds on: chunks first, meta later.
    await storeVoicemail(
      kv,
      input("amy", crypto.randomUUID(), bytes, await sha(bytes)),
      () => (t += 3000),
    );
    const meta = log.find((m) => m.op === "set" && m.key[0] === "vm")!;
    assert.equal(meta.expireIn, RETENTION - 3000);
  }));

Deno.test("vm store: read marking keeps the original expiry", () =>
  withKv(async (real) => {
    const { kv, log } = recording(real);
    const callId = crypto.randomUUID();
    const bytes = randomBytes(10);
    const res = await storeVoicemail(
      kv,
      input("amy", callId, bytes, await sha(bytes)),
    );
    assert.ok(res.ok);
    const later = res.meta.createdAt + 2 * DAY;
    assert.equal(
      await markVoicemailRead(kv, "amy", callId, RETENTION, later),
      true,
    );
    const sets = log.filter((m) => m.op === "set" && m.key[0] === "vm");
    assert.equal(sets.length, 2);
    assert.equal(sets[1].expireIn, RETENTION - 2 * DAY);
    assert.equal((sets[1].value as { read: boolean }).read, true);
    assert.equal(
      await markVoicemailRead(kv, "amy", "nope", RETENTION),
      false,
    );
  }));

Deno.test("vm store: a 900 KiB envelope round trips byte-exact; incomplete uploads stay invisible", () =>
  withKv(async (real) => {
    const callId = crypto.randomUUID();
    const bytes = randomBytes(900 * 1024);
    const digest = await sha(bytes);
    // The final atomic fails: chunks were written, but no meta.
    const failing = recording(real, {
      failCommitWhen: (muts) => muts.some((m) => m.key[0] === "vm"),
    });
    await assert.rejects(
      storeVoicemail(failing.kv, input("bo", callId, bytes, digest)),
      /injected failure/,
    );
    assert.equal(await countChunks(real, "bo", callId), 15);
    assert.equal(await readVoicemail(real, "bo", callId), null);
    assert.deepEqual(await listVoicemails(real, "bo"), []);
    assert.equal(
      (await real.get(keys.voicemailUpload("bo", callId))).value,
      null,
      "a failed upload releases its claim",
    );
    // The retry completes and reads back exactly.
    const res = await storeVoicemail(real, input("bo", callId, bytes, digest));
    assert.ok(res.ok && res.created);
    assert.equal(res.meta.size, bytes.length);
    assert.deepEqual(await readVoicemail(real, "bo", callId), bytes);
    assert.equal(await countChunks(real, "bo", callId), 15);
  }));

Deno.test("vm store: concurrent uploads — same bytes store once, different bytes never mix", () =>
  withKv(async (kv) => {
    const same = crypto.randomUUID();
    const a = randomBytes(CHUNK_BYTES * 3);
    const da = await sha(a);
    const both = await Promise.all([
      storeVoicemail(kv, input("cy", same, a, da)),
      storeVoicemail(kv, input("cy", same, a, da)),
    ]);
    assert.ok(both.every((r) => r.ok));
    assert.equal(both.filter((r) => r.ok && r.created).length, 1);
    assert.deepEqual(await readVoicemail(kv, "cy", same), a);

    const diff = crypto.randomUUID();
    const x = randomBytes(CHUNK_BYTES * 4 + 1);
    const y = randomBytes(CHUNK_BYTES * 4 + 1);
    const [rx, ry] = await Promise.all([
      storeVoicemail(kv, input("cy", diff, x, await sha(x))),
      storeVoicemail(kv, input("cy", diff, y, await sha(y))),
    ]);
    assert.equal([rx, ry].filter((r) => r.ok).length, 1);
    const loser = rx.ok ? ry : rx;
    assert.ok(!loser.ok);
    assert.match(loser.code, /^(voicemail_exists|upload_in_progress)$/);
    assert.deepEqual(await readVoicemail(kv, "cy", diff), rx.ok ? x : y);
    assert.equal((await listVoicemails(kv, "cy")).length, 2);
  }));

Deno.test("vm store: delete removes meta and chunks and a retry cannot bring it back", () =>
  withKv(async (kv) => {
    const callId = crypto.randomUUID();
    const bytes = randomBytes(CHUNK_BYTES * 2 + 5);
    const digest = await sha(bytes);
    assert.ok(
      (await storeVoicemail(kv, input("di", callId, bytes, digest))).ok,
    );
    assert.equal(await deleteVoicemail(kv, "di", callId), true);
    assert.equal(await countChunks(kv, "di", callId), 0);
    assert.equal(await readVoicemail(kv, "di", callId), null);
    assert.equal(await deleteVoicemail(kv, "di", callId), false);
    const again = await storeVoicemail(kv, input("di", callId, bytes, digest));
    assert.deepEqual(again, { ok: false, code: "voicemail_exists" });
    assert.equal(await countChunks(kv, "di", callId), 0);
  }));

Deno.test("vm store: the log record's decision becomes voicemail", () =>
  withKv(async (kv) => {
    const callId = crypto.randomUUID();
    await seedLog(kv, callId, "declined");
    const bytes = randomBytes(100);
    assert.ok(
      (await storeVoicemail(
        kv,
        input("ed", callId, bytes, await sha(bytes)),
      )).ok,
    );
    const log = (await kv.get<{ decision: string }>(keys.callLog(callId)))
      .value;
    assert.equal(log?.decision, "voicemail");
  }));
