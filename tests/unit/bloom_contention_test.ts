/**
 * The handle filter is not the bottleneck of claims: many parallel claims of
 * different handles all succeed, from one isolate or from two sharing a KV
 * file, and every claimed handle is in the filter afterwards.
 */
import assert from "node:assert/strict";
import { createFilter, has } from "@/lib/bloom.ts";
import { readBloom } from "@/lib/store/bloom.ts";
import { retryWhenLocked } from "@/lib/store/locked_retry.ts";
import { claimHandle } from "@/lib/store/profiles.ts";
import { filterChangesUnderClaims } from "../_helpers/kv_interference.ts";

async function withKvFile<T>(fn: (path: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "reach-kv-" });
  try {
    return await fn(`${dir}/kv.sqlite3`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function assertAllInFilter(kv: Deno.Kv, handles: string[]) {
  const served = await readBloom(kv);
  assert.equal(served.count, handles.length);
  const f = createFilter(served.generation, served.bytes);
  assert.deepEqual(handles.filter((h) => !has(f, h)), []);
}

Deno.test("bloom contention: 200 parallel claims of distinct handles all succeed and are all in the filter", () =>
  withKvFile(async (path) => {
    const kv = await Deno.openKv(path);
    try {
      const handles = Array.from({ length: 200 }, (_, i) => `many_${i}`);
      const results = await Promise.allSettled(
        handles.map((h, i) => claimHandle(kv, h, `wallet_${i}`)),
      );
      const failed = results.filter((r) =>
        r.status === "rejected" || !r.value.ok
      );
      assert.deepEqual(failed, []);
      await assertAllInFilter(kv, handles);
    } finally {
      kv.close();
    }
  }));

Deno.test("bloom contention: two KV connections (like two isolates) claiming in parallel across growth keep every handle", () =>
  withKvFile(async (path) => {
    // Wrapped as the app opens its KV (lib/store/kv.ts): a shared SQLite
    // file can answer "database is locked" to a write, which is retried.
    const rawA = await Deno.openKv(path);
    const rawB = await Deno.openKv(path);
    const a = retryWhenLocked(rawA);
    const b = retryWhenLocked(rawB);
    try {
      // Past the first capacity (1024), so the filter grows meanwhile.
      const handles = Array.from({ length: 1060 }, (_, i) => `pair_${i}`);
      const first = handles.slice(0, 1000);
      for (let i = 0; i < first.length; i += 100) {
        const some = first.slice(i, i + 100);
        const res = await Promise.all(
          some.map((h) => claimHandle(a, h, `w_${h}`)),
        );
        assert.ok(res.every((r) => r.ok));
      }
      const rest = handles.slice(1000);
      const results = await Promise.allSettled(
        rest.map((h, i) => claimHandle(i % 2 ? a : b, h, `w_${h}`)),
      );
      const failed = results.filter((r) =>
        r.status === "rejected" || !r.value.ok
      );
      assert.deepEqual(failed, []);
      await assertAllInFilter(a, handles);
      const served = await readBloom(b);
      assert.equal(served.generation.capacity, 2048);
    } finally {
      rawA.close();
      rawB.close();
    }
  }));

Deno.test("bloom contention: a claim succeeds even when the filter changes under it every time", () =>
  withKvFile(async (path) => {
    const raw = await Deno.openKv(path);
    const kv = filterChangesUnderClaims(raw);
    try {
      const handles = ["first_one", "second_one", "third_one"];
      for (const [i, h] of handles.entries()) {
        const res = await claimHandle(kv, h, `wallet_${i}`);
        assert.ok(res.ok, h);
      }
      await assertAllInFilter(raw, handles);
    } finally {
      raw.close();
    }
  }));
