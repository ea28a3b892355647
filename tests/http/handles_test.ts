import assert from "node:assert/strict";
import { testApp } from "../_helpers/app.ts";
import { newWallet } from "../_helpers/wallet.ts";

Deno.test("claim: a signed-in wallet claims a case-folded handle once", async () => {
  await using app = await testApp();
  const c = app.client();
  const wallet = newWallet();
  await c.signIn(wallet);
  const res = await c.json("/api/handles", {
    method: "POST",
    body: { handle: "@Alice_1" },
  });
  assert.equal(res.status, 201);
  assert.deepEqual(res.body, { handle: "alice_1" });
  const again = await c.json("/api/handles", {
    method: "POST",
    body: { handle: "alice_2" },
  });
  assert.equal(again.status, 409);
  assert.equal(again.body.error, "already_has_handle");
  const other = app.client();
  await other.signIn(newWallet());
  const taken = await other.json("/api/handles", {
    method: "POST",
    body: { handle: "ALICE_1" },
  });
  assert.equal(taken.status, 409);
  assert.equal(taken.body.error, "handle_taken");
  // A second sign-in reports the handle.
  const back = await app.client().signIn(wallet);
  assert.equal(back.body.handle, "alice_1");
});

Deno.test("claim: invalid, reserved and anonymous claims are refused", async () => {
  await using app = await testApp();
  const anon = await app.client().json("/api/handles", {
    method: "POST",
    body: { handle: "someone" },
  });
  assert.equal(anon.status, 401);
  assert.equal(anon.body.error, "not_signed_in");
  const c = app.client();
  await c.signIn(newWallet());
  const bad: [unknown, number, string][] = [
    [{ handle: "ab" }, 400, "invalid_handle"],
    [{ handle: "a".repeat(31) }, 400, "invalid_handle"],
    [{ handle: "bob-smith" }, 400, "invalid_handle"],
    [{ handle: "bøb" }, 400, "invalid_handle"],
    [{ handle: "admin" }, 400, "reserved_handle"],
    [{ handle: "Security" }, 400, "reserved_handle"],
    [{ handle: 42 }, 400, "invalid_request"],
    [{}, 400, "invalid_request"],
  ];
  for (const [body, status, error] of bad) {
    const res = await c.json("/api/handles", { method: "POST", body });
    assert.equal(res.status, status, JSON.stringify(body));
    assert.equal(res.body.error, error, JSON.stringify(body));
    assert.equal(typeof res.body.message, "string");
  }
});

Deno.test("claim race: 50 parallel claims of one handle give exactly one 201", async () => {
  await using app = await testApp();
  const clients = await Promise.all(
    Array.from({ length: 50 }, async () => {
      const c = app.client();
      await c.signIn(newWallet());
      return c;
    }),
  );
  const results = await Promise.all(
    clients.map((c) =>
      c.json("/api/handles", { method: "POST", body: { handle: "popular" } })
    ),
  );
  assert.equal(results.filter((r) => r.status === 201).length, 1);
  assert.equal(
    results.filter((r) => r.status === 409 && r.body.error === "handle_taken")
      .length,
    49,
  );
});

Deno.test("claim race: one wallet claiming 20 handles at once gets exactly one", async () => {
  await using app = await testApp();
  const c = app.client();
  const wallet = newWallet();
  await c.signIn(wallet);
  const results = await Promise.all(
    Array.from(
      { length: 20 },
      (_, i) =>
        c.json("/api/handles", {
          method: "POST",
          body: { handle: `greedy_${i}` },
        }),
    ),
  );
  assert.equal(results.filter((r) => r.status === 201).length, 1);
  const won = results.find((r) => r.status === 201)!.body.handle;
  const pub = await c.json<{ walletPubkey: string }>(`/handles/${won}`);
  assert.equal(pub.body.walletPubkey, wallet.address);
});

Deno.test("profile: the owner's edits show on the public JSON and page", async () => {
  await using app = await testApp();
  const c = app.client();
  const wallet = newWallet();
  await c.signIn(wallet);
  await c.json("/api/handles", { method: "POST", body: { handle: "carol" } });
  const patch = await c.json("/api/me/profile", {
    method: "PATCH",
    body: {
      displayName: "  Carol Q. ",
      greeting: "Ring me <b>any</b> time",
      accentColor: "#FF5500",
    },
  });
  assert.equal(patch.status, 200);
  const pub = await app.client().json("/handles/carol");
  assert.equal(pub.status, 200);
  assert.deepEqual(pub.body, {
    handle: "carol",
    displayName: "Carol Q.",
    walletPubkey: wallet.address,
    accentColor: "#ff5500",
    greeting: "Ring me <b>any</b> time",
    online: false,
  });
  const page = await app.client().request("/@carol");
  assert.equal(page.status, 200);
  const html = await page.text();
  assert.ok(html.includes("<h1>Carol Q.</h1>"));
  assert.ok(
    html.includes("Ring me &lt;b>any&lt;/b> time"),
    "greeting is escaped",
  );
  assert.ok(html.includes("--accent: #ff5500"));
  assert.match(html, /<button[^>]*>Call @carol<\/button>/);
  assert.ok(html.includes("Offline right now"));
  assert.match(
    html,
    /<!--frsh-caller_default:/,
    "the Call island is marked",
  );
});

Deno.test("profile: bad edits are refused and change nothing", async () => {
  await using app = await testApp();
  const c = app.client();
  const noHandle = await (async () => {
    await c.signIn(newWallet());
    return c.json("/api/me/profile", {
      method: "PATCH",
      body: { displayName: "X" },
    });
  })();
  assert.equal(noHandle.status, 409);
  assert.equal(noHandle.body.error, "no_handle");
  await c.json("/api/handles", { method: "POST", body: { handle: "dave" } });
  const bad: unknown[] = [
    { accentColor: "red" },
    { accentColor: "#12345" },
    { displayName: "" },
    { displayName: "x".repeat(51) },
    { greeting: "y".repeat(281) },
    { displayName: "evil\u202Ename" },
    { walletPubkey: "stolen" },
    {},
    [],
  ];
  for (const body of bad) {
    const res = await c.json("/api/me/profile", { method: "PATCH", body });
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(res.body.error, "invalid_request");
  }
  const pub = await c.json<{ displayName: string; accentColor: string }>(
    "/handles/dave",
  );
  assert.equal(pub.body.displayName, "dave");
  assert.equal(pub.body.accentColor, "#2563eb");
  const anon = await app.client().json("/api/me/profile", {
    method: "PATCH",
    body: { displayName: "Mallory" },
  });
  assert.equal(anon.status, 401);
});

Deno.test("public lookups: unknown handles are 404, addresses are canonical", async () => {
  await using app = await testApp();
  const c = app.client();
  const missing = await c.json("/handles/nobody_here");
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error, "not_found");
  const invalid = await c.json("/handles/x");
  assert.equal(invalid.status, 404);
  const page = await c.request("/@nobody_here");
  assert.equal(page.status, 404);
  const html = await page.text();
  assert.ok(html.includes("No one is at @nobody_here yet"));
  await c.signIn(newWallet());
  await c.json("/api/handles", { method: "POST", body: { handle: "erin" } });
  const upper = await c.request("/@Erin");
  assert.equal(upper.status, 301);
  assert.equal(upper.headers.get("location"), "/@erin");
  const go = await c.request("/go?handle=%40Erin");
  assert.equal(go.status, 303);
  assert.equal(go.headers.get("location"), "/@erin");
});
