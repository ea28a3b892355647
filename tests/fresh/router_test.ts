import assert from "node:assert/strict";
import {
  compareRoutePaths,
  compilePattern,
  matchRoute,
  pathToPattern,
} from "../../lib/fresh/src/router.ts";
import { fixture, text } from "./helpers.ts";

Deno.test("file names map to URL patterns", () => {
  assert.equal(pathToPattern("index.tsx"), "/");
  assert.equal(pathToPattern("about.tsx"), "/about");
  assert.equal(pathToPattern("blog/index.tsx"), "/blog");
  assert.equal(pathToPattern("blog/[slug].tsx"), "/blog/:slug");
  assert.equal(pathToPattern("old/[...path].tsx"), "/old/:path*");
  assert.equal(
    pathToPattern("docs/[[version]]/index.tsx"),
    "/docs{/:version}?",
  );
  assert.equal(pathToPattern("@[handle].tsx"), "/@:handle");
  assert.equal(pathToPattern("(group)/x.tsx"), "/x");
  assert.equal(pathToPattern("(a)/(b)/index.tsx"), "/");
  assert.equal(pathToPattern("a/[x]-[y].ts"), "/a/:x-:y");
});

Deno.test("routes sort literal > param > rest per segment", () => {
  const paths = [
    "[...all].tsx",
    "[name].tsx",
    "@[handle].tsx",
    "blog/[slug].tsx",
    "blog/latest.tsx",
    "index.tsx",
    "about.tsx",
  ];
  const sorted = [...paths].sort(compareRoutePaths);
  const rank = (p: string) => sorted.indexOf(p);
  assert.ok(rank("about.tsx") < rank("@[handle].tsx"));
  assert.ok(rank("@[handle].tsx") < rank("[name].tsx"));
  assert.ok(rank("[name].tsx") < rank("[...all].tsx"));
  assert.ok(rank("blog/latest.tsx") < rank("blog/[slug].tsx"));
  assert.ok(rank("index.tsx") < rank("[...all].tsx"));

  const routes = sorted.map((p) => ({
    file: p,
    pattern: pathToPattern(p),
    matcher: compilePattern(pathToPattern(p)),
  }));
  assert.equal(
    matchRoute(routes, "/blog/latest")?.route.file,
    "blog/latest.tsx",
  );
  assert.equal(matchRoute(routes, "/blog/x")?.route.file, "blog/[slug].tsx");
  assert.equal(matchRoute(routes, "/@ann")?.route.file, "@[handle].tsx");
  assert.equal(matchRoute(routes, "/ann")?.route.file, "[name].tsx");
  assert.equal(matchRoute(routes, "/a/b/c")?.route.file, "[...all].tsx");
  assert.deepEqual(matchRoute(routes, "/caf%C3%A9")?.params, { name: "café" });
});

Deno.test("fixture routing: order and params", async () => {
  const get = await fixture();
  const cases: [string, string, string][] = [
    ["/blog/latest", "", "latest post"],
    ["/blog/hello", "slug", "hello"],
    ["/old/a/b", "rest", "[a/b]"],
    ["/old", "rest", "[]"],
    ["/docs", "version", "[]"],
    ["/docs/v2", "version", "[v2]"],
    ["/@bob", "handle", "bob"],
    ["/bob", "name", "bob"],
    ["/custom/42", "override", "42"],
  ];
  for (const [path, id, want] of cases) {
    const res = await get(path);
    assert.equal(res.status, 200, path);
    const html = await res.text();
    if (id) assert.equal(text(html, id), want, path);
    else assert.ok(html.includes(want), path);
  }
  const profile = await (await get("/@bob")).text();
  assert.ok(profile.includes('data-route="/@:handle"'));
  // the group folder is not part of the URL
  assert.equal((await get("/pricing")).status, 200);
  assert.equal((await get("/(marketing)/pricing")).status, 404);
  // *_test.ts files are not routes: "/index_test" falls to [name]
  assert.equal(
    text(await (await get("/index_test")).text(), "name"),
    "index_test",
  );
  // routeOverride replaces the file pattern
  assert.equal((await get("/override")).status, 200);
  assert.equal(text(await (await get("/override")).text(), "name"), "override");
});
