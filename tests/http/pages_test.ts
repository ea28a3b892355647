import assert from "node:assert/strict";
import { loadConfig, setConfig } from "@/lib/config.ts";
import { TEST_ENV, testApp } from "../_helpers/app.ts";
import { newWallet } from "../_helpers/wallet.ts";

function scriptNonces(html: string): string[] {
  return [...html.matchAll(/<script\b[^>]*>/g)].map((m) =>
    /nonce="([^"]+)"/.exec(m[0])?.[1] ?? ""
  );
}

Deno.test("pages: CSP with a fresh nonce per response, on every script", async () => {
  await using app = await testApp();
  const c = app.client();
  await c.signIn(newWallet());
  await c.json("/api/handles", { method: "POST", body: { handle: "frank" } });
  const seen = new Set<string>();
  for (const path of ["/", "/@frank", "/me"]) {
    const res = await app.client().request(path);
    assert.equal(res.status, 200, path);
    const csp = res.headers.get("content-security-policy")!;
    assert.ok(csp, `${path} has a CSP`);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /frame-ancestors 'none'/);
    const nonce = /'nonce-([^']+)'/.exec(csp)?.[1];
    assert.ok(nonce, `${path}: script-src carries a nonce`);
    assert.ok(!seen.has(nonce!), "nonces are not reused");
    seen.add(nonce!);
    const html = await res.text();
    const nonces = scriptNonces(html);
    assert.ok(nonces.length > 0, `${path} has island scripts`);
    for (const n of nonces) assert.equal(n, nonce, `${path}: script nonce`);
  }
});

Deno.test("pages: security headers on pages, API answers and static files", async () => {
  await using app = await testApp();
  const c = app.client();
  for (const path of ["/", "/security", "/handles/nobody", "/styles.css"]) {
    const res = await c.request(path);
    await res.body?.cancel();
    const h = res.headers;
    assert.equal(h.get("x-content-type-options"), "nosniff", path);
    assert.equal(h.get("referrer-policy"), "no-referrer", path);
    assert.match(h.get("permissions-policy")!, /microphone=\(self\)/, path);
    assert.match(h.get("content-security-policy")!, /frame-ancestors 'none'/);
    assert.equal(
      h.get("strict-transport-security"),
      null,
      "no HSTS outside production",
    );
  }
  setConfig(loadConfig({
    ...TEST_ENV,
    REACH_ENV: "production",
    REACH_ORIGIN: "https://reach.example",
  }));
  const prod = await c.request("/security");
  await prod.body?.cancel();
  assert.match(prod.headers.get("strict-transport-security")!, /max-age=\d+/);
});

Deno.test("pages: no JavaScript at all on pages without islands", async () => {
  await using app = await testApp();
  const c = app.client();
  for (const path of ["/security", "/@nobody_at_all"]) {
    const html = await (await c.request(path)).text();
    assert.ok(!/<script/i.test(html), `${path} ships no script`);
  }
});

Deno.test("pages: /me shows sign-in, then claim, then the profile editor", async () => {
  await using app = await testApp();
  const c = app.client();
  let html = await (await c.request("/me")).text();
  assert.ok(html.includes("Continue with a browser key"));
  await c.signIn(newWallet());
  html = await (await c.request("/me")).text();
  assert.ok(html.includes("Choose your handle"));
  await c.json("/api/handles", { method: "POST", body: { handle: "gina" } });
  html = await (await c.request("/me")).text();
  assert.ok(html.includes("Save profile"));
  assert.ok(html.includes('href="/@gina"'));
});

Deno.test("errors: unknown API paths answer JSON 404, pages a helpful HTML 404", async () => {
  await using app = await testApp();
  const c = app.client();
  const api = await c.json("/api/nope");
  assert.equal(api.status, 404);
  assert.deepEqual(Object.keys(api.body).sort(), ["error", "message"]);
  const page = await c.request("/no/such/page");
  assert.equal(page.status, 404);
  assert.match(page.headers.get("content-type")!, /text\/html/);
  assert.ok((await page.text()).includes("Page not found"));
});

Deno.test("security page: its log-field list is the logger's allow-list", async () => {
  await using app = await testApp();
  const html = await (await app.client().request("/security")).text();
  const { ALLOWED_FIELDS } = await import("@/lib/log.ts");
  for (const f of ALLOWED_FIELDS) assert.ok(html.includes(`<code>${f}</code>`));
  assert.ok(html.includes("DTLS-SRTP"), "says how voice is encrypted");
  assert.ok(
    html.includes("compromised server"),
    "says what it does not protect",
  );
  assert.ok(html.includes("Connection details"), "says how to check it");
});
