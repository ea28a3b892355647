/**
 * Every route under routes/api/me/ is behind routes/api/me/_middleware.ts.
 * The route files are read from disk when the test runs, so a route added
 * there later is covered without touching this file: each method it exports
 * is sent signed out (401) and signed in without a handle (409), and neither
 * request may change anything in KV.
 */
import assert from "node:assert/strict";
import manifest from "@/fresh.gen.ts";
import { testApp, type TestClient } from "../_helpers/app.ts";
import { newWallet } from "../_helpers/wallet.ts";
import { assertSecurityHeaders } from "../_helpers/headers.ts";

const ROUTES_DIR = new URL("../../routes/", import.meta.url);
const ME_DIR = new URL("api/me/", ROUTES_DIR);
const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
const ROUTE_FILE = /\.(ts|tsx|js|jsx|mts|mjs)$/;
const TEST_FILE = /[._]test\.(ts|tsx|js|jsx|mts|mjs)$/;

interface MeRoute {
  /** As in the manifest: `./routes/api/me/…`. */
  file: string;
  /** A URL path the route answers. */
  path: string;
  methods: string[];
}

/** Files under `dir` (recursively), relative to routes/, sorted. */
async function routeFiles(dir: URL, rel = "api/me"): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isDirectory) {
      out.push(
        ...await routeFiles(new URL(`${e.name}/`, dir), `${rel}/${e.name}`),
      );
    } else if (
      e.isFile && ROUTE_FILE.test(e.name) && !TEST_FILE.test(e.name) &&
      !e.name.startsWith("_")
    ) {
      out.push(`${rel}/${e.name}`);
    }
  }
  return out.sort();
}

/** A concrete URL path for a route file: params filled, groups and index dropped. */
function pathOf(rel: string): string {
  const segments = rel.replace(ROUTE_FILE, "").split("/")
    .filter((s) => !/^\(.*\)$/.test(s))
    .map((s) => s.replace(/\[\[?(?:\.\.\.)?[^\]]+\]\]?/g, "x1"));
  if (segments.at(-1) === "index") segments.pop();
  return "/" + segments.join("/");
}

async function meRoutes(): Promise<MeRoute[]> {
  const routes: MeRoute[] = [];
  for (const rel of await routeFiles(ME_DIR)) {
    const mod = await import(new URL(rel, ROUTES_DIR).href);
    const h = mod.handler;
    // A handler function answers every method; an object, the ones it names.
    const methods = typeof h === "function"
      ? METHODS
      : METHODS.filter((m) => typeof h?.[m] === "function");
    routes.push({ file: `./routes/${rel}`, path: pathOf(rel), methods });
  }
  return routes;
}

/** Plausible bodies, so that a route without the guard would act on them. */
const BODIES: Record<string, unknown> = {
  "POST /api/me/inbox-keys": {
    keyId: crypto.randomUUID(),
    publicKey: new Uint8Array(32).fill(1).toBase64(),
  },
  "PATCH /api/me/phone": { discoverable: true },
  "POST /api/me/phone/start": { phone: "+14155550123" },
  "POST /api/me/phone/verify": { phone: "+14155550123", code: "123456" },
  "PATCH /api/me/profile": { displayName: "Mallory" },
};

/** Every KV key with its versionstamp: any write changes it. */
async function kvListing(kv: Deno.Kv): Promise<string[]> {
  const out: string[] = [];
  for await (const e of kv.list({ prefix: [] })) {
    out.push(`${Deno.inspect(e.key)} ${e.versionstamp}`);
  }
  return out;
}

/** Sends `method path` with `c`; asserts the refusal and that KV is unchanged. */
async function assertRefused(
  kv: Deno.Kv,
  c: TestClient,
  method: string,
  path: string,
  status: number,
  error: string,
  who: string,
): Promise<void> {
  const what = `${who}: ${method} ${path}`;
  const before = await kvListing(kv);
  const hasBody = method !== "GET" && method !== "HEAD";
  const res = await c.request(path, {
    method,
    body: hasBody ? BODIES[`${method} ${path}`] ?? {} : undefined,
  });
  assert.equal(res.status, status, what);
  assert.match(
    res.headers.get("content-type") ?? "",
    /^application\/json/,
    what,
  );
  assertSecurityHeaders(res, what);
  const text = await res.text();
  if (method === "HEAD") {
    assert.equal(text, "", what);
  } else {
    const body = JSON.parse(text);
    assert.deepEqual(Object.keys(body).sort(), ["error", "message"], what);
    assert.equal(body.error, error, what);
    assert.equal(typeof body.message, "string", what);
  }
  assert.deepEqual(await kvListing(kv), before, `${what} changed KV`);
}

Deno.test("api/me: the walk finds every route the app serves there", async () => {
  const routes = await meRoutes();
  const served = Object.keys(manifest.routes)
    .filter((f) =>
      f.startsWith("./routes/api/me/") &&
      !f.split("/").at(-1)!.startsWith("_")
    )
    .sort();
  assert.deepEqual(
    routes.map((r) => r.file),
    served,
    "routes/api/me/ and fresh.gen.ts differ: run `deno task manifest`",
  );
  assert.ok(
    "./routes/api/me/_middleware.ts" in manifest.routes,
    "the /api/me guard is in the manifest",
  );
  for (const r of routes) {
    assert.ok(r.methods.length > 0, `${r.file} exports no method`);
  }
});

Deno.test("api/me: signed out, every route and method answers 401 and changes nothing", async () => {
  await using app = await testApp();
  const anon = app.client();
  let sent = 0;
  for (const { path, methods } of await meRoutes()) {
    for (const method of methods) {
      await assertRefused(
        app.kv,
        anon,
        method,
        path,
        401,
        "not_signed_in",
        "signed out",
      );
      sent++;
    }
  }
  assert.ok(sent > 0);
});

Deno.test("api/me: signed in without a handle, every route and method answers 409 and changes nothing", async () => {
  await using app = await testApp();
  const c = app.client();
  const signed = await c.signIn(newWallet());
  assert.equal(signed.status, 200);
  assert.equal(signed.body.handle, null);
  let sent = 0;
  for (const { path, methods } of await meRoutes()) {
    for (const method of methods) {
      await assertRefused(
        app.kv,
        c,
        method,
        path,
        409,
        "no_handle",
        "no handle",
      );
      sent++;
    }
  }
  assert.ok(sent > 0);
  // Still signed in: the refusals did not end the session.
  assert.equal((await c.json("/api/auth/session")).status, 200);
});

Deno.test("api/me: an unknown path under /api/me is still the API's JSON 404", async () => {
  await using app = await testApp();
  const res = await app.client().json("/api/me/no-such-thing");
  assert.equal(res.status, 404);
  assert.equal(res.body.error, "not_found");
  assertSecurityHeaders(res.res, "/api/me/no-such-thing");
});
