import assert from "node:assert/strict";
import { fixture, text } from "./helpers.ts";

Deno.test("middleware runs root to leaf and ctx.next() returns the response", async () => {
  const get = await fixture();
  const res = await get("/admin");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("x-trail"), "root,admin1,admin2,handler");
  assert.equal(res.headers.get("x-admin"), "after-next");
  assert.equal(res.headers.get("x-root-mw"), "route");
  assert.equal(
    text(await res.text(), "trail"),
    "root>admin1>admin2>handler",
  );

  // a middleware may answer without calling next()
  const denied = await get("/admin?deny");
  assert.equal(denied.status, 403);
  assert.equal(await denied.text(), "denied");
  assert.equal(denied.headers.get("x-trail"), "root,admin1,admin2");

  // (group) middleware scopes to the group's routes only
  assert.equal(
    (await get("/pricing")).headers.get("x-trail"),
    "root,marketing",
  );
  assert.equal((await get("/bob")).headers.get("x-trail"), "root");
});

Deno.test("middleware sees every destination; unmatched URLs run root middleware only", async () => {
  const get = await fixture();
  const stat = await get("/hello.txt");
  assert.equal(stat.headers.get("x-root-mw"), "static");
  await stat.body?.cancel();
  const missing = await get("/admin/nope/deeper");
  assert.equal(missing.status, 404);
  assert.equal(missing.headers.get("x-root-mw"), "notFound");
  assert.equal(missing.headers.get("x-trail"), "root");
  await missing.body?.cancel();
  const internal = await get("/_frsh/js/abc/x.js");
  assert.equal(internal.status, 404);
  assert.equal(internal.headers.get("x-root-mw"), "internal");
  await internal.body?.cancel();
});

Deno.test("_app and layouts wrap pages root to leaf; skip flags honoured", async () => {
  const get = await fixture();
  const html = await (await get("/admin")).text();
  assert.ok(html.startsWith('<!DOCTYPE html><html lang="en">'));
  const order = [
    '<body class="app">',
    "layout-root",
    "layout-admin",
    'id="trail"',
  ]
    .map((s) => html.indexOf(s));
  assert.ok(order.every((i) => i >= 0), html);
  assert.deepEqual(order, [...order].sort((a, b) => a - b));

  const group = await (await get("/pricing")).text();
  assert.ok(group.indexOf("layout-root") < group.indexOf("layout-marketing"));

  const bare = await (await get("/admin/bare")).text();
  assert.ok(!bare.includes("layout-") && !bare.includes('class="app"'));
  assert.ok(bare.includes('<p id="bare">bare</p>'));
  assert.ok(bare.includes('<head><meta charset="utf-8">'));
});

Deno.test("Head children go into <head>", async () => {
  const get = await fixture();
  const html = await (await get("/")).text();
  const head = html.slice(0, html.indexOf("</head>"));
  assert.ok(head.includes('<meta name="fixture" content="home"/>'));
  assert.ok(head.includes("<title>fixture</title>"));
});

Deno.test("ctx.render(data, init), POST handler and async routes", async () => {
  const get = await fixture();
  const res = await get("/form");
  assert.equal(res.status, 201);
  assert.equal(res.headers.get("x-custom"), "yes");
  assert.equal(text(await res.text(), "name"), "get");

  const body = new FormData();
  body.set("name", "posted");
  const post = await get("/form", { method: "POST", body });
  assert.equal(text(await post.text(), "name"), "posted");

  assert.equal(text(await (await get("/async?q=hey")).text(), "async"), "hey");
  const redirect = await get("/async?q=redirect");
  assert.equal(redirect.status, 303);
  assert.equal(redirect.headers.get("location"), "/");
});

Deno.test("404 page, renderNotFound(data), thrown errors → _500", async () => {
  const get = await fixture();
  const nf = await get("/no/such/page");
  assert.equal(nf.status, 404);
  const nfHtml = await nf.text();
  assert.ok(nfHtml.includes("not found: /no/such/page"));
  assert.ok(nfHtml.includes('<body class="app">'), "_app wraps _404");

  const rnf = await get("/missing");
  assert.equal(rnf.status, 404);
  assert.ok((await rnf.text()).includes("not found: /missing no such thing"));

  const errors: unknown[] = [];
  const orig = console.error;
  console.error = (e: unknown) => errors.push(e);
  try {
    const boom = await get("/boom");
    assert.equal(boom.status, 500);
    assert.equal(text(await boom.text(), "error"), "error: kaboom");
  } finally {
    console.error = orig;
  }
  assert.equal((errors[0] as Error).message, "kaboom");
});

Deno.test("method not allowed → 405 with Allow; handler functions get every method", async () => {
  const get = await fixture();
  const res = await get("/api/echo");
  assert.equal(res.status, 405);
  assert.equal(res.headers.get("allow"), "POST, DELETE");
  await res.body?.cancel();
  const post = await get("/api/echo", { method: "POST", body: "ping" });
  assert.equal(await post.text(), "ping");
  const del = await get("/api/echo", { method: "DELETE" });
  assert.equal(del.status, 204);
  const page = await get("/blog/x", { method: "PUT" });
  assert.equal(page.status, 405);
  assert.equal(page.headers.get("allow"), "GET, HEAD");
  await page.body?.cancel();
  for (const method of ["GET", "PATCH", "OPTIONS"]) {
    const r = await get("/api/any", { method });
    assert.deepEqual(await r.json(), { method });
  }
});

Deno.test("trailing slash → 307 without it", async () => {
  const get = await fixture();
  const res = await get("/blog/x/?a=1");
  assert.equal(res.status, 307);
  assert.equal(res.headers.get("location"), "/blog/x?a=1");
  assert.equal((await get("/")).status, 200);
});

Deno.test("HEAD answers like GET without a body", async () => {
  const get = await fixture();
  for (const path of ["/form", "/blog/x", "/api/any", "/hello.txt"]) {
    const g = await get(path);
    const h = await get(path, { method: "HEAD" });
    assert.equal(h.status, g.status, path);
    assert.equal(h.body, null, path);
    const strip = (r: Response) =>
      [...r.headers].filter(([k]) =>
        k !== "content-length" || path === "/hello.txt"
      );
    assert.deepEqual(strip(h), strip(g), path);
    await g.body?.cancel();
  }
});

Deno.test("static files: content type, ETag, 304, cache headers", async () => {
  const get = await fixture();
  const res = await get("/css/app.css");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/css; charset=UTF-8");
  assert.equal(
    res.headers.get("cache-control"),
    "public, max-age=60, must-revalidate",
  );
  const etag = res.headers.get("etag")!;
  assert.match(etag, /^"[0-9a-f]{40}"$/);
  assert.equal(
    await res.text(),
    await Deno.readTextFile(
      new URL("./fixture/static/css/app.css", import.meta.url),
    ),
  );

  const again = await get("/css/app.css", {
    headers: { "if-none-match": etag },
  });
  assert.equal(again.status, 304);
  assert.equal(again.body, null);
  assert.equal(again.headers.get("etag"), etag);
  const weak = await get("/css/app.css", {
    headers: { "if-none-match": `W/${etag}` },
  });
  assert.equal(weak.status, 304);
  const other = await get("/css/app.css", {
    headers: { "if-none-match": '"nope"' },
  });
  assert.equal(other.status, 200);
  await other.body?.cancel();

  // asset() URLs (?__frsh_c=BUILD_ID) are immutable
  const page = await (await get("/islands")).text();
  const src = page.match(/src="(\/css\/app\.css\?__frsh_c=[0-9a-f]{40})"/)![1];
  const busted = await get(src);
  assert.equal(
    busted.headers.get("cache-control"),
    "public, max-age=31536000, immutable",
  );
  await busted.body?.cancel();
  const stale = await get("/css/app.css?__frsh_c=old");
  assert.equal(
    stale.headers.get("cache-control"),
    "public, max-age=60, must-revalidate",
  );
  await stale.body?.cancel();
});

Deno.test("ctx fields: remoteAddr, url, params, route", async () => {
  const { createHandler } = await import("$fresh/server.ts");
  const seen: Record<string, unknown> = {};
  const handler = await createHandler({
    baseUrl: new URL("./fixture/fresh.gen.ts", import.meta.url).href,
    islands: {},
    routes: {
      "./routes/u/[id].ts": {
        handler(_req, ctx) {
          Object.assign(seen, {
            remote: ctx.remoteAddr.hostname,
            path: ctx.url.pathname,
            params: ctx.params,
            route: ctx.route,
            destination: ctx.destination,
            state: ctx.state,
          });
          return new Response("ok");
        },
      },
    },
  }, { build: { outDir: "/nonexistent" } });
  const res = await handler(new Request("http://x/u/7"), {
    remoteAddr: { transport: "tcp", hostname: "192.0.2.1", port: 1 },
    completed: Promise.resolve(),
  });
  assert.equal(await res.text(), "ok");
  assert.deepEqual(seen, {
    remote: "192.0.2.1",
    path: "/u/7",
    params: { id: "7" },
    route: "/u/:id",
    destination: "route",
    state: {},
  });
});
