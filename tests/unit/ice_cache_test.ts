/**
 * IceCache: a device page's ICE servers, fetched at most once per half their
 * lifetime (at most 10 minutes), shared by concurrent callers, and never a
 * failure kept.
 */
import assert from "node:assert/strict";
import { IceCache } from "@/lib/client/rtc.ts";

function server(ttl: number) {
  const asked: number[] = [];
  let fail = false;
  let n = 0;
  const f = (url: string) => {
    assert.equal(url, "/api/ice");
    asked.push(++n);
    return Promise.resolve(
      fail ? new Response("no", { status: 503 }) : Response.json({
        iceServers: [{ urls: `turn:x?${n}` }],
        ttl,
      }),
    );
  };
  return { f, asked, failNext: (v: boolean) => fail = v };
}

Deno.test("ice cache: one fetch per half lifetime, shared, failures not kept", async () => {
  let now = 0;
  const s = server(600);
  const cache = new IceCache(s.f, () => now);
  const [a, b] = await Promise.all([cache.get(), cache.get()]);
  assert.equal(s.asked.length, 1, "concurrent callers share one fetch");
  assert.deepEqual(a, b);
  now = 299_000;
  assert.deepEqual(await cache.get(), a, "kept within half the ttl");
  assert.equal(s.asked.length, 1);
  now = 300_000;
  const c = await cache.get();
  assert.equal(s.asked.length, 2, "fetched again after half the ttl");
  assert.notDeepEqual(c, a);

  // A failure is not kept: the next call asks again.
  now = 700_000;
  s.failNext(true);
  await assert.rejects(() => cache.get(), /unavailable \(503\)/);
  s.failNext(false);
  await cache.get();
  assert.equal(s.asked.length, 4);

  // A long ttl is kept 10 minutes at most; no ttl is not kept.
  const long = server(86_400);
  const lc = new IceCache(long.f, () => now);
  await lc.get();
  now += 600_000 - 1;
  await lc.get();
  assert.equal(long.asked.length, 1);
  now += 1;
  await lc.get();
  assert.equal(long.asked.length, 2);
  const none = server(0);
  const nc = new IceCache(none.f, () => now);
  await nc.get();
  await nc.get();
  assert.equal(none.asked.length, 2);
});
