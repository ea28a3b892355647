/**
 * Sealed sender, the server's side: a caller's socket is anonymous even when
 * it carries a session, the sealed identity is relayed exactly as sent and
 * never stored, and what the server cannot check (inside the seal) it does
 * not pretend to. The browsers' side (sealing, opening, verifying) is in
 * tests/unit/sealed_ring_test.ts and tests/e2e/sealed_sender_test.ts.
 */
import assert from "node:assert/strict";
import { hmacHex } from "@/lib/crypto/hash.ts";
import { setLogSink } from "@/lib/log.ts";
import { getCall, getCallLog } from "@/lib/store/calls.ts";
import { callerLabel } from "@/lib/store/history.ts";
import { CLOSE, MAX_SEALED_CHARS } from "@/signaling/protocol.ts";
import { owner, testApp } from "../_helpers/app.ts";
import { fakeSealed } from "../_helpers/sealed.ts";
import { caller, device } from "../_helpers/signal_client.ts";
import { newWallet } from "../_helpers/wallet.ts";

/** Every value of every KV entry, as text, for a search. */
async function allOfKv(kv: Deno.Kv): Promise<string> {
  const out: string[] = [];
  for await (const e of kv.list({ prefix: [] })) {
    out.push(
      JSON.stringify(e.key, (_k, v) => typeof v === "bigint" ? String(v) : v),
    );
    out.push(
      JSON.stringify(
        e.value,
        (_k, v) =>
          v instanceof Uint8Array
            ? v.toHex()
            : typeof v === "bigint"
            ? String(v)
            : v,
      ),
    );
  }
  return out.join("\n");
}

Deno.test("sealed sender: a signed-in caller is anonymous to the server; its sealed block is relayed as sent and stored nowhere", async () => {
  const lines: string[] = [];
  const prevSink = setLogSink((l) => lines.push(l));
  try {
    await using app = await testApp();
    const base = app.listen();
    const bob = await owner(app, "bob_sealed");
    const wallet = newWallet();
    const alice = app.client();
    assert.equal((await alice.signIn(wallet)).status, 200);
    const claim = await alice.json("/api/handles", {
      method: "POST",
      body: { handle: "alice_sealed" },
    });
    assert.equal(claim.status, 201);
    await using dev = await device(base, bob);
    const token = crypto.getRandomValues(new Uint8Array(16)).toHex();
    // Alice's socket carries her session cookie, as a browser's would.
    await using a = await caller(base, alice, undefined, {
      callerToken: token,
    });
    const callId = crypto.randomUUID();
    const sealed = fakeSealed(callId, "bob_sealed", 3);
    a.send({ type: "ring", callId, to: "bob_sealed", sealed });
    const inc = await dev.next("incoming", (m) => m.callId === callId);
    assert.deepEqual(
      Object.keys(inc).sort(),
      ["callId", "sealed", "type"],
      "no `from`",
    );
    assert.deepEqual(inc.sealed, sealed, "relayed exactly as sent");
    await a.next("ringing");

    // The record holds the anonymous token's hash, never the wallet's.
    const walletHash = await hmacHex(
      app.config.hmacKey,
      "caller",
      `wallet:${wallet.address}`,
    );
    const tokenHash = await hmacHex(
      app.config.hmacKey,
      "caller",
      `token:${token}`,
    );
    assert.equal((await getCall(app.kv, callId))?.callerHash, tokenHash);

    // A device that joins while it rings hears of the call, but the sealed
    // block was never stored, so it gets none.
    await using late = await device(base, bob);
    const replay = await late.next("incoming", (m) => m.callId === callId);
    assert.deepEqual(replay, { type: "incoming", callId, replay: true });

    dev.send({ type: "accept", callId });
    await a.next("accepted");
    a.send({ type: "hangup", callId, reason: "normal" });
    await dev.next("hangup");
    assert.equal((await getCallLog(app.kv, callId))?.callerHash, tokenHash);

    // Alice has an account, so KV names her (her profile, her session); but
    // nowhere in KV is her wallet's caller hash or the opaque block, and no
    // entry about this call names her. No log line names her at all.
    const kv = await allOfKv(app.kv);
    const logs = lines.join("\n");
    for (const secret of [walletHash, sealed.ct, sealed.recipients[0].epk]) {
      assert.ok(!kv.includes(secret), `KV holds ${secret.slice(0, 12)}…`);
    }
    assert.ok(kv.includes(tokenHash), "the search does see the call log");
    const aboutCall = kv.split("\n").filter((l) =>
      l.includes(callId) || l.includes(tokenHash)
    );
    assert.ok(aboutCall.length >= 2, "the call's record and log are there");
    for (const l of aboutCall) {
      assert.ok(!l.includes("alice") && !l.includes(wallet.address), l);
    }
    for (const secret of ["alice", wallet.address, walletHash, sealed.ct]) {
      assert.ok(!logs.includes(secret), `logs hold ${secret.slice(0, 12)}…`);
    }
  } finally {
    setLogSink(prevSink);
  }
});

Deno.test("sealed sender: a sealed block naming another call or handle, too long or of the wrong shape is refused before anything rings", async () => {
  await using app = await testApp();
  const base = app.listen();
  const bob = await owner(app, "bob_badseal");
  await owner(app, "carl_badseal");
  await using dev = await device(base, bob);
  await using a = await caller(base);

  const refused = async (
    sealedFor: (callId: string) => unknown,
    why: RegExp,
  ) => {
    const callId = crypto.randomUUID();
    a.send({
      type: "ring",
      callId,
      to: "bob_badseal",
      sealed: sealedFor(callId),
    } as never);
    const err = await a.next("error", (m) => m.callId === callId);
    assert.equal(err.code, "bad_sealed");
    assert.match(err.message, why);
    assert.equal(await getCall(app.kv, callId), null, "no call was made");
  };
  // Lifted from another call (the clear callId names it)...
  await refused(
    () => fakeSealed(crypto.randomUUID(), "bob_badseal"),
    /another call or handle/,
  );
  // ...or sealed for another handle.
  await refused(
    (id) => fakeSealed(id, "carl_badseal"),
    /another call or handle/,
  );
  // Longer than the limit as a whole, though each field is within its own.
  const long = (id: string) => fakeSealed(id, "bob_badseal", 10, 3000);
  assert.ok(
    JSON.stringify(long(crypto.randomUUID())).length > MAX_SEALED_CHARS,
  );
  await refused(long, /longer than/);

  // The socket is still good: a well-formed ring goes through.
  const ok = crypto.randomUUID();
  a.send({
    type: "ring",
    callId: ok,
    to: "bob_badseal",
    sealed: fakeSealed(ok, "bob_badseal", 10),
  });
  await a.next("ringing", (m) => m.callId === ok);
  const inc = await dev.next("incoming");
  assert.equal(inc.callId, ok, "the refused rings never reached the device");

  // A block of the wrong shape is a bad frame: that socket alone closes.
  for (
    const bad of [
      { ...fakeSealed(ok, "bob_badseal"), v: 2 },
      { ...fakeSealed(ok, "bob_badseal"), from: "alice" },
      fakeSealed(ok, "bob_badseal", 11),
      { ...fakeSealed(ok, "bob_badseal"), ct: "not base64!" },
      { ...fakeSealed(ok, "bob_badseal", 1, 6000) },
    ]
  ) {
    await using c = await caller(base);
    const id = crypto.randomUUID();
    c.send(
      { type: "ring", callId: id, to: "bob_badseal", sealed: bad } as never,
    );
    const closed = await c.closed;
    assert.equal(closed.code, CLOSE.badFrame);
    assert.equal(await getCall(app.kv, id), null);
  }
  a.send({ type: "cancel", callId: ok });
  await a.next("ended");
});

Deno.test("sealed sender: two owners rung by one caller see unrelated labels for it; one owner sees one label", async () => {
  await using app = await testApp();
  const base = app.listen();
  const token = crypto.getRandomValues(new Uint8Array(16)).toHex();
  const labels: Record<string, string[]> = {};
  for (const handle of ["ann_pseudo", "ben_pseudo"]) {
    const o = await owner(app, handle);
    await using dev = await device(base, o);
    for (let i = 0; i < 2; i++) {
      await using c = await caller(base, undefined, undefined, {
        callerToken: token,
      });
      const callId = crypto.randomUUID();
      c.send({ type: "ring", callId, to: handle });
      await dev.next("incoming", (m) => m.callId === callId);
      dev.send({ type: "decline", callId });
      await c.next("ended", (m) => m.callId === callId);
    }
    const html = await (await o.request("/me")).text();
    labels[handle] = [...html.matchAll(/Caller [0-9A-Z]{4}-[0-9A-Z]{2}/g)]
      .map((m) => m[0]);
  }
  const [ann, ben] = [labels.ann_pseudo, labels.ben_pseudo];
  assert.equal(ann.length, 2);
  assert.equal(ben.length, 2);
  assert.equal(ann[0], ann[1], "one caller, one label in one list");
  assert.equal(ben[0], ben[1]);
  assert.notEqual(ann[0], ben[0], "the two owners cannot match their lists");
  // The label is not the caller hash's own (which every list would share).
  const hash = await hmacHex(app.config.hmacKey, "caller", `token:${token}`);
  assert.ok(![ann[0], ben[0]].includes(callerLabel(hash)));
});
