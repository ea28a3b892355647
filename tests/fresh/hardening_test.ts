// Redirects never built from the Host header, and the onFrameworkResponse
// hook for what the framework answers past the middleware chain.
import assert from "node:assert/strict";
import { createHandler, type FreshConfig } from "$fresh/server.ts";
import manifest from "./fixture/fresh.gen.ts";
import { NO_BUILD_DIR, text } from "./helpers.ts";

/** The fixture app, called with whole Requests (any URL, any Host). */
async function app(config: FreshConfig = {}) {
  const handler = await createHandler(manifest, {
    build: { outDir: NO_BUILD_DIR },
    ...config,
  });
  return (req: Request) =>
    handler(req, {
      remoteAddr: { transport: "tcp", hostname: "10.0.0.7", port: 4321 },
      completed: Promise.resolve(),
    });
}

Deno.test("trailing-slash redirects: relative Location, never the Host", async () => {
  const serve = await app();
  const cases: [string, string][] = [
    ["/blog/x/?a=1", "/blog/x?a=1"],
    ["/blog/x///", "/blog/x"],
    ["/admin/", "/admin"],
    // Leading slashes collapse: no protocol-relative //evil.example.
    ["//evil.example/", "/evil.example"],
    ["///evil.example//x/", "/evil.example//x"],
    ["/\\evil.example/", "/evil.example"],
  ];
  for (const [path, location] of cases) {
    for (
      const req of [
        new Request(`http://evil.example${path}`),
        new Request(`http://localhost${path}`, {
          headers: { host: "evil.example" },
        }),
      ]
    ) {
      const res = await serve(req);
      assert.equal(res.status, 307, path);
      assert.equal(res.headers.get("location"), location, path);
    }
  }
  // trailingSlash: true adds the slash, also relatively.
  const slashy = await app({ router: { trailingSlash: true } });
  const res = await slashy(new Request("http://evil.example/blog/x?a=1"));
  assert.equal(res.status, 307);
  assert.equal(res.headers.get("location"), "/blog/x/?a=1");
  const based = await app({ router: { basePath: "/app" } });
  const inBase = await based(new Request("http://evil.example/app/blog/x/"));
  assert.equal(inBase.headers.get("location"), "/app/blog/x");
});

Deno.test("onFrameworkResponse sees redirects and escaped errors, not chain answers", async () => {
  const seen: string[] = [];
  const serve = await app({
    router: { basePath: "" },
    onFrameworkResponse(req, res) {
      seen.push(`${new URL(req.url).pathname} ${res.status}`);
      res.headers.set("x-hook", "1");
      return res;
    },
  });
  const errors: unknown[] = [];
  const orig = console.error;
  console.error = (e: unknown) => errors.push(e);
  try {
    // An error that escaped the middlewares: the hook gets the _500 page.
    const boom = await serve(new Request("http://localhost/boom"));
    assert.equal(boom.status, 500);
    assert.equal(boom.headers.get("x-hook"), "1");
    assert.equal(text(await boom.text(), "error"), "error: kaboom");
    const head = await serve(
      new Request("http://localhost/boom", {
        method: "HEAD",
      }),
    );
    assert.equal(head.headers.get("x-hook"), "1");
    assert.equal(head.body, null);
  } finally {
    console.error = orig;
  }
  assert.equal((errors[0] as Error).message, "kaboom");
  const redirect = await serve(new Request("http://localhost/blog/x/"));
  assert.equal(redirect.headers.get("x-hook"), "1");
  // Answers that went through the middleware chain are the middleware's job.
  const page = await serve(new Request("http://localhost/blog/x"));
  assert.equal(page.headers.get("x-hook"), null);
  await page.body?.cancel();
  const missing = await serve(new Request("http://localhost/no/such"));
  assert.equal(missing.status, 404);
  assert.equal(missing.headers.get("x-hook"), null);
  await missing.body?.cancel();
  assert.deepEqual(seen, ["/boom 500", "/boom 500", "/blog/x/ 307"]);

  // basePath 404s go past the chain too; a hook may answer with another response.
  const based = await app({
    router: { basePath: "/app" },
    onFrameworkResponse: (_req, res) =>
      new Response(`replaced ${res.status}`, { status: res.status }),
  });
  const outside = await based(new Request("http://localhost/elsewhere"));
  assert.equal(outside.status, 404);
  assert.equal(await outside.text(), "replaced 404");
});

Deno.test("onFrameworkResponse that throws: the response goes out unchanged", async () => {
  const serve = await app({
    onFrameworkResponse() {
      throw new Error("hook failed");
    },
  });
  const errors: unknown[] = [];
  const orig = console.error;
  console.error = (e: unknown) => errors.push(e);
  try {
    const res = await serve(new Request("http://localhost/blog/x/"));
    assert.equal(res.status, 307);
    assert.equal(res.headers.get("location"), "/blog/x");
  } finally {
    console.error = orig;
  }
  assert.equal((errors[0] as Error).message, "hook failed");
});
