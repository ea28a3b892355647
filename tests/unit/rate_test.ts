/**
 * The KV limiter: every write keeps the expiry, the check and the count are
 * one atomic step, and refused requests are not counted.
 */
import assert from "node:assert/strict";
import { hitRate, rateCount, releaseSlot, takeSlot } from "@/lib/store/rate.ts";
import { keysWithExpiry } from "../_helpers/kv_expiry.ts";
import { withKv } from "../_helpers/kv.ts";

Deno.test("rate: every write of a counter keeps its expiry (the second write used to drop it)", async () => {
  await withKv(async (kv, path) => {
    const now = Date.now();
    for (let i = 0; i < 3; i++) {
      await hitRate(kv, "t", "subject", 10, 60_000, now);
    }
    const rows = keysWithExpiry(path).filter((r) => r.key[0] === "rate");
    assert.equal(rows.length, 1);
    assert.ok(rows[0].expiresAt > now, "the counter expires");
    assert.ok(rows[0].expiresAt <= now + 2 * 60_000, "with its window");
    assert.equal(await rateCount(kv, "t", "subject", 60_000, now), 3);
  });
});

Deno.test("rate: 35 concurrent hits against a limit of 10 let exactly 10 through", async () => {
  await withKv(async (kv) => {
    const now = Date.now();
    const verdicts = await Promise.all(
      Array.from(
        { length: 35 },
        () => hitRate(kv, "t", "burst", 10, 60_000, now),
      ),
    );
    assert.equal(verdicts.filter((v) => v.ok).length, 10);
    // Refused hits were not counted.
    assert.equal(await rateCount(kv, "t", "burst", 60_000, now), 10);
  });
});

Deno.test("rate: a cost counts several at once and is refused whole", async () => {
  await withKv(async (kv) => {
    const now = Date.now();
    assert.ok((await hitRate(kv, "t", "c", 10, 60_000, now, 7)).ok);
    assert.ok(!(await hitRate(kv, "t", "c", 10, 60_000, now, 4)).ok);
    assert.ok((await hitRate(kv, "t", "c", 10, 60_000, now, 3)).ok);
    assert.equal(await rateCount(kv, "t", "c", 60_000, now), 10);
  });
});

Deno.test("rate: slots cap what is held at once, expire, and free on release", async () => {
  await withKv(async (kv, path) => {
    const taken = await Promise.all(
      Array.from({ length: 8 }, () => takeSlot(kv, "s", "addr", 5, 30_000)),
    );
    const held = taken.filter((s) => s !== null);
    assert.equal(held.length, 5, "5 of 8 concurrent takers get a slot");
    for (const r of keysWithExpiry(path)) {
      assert.ok(r.expiresAt > 0, `slot ${String(r.key)} has a lease`);
    }
    await releaseSlot(kv, held[0]!);
    assert.ok(await takeSlot(kv, "s", "addr", 5, 30_000));
    assert.equal(await takeSlot(kv, "s", "addr", 5, 30_000), null);
  });
});
