/**
 * matchRoute's fast paths (exact literals, a literal-prefix check, simple
 * patterns as RegExps) answer exactly what URLPattern alone answers, for
 * pathnames as the handler passes them (`new URL(req.url).pathname`).
 */
import assert from "node:assert/strict";
import {
  compareRoutePaths,
  compilePattern,
  matchRoute,
  pathToPattern,
} from "../../lib/fresh/src/router.ts";
import { buildRouteTable } from "../../lib/fresh/src/routes.ts";
import fixtureManifest from "./fixture/fresh.gen.ts";

type R = { pattern: string; matcher: URLPattern };

/** The reference: URLPattern on every route, first match wins. */
function slowMatch<T extends R>(routes: readonly T[], pathname: string) {
  for (const route of routes) {
    const res = route.matcher.exec({ pathname });
    if (!res) continue;
    const params: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.pathname.groups)) {
      let d = v ?? "";
      try {
        d = decodeURIComponent(d);
      } catch { /* kept as is */ }
      params[k] = d;
    }
    return { route, params };
  }
  return undefined;
}

const PATHS = [
  "/",
  "",
  "/a",
  "/about",
  "/about/",
  "/About",
  "/%61bout",
  "/@",
  "/@ann",
  "/@Ann",
  "/@ann/x",
  "/@caf%C3%A9",
  "/@%E0%A4%A",
  "/@a.b",
  "/blog",
  "/blog/",
  "/blog/latest",
  "/blog/x",
  "/blog/x/y",
  "/old",
  "/old/",
  "/old/a/b/c",
  "/docs",
  "/docs/v1",
  "/docs/v1/x",
  "/a/x-y",
  "/a/x-y-z",
  "/a/-y",
  "/api/signal",
  "/api/auth/nonce",
  "/api/me/profile",
  "/api/handles/bob",
  "/api/nope",
  "/handles/bob",
  "/handles/bob/inbox-keys",
  "/me",
  "/me/x",
  "/ops",
  "/security",
  "/go",
  "/x/y/z",
  "/a b",
  "/%20",
  "/./a",
  "/a/../b",
  "/é",
  "//x//y",
].map((p) => new URL(`http://x${p}`).pathname); // what the handler passes

Deno.test("router fast paths agree with URLPattern on made-up routes", () => {
  const files = [
    "[...all].tsx",
    "[name].tsx",
    "@[handle].tsx",
    "blog/[slug].tsx",
    "blog/latest.tsx",
    "index.tsx",
    "about.tsx",
    "old/[...path].tsx",
    "docs/[[version]]/index.tsx",
    "a/[x]-[y].ts",
    "[a]/[b].ts",
  ].sort(compareRoutePaths);
  const routes = files.map((f) => ({
    file: f,
    pattern: pathToPattern(f),
    matcher: compilePattern(pathToPattern(f)),
  }));
  for (const p of PATHS) {
    const want = slowMatch(routes, p);
    const got = matchRoute(routes, p);
    assert.equal(got?.route, want?.route, p);
    assert.deepEqual(got?.params, want?.params, p);
  }
});

/** The app's route files, read from disk (its modules are not imported). */
async function appRouteFiles(dir = "", out: string[] = []): Promise<string[]> {
  const root = new URL("../../routes/", import.meta.url);
  for await (const e of Deno.readDir(new URL(dir, root))) {
    const rel = `${dir}${e.name}`;
    if (e.isDirectory) await appRouteFiles(`${rel}/`, out);
    else if (
      /\.[jt]sx?$/.test(e.name) && !e.name.startsWith("_") &&
      !/[_.]test\.[jt]sx?$/.test(e.name)
    ) out.push(rel);
  }
  return out;
}

Deno.test("router fast paths agree with URLPattern on the app's and fixture's routes", async () => {
  const app = (await appRouteFiles()).sort(compareRoutePaths).map((f) => ({
    file: f,
    pattern: pathToPattern(f),
    matcher: compilePattern(pathToPattern(f)),
  }));
  const fixture = buildRouteTable(fixtureManifest.routes).routes;
  for (const routes of [app, fixture]) {
    const extra = routes.map((r) =>
      r.pattern.replace(/:([A-Za-z_$][\w$]*)[*?+]?/g, "v")
    );
    for (const p of [...PATHS, ...extra, ...extra.map((e) => e + "/x")]) {
      const want = slowMatch<R & { file: string }>(routes, p);
      const got = matchRoute<R & { file: string }>(routes, p);
      assert.equal(got?.route.file, want?.route.file, p);
      assert.deepEqual(got?.params, want?.params, p);
    }
  }
});
