import assert from "node:assert/strict";
import { consumeNonce, newNonce, storeNonce } from "@/lib/store/nonces.ts";
import { createSession, getSession } from "@/lib/store/sessions.ts";
import { isOnline } from "@/lib/store/presence.ts";
import { keys } from "@/lib/store/keys.ts";
import { withKv } from "../_helpers/kv.ts";

Deno.test("nonces: consumed once, and not after their expiry", () =>
  withKv(async (kv) => {
    const a = newNonce();
    await storeNonce(kv, a, 60_000);
    assert.equal(await consumeNonce(kv, a), true);
    assert.equal(await consumeNonce(kv, a), false);
    const b = newNonce();
    await storeNonce(kv, b, 60_000, Date.now() - 120_000);
    assert.equal(await consumeNonce(kv, b), false);
    assert.equal(await consumeNonce(kv, "never-issued"), false);
    assert.notEqual(newNonce(), newNonce());
  }));

Deno.test("sessions: 256-bit random ids, expiry honoured", () =>
  withKv(async (kv) => {
    const { id } = await createSession(kv, "pk", 60_000);
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.equal((await getSession(kv, id))?.publicKey, "pk");
    assert.equal(await getSession(kv, id, Date.now() + 61_000), null);
    assert.equal(await getSession(kv, "../" + id), null);
  }));

Deno.test("presence: only unexpired device records count as online", () =>
  withKv(async (kv) => {
    assert.equal(await isOnline(kv, "bob"), false);
    await kv.set(keys.presence("bob", "d1"), { expiresAt: Date.now() - 1 });
    assert.equal(await isOnline(kv, "bob"), false);
    await kv.set(keys.presence("bob", "d2"), {
      expiresAt: Date.now() + 30_000,
    });
    assert.equal(await isOnline(kv, "bob"), true);
    assert.equal(await isOnline(kv, "bo"), false, "prefix is per handle");
  }));
