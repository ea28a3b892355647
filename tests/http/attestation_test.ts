/**
 * GET /api/me/attestation: the server's signed "this handle is this wallet",
 * which an owner's browser seals into its rings (sealed sender). Only for the
 * signed-in owner's own handle; checked with the key /me publishes.
 */
import assert from "node:assert/strict";
import { verifyAttestation } from "@/lib/identity/handle_attestation.ts";
import { attestationKey } from "@/lib/identity/attest.ts";
import { testApp } from "../_helpers/app.ts";
import { assertSecurityHeaders } from "../_helpers/headers.ts";
import { newWallet } from "../_helpers/wallet.ts";

Deno.test("attestation: an owner gets one for their own handle and wallet, checkable with the key /me shows", async () => {
  await using app = await testApp();
  const anon = await app.client().request("/api/me/attestation");
  assert.equal(anon.status, 401);
  assertSecurityHeaders(anon, "401");
  await anon.body?.cancel();

  const wallet = newWallet();
  const c = app.client();
  assert.equal((await c.signIn(wallet)).status, 200);
  const noHandle = await c.request("/api/me/attestation");
  assert.equal(noHandle.status, 409, "a wallet without a handle has none");
  await noHandle.body?.cancel();
  assert.equal(
    (await c.json("/api/handles", {
      method: "POST",
      body: { handle: "ada_att" },
    })).status,
    201,
  );

  const res = await c.json<{ text: string; sig: string; publicKey: string }>(
    "/api/me/attestation",
  );
  assert.equal(res.status, 200);
  const { text, sig, publicKey } = res.body;
  assert.equal(publicKey, await attestationKey(app.config));
  const me = await (await c.request("/me")).text();
  assert.ok(me.includes(publicKey), "/me gives the callee page the same key");
  const ok = await verifyAttestation(text, sig, publicKey);
  assert.deepEqual(ok, { ok: true, handle: "ada_att", wallet: wallet.address });

  // Another server's key does not check it, and an edited text fails.
  await using other = await testApp({
    REACH_HMAC_KEY: crypto.getRandomValues(new Uint8Array(32)).toBase64(),
  });
  const otherKey = await attestationKey(other.config);
  assert.notEqual(otherKey, publicKey);
  assert.equal((await verifyAttestation(text, sig, otherKey)).ok, false);
  const forged = text.replace("ada_att", "eve_att");
  assert.equal((await verifyAttestation(forged, sig, publicKey)).ok, false);
});
