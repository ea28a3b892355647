/**
 * What `/@handle` keeps between requests, and what it never keeps: the
 * profile for a couple of seconds (the owner always sees their own edit at
 * once), the rendered HTML for the same data (with a fresh nonce each time),
 * but presence is read on every view.
 */
import assert from "node:assert/strict";
import { testApp } from "../_helpers/app.ts";
import { newWallet } from "../_helpers/wallet.ts";
import { PROFILE_CACHE_MS, publicProfile } from "@/lib/public_profile.ts";
import { markOffline, markOnline } from "@/lib/store/presence.ts";
import { updateProfile } from "@/lib/store/profiles.ts";

const nonceOf = (res: Response) =>
  res.headers.get("content-security-policy")!.match(/'nonce-([^']+)'/)![1];

Deno.test("/@handle: presence is never stale, each view has its own nonce", async () => {
  await using app = await testApp();
  const bob = app.client();
  await bob.signIn(newWallet());
  await bob.json("/api/handles", {
    method: "POST",
    body: { handle: "cache_bob" },
  });
  const anon = app.client();

  const first = await anon.request("/@cache_bob");
  const a = await first.text();
  assert.ok(a.includes("Offline right now"));
  const again = await anon.request("/@cache_bob");
  const b = await again.text();
  assert.notEqual(nonceOf(again), nonceOf(first), "a fresh nonce");
  assert.ok(b.includes(`nonce="${nonceOf(again)}"`));
  assert.ok(!b.includes(nonceOf(first)));

  // A device comes online: the very next view says so.
  await markOnline(app.kv, "cache_bob", "dev-1");
  const online = await (await anon.request("/@cache_bob")).text();
  assert.ok(online.includes("Online: receiving calls"), "presence read now");
  await markOffline(app.kv, "cache_bob", "dev-1");
  const offline = await (await anon.request("/@cache_bob")).text();
  assert.ok(offline.includes("Offline right now"));

  // The owner sees their own edit at once.
  const patch = await bob.json("/api/me/profile", {
    method: "PATCH",
    body: { displayName: "Bob Cached" },
  });
  assert.equal(patch.status, 200);
  const own = await (await bob.request("/@cache_bob")).text();
  assert.ok(own.includes("<h1>Bob Cached</h1>"));
});

Deno.test("publicProfile: a cached profile for at most maxAgeMs, per KV store", async () => {
  await using app = await testApp();
  const c = app.client();
  await c.signIn(newWallet());
  await c.json("/api/handles", { method: "POST", body: { handle: "cache_p" } });
  const t0 = 1_000_000;
  const fresh = { maxAgeMs: PROFILE_CACHE_MS };
  const p1 = await publicProfile(app.kv, "cache_p", { ...fresh, now: t0 });
  assert.equal(p1?.displayName, "cache_p");
  await updateProfile(app.kv, "cache_p", { displayName: "Renamed" });
  const held = await publicProfile(app.kv, "cache_p", {
    ...fresh,
    now: t0 + 1,
  });
  assert.equal(held?.displayName, "cache_p", "within maxAgeMs: the cached one");
  const now = await publicProfile(app.kv, "cache_p");
  assert.equal(now?.displayName, "Renamed", "no maxAgeMs: read now");
  const later = await publicProfile(app.kv, "cache_p", {
    ...fresh,
    now: t0 + PROFILE_CACHE_MS,
  });
  assert.equal(later?.displayName, "Renamed", "after maxAgeMs: read again");

  // Another KV store never sees this one's cache.
  const other = await Deno.openKv(":memory:");
  try {
    assert.equal(
      await publicProfile(other, "cache_p", { ...fresh, now: t0 + 2 }),
      null,
    );
  } finally {
    other.close();
  }
});
