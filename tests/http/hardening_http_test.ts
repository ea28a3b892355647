/**
 * Hardening findings, each answered over HTTP by the real handler:
 * malformed escapes on /@…, thrown errors (security headers, JSON for /api/),
 * Host-independent redirects, invisible display names, reserved handles, and
 * the handle filter under many parallel claims.
 */
import assert from "node:assert/strict";
import { createHandler, type RouteModule } from "$fresh/server.ts";
import freshConfig from "@/fresh.config.ts";
import manifest from "@/fresh.gen.ts";
import { createFilter, has, paramsFromHeaders } from "@/lib/bloom.ts";
import { loadConfig, setConfig } from "@/lib/config.ts";
import { setLogSink } from "@/lib/log.ts";
import { setKv } from "@/lib/store/kv.ts";
import { ORIGIN, TEST_ENV, testApp, TestClient } from "../_helpers/app.ts";
import { filterChangesUnderClaims } from "../_helpers/kv_interference.ts";
import { newWallet } from "../_helpers/wallet.ts";
import { assertSecurityHeaders } from "../_helpers/headers.ts";

const INFO = {
  remoteAddr: { transport: "tcp" as const, hostname: "127.0.0.1", port: 40000 },
  completed: Promise.resolve(),
} as unknown as Deno.ServeHandlerInfo;

/** Signs in a new wallet and claims `handle`; returns the client. */
async function withHandle(
  app: { client(): TestClient },
  handle: string,
): Promise<TestClient> {
  const c = app.client();
  await c.signIn(newWallet());
  const res = await c.json("/api/handles", {
    method: "POST",
    body: { handle },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return c;
}

// 1. A malformed percent-escape after /@ is just "not found".

Deno.test("404: malformed escapes after /@ answer the normal 404 page", async () => {
  await using app = await testApp();
  const c = app.client();
  for (const path of ["/@%E0%A4%A", "/@%", "/@%ZZ", "/@abc%", "/@%C3"]) {
    const res = await c.request(path);
    assert.equal(res.status, 404, path);
    assert.match(res.headers.get("content-type") ?? "", /text\/html/, path);
    assertSecurityHeaders(res, path);
    const html = await res.text();
    assert.ok(html.includes("Page not found"), path);
  }
  // A well-formed escape still names the handle on the page.
  const named = await c.request("/@nob%6Fdy");
  assert.equal(named.status, 404);
  assert.ok((await named.text()).includes("No one is at @nobody yet"));
});

// 2. Thrown errors: security headers on every answer, JSON under /api/.

const boom = (): never => {
  throw new Error("test route failed");
};

/**
 * The real app (its middleware, _app, _500, fresh.config.ts) plus test-only
 * routes that throw: a handler, a page component, a nested middleware.
 */
async function throwingApp(
  extra: Record<string, RouteModule> = {},
): Promise<
  { handler: (req: Request) => Promise<Response> } & AsyncDisposable
> {
  const dir = await Deno.makeTempDir({ prefix: "reach-test-" });
  const kv = await Deno.openKv(`${dir}/kv.sqlite3`);
  setConfig(loadConfig(TEST_ENV));
  setKv(kv);
  setLogSink(() => {});
  const routes: Record<string, RouteModule> = {
    ...manifest.routes,
    "./routes/api/test_boom.ts": { handler: { GET: boom, POST: boom } },
    "./routes/test_boom.tsx": { handler: { GET: boom } },
    "./routes/test_boom_render.tsx": { default: boom },
    "./routes/api/test_mw/_middleware.ts": { handler: boom },
    "./routes/api/test_mw/inner.ts": {
      handler: { GET: () => new Response("unreachable") },
    },
    "./routes/test_mw/_middleware.ts": { handler: boom },
    "./routes/test_mw/inner.tsx": { default: () => null },
    ...extra,
  };
  const h = await createHandler({ ...manifest, routes }, freshConfig);
  return {
    handler: (req) => h(req, INFO),
    async [Symbol.asyncDispose]() {
      setKv(undefined);
      kv.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Runs `fn` with console.error silenced (the framework reports each error there). */
async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const orig = console.error;
  console.error = () => {};
  try {
    return await fn();
  } finally {
    console.error = orig;
  }
}

Deno.test("errors: a throwing API route or API middleware answers JSON 500 with security headers", async () => {
  await using app = await throwingApp();
  const c = new TestClient(app.handler);
  await quietly(async () => {
    for (
      const [path, method] of [
        ["/api/test_boom", "GET"],
        ["/api/test_boom", "POST"],
        ["/api/test_mw/inner", "GET"],
      ] as const
    ) {
      const what = `${method} ${path}`;
      const res = await c.json(path, { method });
      assert.equal(res.status, 500, what);
      assert.match(
        res.res.headers.get("content-type") ?? "",
        /^application\/json/,
        what,
      );
      assert.deepEqual(Object.keys(res.body).sort(), ["error", "message"]);
      assert.equal(res.body.error, "server_error", what);
      assert.equal(typeof res.body.message, "string", what);
      assert.ok(!String(res.body.message).includes("test route failed"));
      assertSecurityHeaders(res.res, what);
    }
  });
});

Deno.test("errors: a throwing page handler, page or middleware renders the 500 page with security headers", async () => {
  await using app = await throwingApp();
  const c = new TestClient(app.handler);
  await quietly(async () => {
    for (const path of ["/test_boom", "/test_boom_render", "/test_mw/inner"]) {
      const res = await c.request(path);
      assert.equal(res.status, 500, path);
      assert.match(res.headers.get("content-type") ?? "", /text\/html/, path);
      assertSecurityHeaders(res, path);
      const html = await res.text();
      assert.ok(html.includes("Something went wrong"), path);
      assert.ok(!html.includes("test route failed"), path);
    }
    const head = await c.request("/test_boom", { method: "HEAD" });
    assert.equal(head.status, 500);
    assert.equal(head.body, null);
    assertSecurityHeaders(head, "HEAD /test_boom");
  });
});

Deno.test("errors: when even the 500 page fails, the last-resort answer has security headers", async () => {
  await using app = await throwingApp({
    "./routes/_500.tsx": { default: boom },
  });
  const c = new TestClient(app.handler);
  await quietly(async () => {
    const page = await c.request("/test_boom");
    assert.equal(page.status, 500);
    assertSecurityHeaders(page, "/test_boom");
    await page.body?.cancel();
    const api = await c.json("/api/test_boom");
    assert.equal(api.status, 500);
    assert.equal(api.body.error, "server_error");
    assertSecurityHeaders(api.res, "/api/test_boom");
  });
});

// 4. Redirects never carry the Host header's name.

Deno.test("redirects: Location is relative, whatever the Host header says", async () => {
  await using app = await testApp();
  await withHandle(app, "bob");
  const cases: [string, number, string][] = [
    ["/security/", 307, "/security"],
    ["/security/?a=1&b=2", 307, "/security?a=1&b=2"],
    ["/me///", 307, "/me"],
    ["/@Bob", 301, "/@bob"],
    ["/go?handle=bob", 303, "/@bob"],
    ["/go?handle=Not%20A%20Handle", 303, "/@Not%20A%20Handle"],
  ];
  for (const [path, status, location] of cases) {
    for (
      const req of [
        new Request(`http://evil.example${path}`),
        new Request(`${ORIGIN}${path}`, { headers: { host: "evil.example" } }),
      ]
    ) {
      const res = await app.handler(req);
      await res.body?.cancel();
      assert.equal(res.status, status, path);
      assert.equal(res.headers.get("location"), location, path);
    }
  }
  // A path that starts with slashes must not become a protocol-relative URL.
  for (
    const path of ["//evil.example/", "///evil.example//", "/\\evil.example/"]
  ) {
    const res = await app.handler(new Request(`http://localhost:8000${path}`));
    await res.body?.cancel();
    const location = res.headers.get("location") ?? "";
    assert.match(location, /^\/(?![/\\])/, `${path} → ${location}`);
    assertSecurityHeaders(res, path);
  }
});

// 5. Names: invisible display names, reserved handles.

const INVISIBLE_NAMES = [
  "\u3164", // HANGUL FILLER
  "\u2800", // BRAILLE PATTERN BLANK
  "\u115F",
  "\u1160",
  "\uFFA0",
  "\u200B",
  "\u200C\u200D",
  "\u200E\u200F",
  "\u2060\u2061\u2062\u2063\u2064",
  "\uFEFF",
  "\u180E",
  "\u034F",
  "\u00AD", // SOFT HYPHEN, default-ignorable
  "\u{E0041}\u{E0042}", // tag characters
  "\uFE0F",
  "\u3164 \u2800",
  "  \u3164\u3164  ",
  "\u115F\u200B\u2800\u034F",
  "\u2800\u0301", // a blank with a combining mark on it
];

Deno.test("profile: display names made only of invisible characters are refused with why", async () => {
  await using app = await testApp();
  const c = await withHandle(app, "nora");
  for (const displayName of INVISIBLE_NAMES) {
    const what = JSON.stringify(displayName);
    const res = await c.json("/api/me/profile", {
      method: "PATCH",
      body: { displayName },
    });
    assert.equal(res.status, 400, what);
    assert.deepEqual(Object.keys(res.body).sort(), ["error", "message"], what);
    assert.equal(res.body.error, "invalid_request", what);
    assert.match(String(res.body.message), /visible/i, what);
  }
  const kept = await c.json("/api/me/profile");
  assert.equal(kept.body.displayName, "nora", "nothing was saved");
  for (
    const displayName of ["Nora", "Zoë ✨", "한국어", "❤️", "李 小龙", "O'Neil"]
  ) {
    const res = await c.json("/api/me/profile", {
      method: "PATCH",
      body: { displayName },
    });
    assert.equal(res.status, 200, displayName);
    assert.equal(res.body.displayName, displayName);
  }
});

/** Handles that pretend to be the service: each must be refused. */
const IMPERSONATING_HANDLES = [
  "reach",
  "support",
  "admin",
  "security",
  "official",
  "reach_support",
  "reachofficial",
  "admin1",
  "admin_1",
  "the_admin",
  "support_team",
  "reach_app",
  "security_team",
  "help",
  "helpdesk",
  "help_desk",
  "ops",
  "operator",
  "root",
  "system",
  "staff",
  "moderator",
  "team_reach",
  "official_reach",
  "reach2024",
  "realreach",
  "sysadmin",
  "reach_help",
  "_reach_",
  "staff_2",
  "trust_and_safety",
];

Deno.test("claim: handles that impersonate the service are reserved", async () => {
  await using app = await testApp();
  const c = app.client();
  await c.signIn(newWallet());
  for (const handle of IMPERSONATING_HANDLES) {
    for (const typed of [handle, handle.toUpperCase(), `@${handle}`]) {
      const res = await c.json("/api/handles", {
        method: "POST",
        body: { handle: typed },
      });
      assert.equal(res.status, 400, typed);
      assert.equal(res.body.error, "reserved_handle", typed);
      assert.match(String(res.body.message), /reserved/, typed);
    }
  }
  // Ordinary handles, including words that merely contain a reserved one.
  for (
    const handle of ["nora_e2e", "breach_fan", "badminton_club", "preacher"]
  ) {
    await withHandle(app, handle);
  }
});

// 3. The handle filter is not the bottleneck of claims.

Deno.test("claim: 200 parallel claims of distinct handles all succeed and all reach the filter", async () => {
  await using app = await testApp();
  const N = 200;
  const clients = await Promise.all(
    Array.from({ length: N }, async () => {
      const c = app.client();
      const signed = await c.signIn(newWallet());
      assert.equal(signed.status, 200);
      return c;
    }),
  );
  const handles = clients.map((_, i) => `crowd_${i}`);
  const results = await Promise.all(
    clients.map((c, i) =>
      c.json("/api/handles", { method: "POST", body: { handle: handles[i] } })
    ),
  );
  const statuses = results.map((r) => r.status);
  assert.deepEqual(
    statuses.filter((s) => s !== 201),
    [],
    JSON.stringify(results.find((r) => r.status !== 201)?.body),
  );
  const res = await app.client().request("/handles/bloom");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("x-bloom-count"), String(N));
  const params = paramsFromHeaders(res.headers);
  assert.ok(params);
  const filter = createFilter(params, new Uint8Array(await res.arrayBuffer()));
  const missing = handles.filter((h) => !has(filter, h));
  assert.deepEqual(missing, []);
});

Deno.test("claim: a claim answers 201 even when other claims change the filter under it every time", async () => {
  await using app = await testApp();
  await withHandle(app, "first_here"); // the filter exists from here on
  // The app's KV, where before each claim commits another claim's filter
  // bits land (what parallel claims do by chance, here every time).
  setKv(filterChangesUnderClaims(app.kv));
  const handles = Array.from({ length: 20 }, (_, i) => `busy_${i}`);
  const results = await Promise.all(handles.map(async (handle) => {
    const c = app.client();
    await c.signIn(newWallet());
    return await c.json("/api/handles", { method: "POST", body: { handle } });
  }));
  assert.deepEqual(
    results.map((r) => r.status),
    handles.map(() => 201),
    JSON.stringify(results.find((r) => r.status !== 201)?.body),
  );
  const res = await app.client().request("/handles/bloom");
  const filter = createFilter(
    paramsFromHeaders(res.headers)!,
    new Uint8Array(await res.arrayBuffer()),
  );
  assert.deepEqual(handles.filter((h) => !has(filter, h)), []);
});
