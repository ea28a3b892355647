import assert from "node:assert/strict";
import { ALLOWED_FIELDS, setLogSink } from "@/lib/log.ts";
import { testApp } from "../_helpers/app.ts";
import { newWallet, signOffer } from "../_helpers/wallet.ts";

Deno.test("log audit: no secret, key, handle, address or body reaches a log line", async () => {
  await using app = await testApp();
  const lines: string[] = [];
  const prev = setLogSink((l) => lines.push(l));
  try {
    const c = app.client();
    const wallet = newWallet();
    const offer = await c.json<Record<string, string>>("/api/auth/nonce", {
      method: "POST",
    });
    const signed = signOffer(
      wallet,
      offer.body as unknown as Parameters<typeof signOffer>[1],
    );
    const ok = await c.json("/api/auth/verify", {
      method: "POST",
      body: signed,
    });
    assert.equal(ok.status, 200);
    const sessionId = c.cookies.get("__Host-reach_session");
    assert.ok(sessionId);
    const replay = await c.json("/api/auth/verify", {
      method: "POST",
      body: signed,
    });
    assert.equal(replay.status, 401);
    await c.json("/api/handles", {
      method: "POST",
      body: { handle: "secret_handle" },
    });
    await c.json("/api/me/profile", {
      method: "PATCH",
      body: { displayName: "Private Person", greeting: "hidden greeting" },
    });
    await (await c.request("/@secret_handle")).text();
    await (await c.request("/handles/secret_handle")).text();
    await c.json("/api/auth/logout", { method: "POST" });

    assert.ok(lines.length >= 8, `log lines were written (${lines.length})`);
    const forbidden = [
      wallet.address,
      signed.signature,
      offer.body.nonce,
      "secret_handle",
      "Private Person",
      "hidden greeting",
      "127.0.0.1",
      "localhost",
      sessionId,
    ];
    for (const line of lines) {
      const parsed = JSON.parse(line);
      for (const key of Object.keys(parsed)) {
        assert.ok(
          key === "t" || key === "event" || key === "call" ||
            ALLOWED_FIELDS.has(key),
          `field ${key} is allowed`,
        );
      }
      for (const f of forbidden) {
        assert.ok(!line.includes(f), `a log line leaks ${f}: ${line}`);
      }
    }
    const events = lines.map((l) => JSON.parse(l).event);
    assert.ok(events.includes("auth.signed_in"));
    assert.ok(events.includes("auth.failed"));
    assert.ok(events.includes("handle.claimed"));
  } finally {
    setLogSink(prev);
  }
});
