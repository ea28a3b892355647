import assert from "node:assert/strict";
import { has } from "@/lib/bloom.ts";
import { filterFromResponse, handleStatus } from "@/lib/client/handle_taken.ts";
import { keys } from "@/lib/store/keys.ts";
import { claimHandle, DEFAULT_ACCENT } from "@/lib/store/profiles.ts";
import { testApp, type TestClient } from "../_helpers/app.ts";
import { newWallet } from "../_helpers/wallet.ts";

async function claim(c: TestClient, handle: string) {
  await c.signIn(newWallet());
  const res = await c.json("/api/handles", {
    method: "POST",
    body: { handle },
  });
  assert.equal(res.status, 201, handle);
}

async function served(c: TestClient) {
  const res = await c.request("/handles/bloom");
  assert.equal(res.status, 200);
  const filter = await filterFromResponse(res);
  assert.ok(filter, "the browser code reads the response");
  return { res, filter };
}

Deno.test("bloom: GET /handles/bloom serves the filter with documented headers", async () => {
  await using app = await testApp();
  const c = app.client();
  const { res } = await served(c);
  assert.equal(res.headers.get("content-type"), "application/octet-stream");
  assert.equal(res.headers.get("cache-control"), "public, max-age=60");
  assert.equal(res.headers.get("x-bloom-scheme"), "fnv1a32-double-blocked-v1");
  assert.equal(res.headers.get("x-bloom-bits"), "10240");
  assert.equal(res.headers.get("x-bloom-hashes"), "7");
  assert.equal(res.headers.get("x-bloom-blocks"), "1");
  assert.equal(res.headers.get("x-bloom-count"), "0");
  assert.equal(res.headers.get("x-bloom-capacity"), "1024");
  assert.match(res.headers.get("etag") ?? "", /^"[0-9a-f]{32}"$/);
  // The literal route wins over /handles/:handle, which still works.
  await claim(c, "alice");
  const alice = await c.json<{ handle: string }>("/handles/alice");
  assert.equal(alice.status, 200);
  assert.equal(alice.body.handle, "alice");
});

Deno.test("bloom: a claim updates the served filter and its ETag; 304 on a match", async () => {
  await using app = await testApp();
  const c = app.client();
  const before = await served(c);
  const etag = before.res.headers.get("etag")!;
  assert.equal(has(before.filter, "bob_1"), false);
  const same = await c.request("/handles/bloom", {
    headers: { "if-none-match": etag },
  });
  assert.equal(same.status, 304);
  assert.equal(await same.text(), "");
  assert.equal(same.headers.get("etag"), etag);
  assert.equal(same.headers.get("cache-control"), "public, max-age=60");
  await claim(c, "Bob_1");
  const after = await served(c);
  assert.ok(has(after.filter, "bob_1"), "the claimed handle tests present");
  assert.equal(after.res.headers.get("x-bloom-count"), "1");
  const etag2 = after.res.headers.get("etag")!;
  assert.notEqual(etag2, etag, "the ETag changes after a claim");
  const stale = await c.request("/handles/bloom", {
    headers: { "if-none-match": etag },
  });
  assert.equal(stale.status, 200);
  await stale.body?.cancel();
  for (const header of [`W/${etag2}`, `"nope", ${etag2}`, "*"]) {
    const res = await c.request("/handles/bloom", {
      headers: { "if-none-match": header },
    });
    assert.equal(res.status, 304, header);
  }
  // Unchanged when nothing is claimed.
  const again = await c.request("/handles/bloom");
  assert.equal(again.headers.get("etag"), etag2);
  await again.body?.cancel();
});

Deno.test("bloom: growth past capacity keeps every handle present", async () => {
  await using app = await testApp();
  const c = app.client();
  const seeded: string[] = [];
  for (let i = 0; i < 1020; i++) {
    const h = `seed_${i}`;
    assert.ok((await claimHandle(app.kv, h, `wallet_${i}`)).ok);
    seeded.push(h);
  }
  const first = await served(c);
  assert.equal(first.res.headers.get("x-bloom-capacity"), "1024");
  const firstGen = new Set<string>();
  for await (const e of app.kv.list({ prefix: ["bloom"] })) {
    firstGen.add(e.key[1] as string);
  }
  const late = ["late_0", "late_1", "late_2", "late_3", "late_4", "late_5"];
  for (const h of late) await claim(app.client(), h);
  const { res, filter } = await served(c);
  assert.equal(res.headers.get("x-bloom-capacity"), "2048");
  assert.equal(res.headers.get("x-bloom-bits"), "20480");
  assert.equal(res.headers.get("x-bloom-count"), "1026");
  for (const h of [...seeded, ...late]) assert.ok(has(filter, h), h);
  for await (const e of app.kv.list({ prefix: ["bloom"] })) {
    assert.ok(!firstGen.has(e.key[1] as string), "old generation deleted");
  }
});

Deno.test("bloom: 30 parallel claims of different handles are all in the filter", async () => {
  await using app = await testApp();
  const clients = await Promise.all(
    Array.from({ length: 30 }, async () => {
      const c = app.client();
      await c.signIn(newWallet());
      return c;
    }),
  );
  const results = await Promise.all(
    clients.map((c, i) =>
      c.json("/api/handles", { method: "POST", body: { handle: `par_${i}` } })
    ),
  );
  assert.ok(results.every((r) => r.status === 201));
  const { res, filter } = await served(app.client());
  assert.equal(res.headers.get("x-bloom-count"), "30");
  for (let i = 0; i < 30; i++) assert.ok(has(filter, `par_${i}`));
});

Deno.test("bloom: handles from before the filter are found on first read", async () => {
  await using app = await testApp();
  for (const h of ["old_one", "old_two", "old_three"]) {
    await app.kv.set(keys.handle(h), {
      handle: h,
      walletPubkey: `w_${h}`,
      displayName: h,
      greeting: "",
      accentColor: DEFAULT_ACCENT,
      createdAt: 1,
      updatedAt: 1,
    });
  }
  const { res, filter } = await served(app.client());
  assert.equal(res.headers.get("x-bloom-count"), "3");
  for (const h of ["old_one", "old_two", "old_three"]) {
    assert.ok(has(filter, h));
  }
  await claim(app.client(), "new_one");
  const after = await served(app.client());
  assert.equal(after.res.headers.get("x-bloom-count"), "4");
  assert.ok(has(after.filter, "new_one") && has(after.filter, "old_two"));
});

Deno.test("bloom: the client helper says free or taken", async () => {
  await using app = await testApp();
  const c = app.client();
  await claim(c, "taken_one");
  const paths: string[] = [];
  const realFetch = globalThis.fetch;
  globalThis.fetch = (input: RequestInfo | URL) => {
    paths.push(String(input));
    return c.request(String(input));
  };
  try {
    assert.equal(await handleStatus("taken_one"), "taken");
    assert.equal(await handleStatus("free_one"), "free");
    assert.equal(await handleStatus("free_two"), "free");
  } finally {
    globalThis.fetch = realFetch;
  }
  // One filter fetch; only the "maybe" was confirmed with the server.
  assert.deepEqual(paths, ["/handles/bloom", "/handles/taken_one"]);
});
