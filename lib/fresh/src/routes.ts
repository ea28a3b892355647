// Turns a Manifest's `routes` into a sorted route table plus the special
// files (_app, _layout, _middleware, _404, _500).
// deno-lint-ignore-file no-explicit-any

import {
  compareRoutePaths,
  compilePattern,
  MODULE_EXT,
  pathToPattern,
  TEST_FILE,
} from "./router.ts";
import type { Layer } from "./render.ts";
import type {
  Handler,
  Handlers,
  MiddlewareHandler,
  RouteConfig,
  RouteModule,
} from "./types.ts";

export interface Route {
  file: string;
  pattern: string;
  matcher: URLPattern;
  /** Folders (relative to routes/, groups included) from root to leaf. */
  dirs: string[];
  page?: Layer;
  handler?: Handler | Handlers;
  config?: RouteConfig;
  layouts: Layer[];
  middlewares: MiddlewareHandler<any>[];
}

export interface SpecialPage {
  page?: Layer;
  handler?: Handler | Handlers;
}

export interface RouteTable {
  routes: Route[];
  app?: Layer;
  notFound?: SpecialPage;
  error?: SpecialPage;
  /** Layouts and middleware of `routes/` itself. */
  rootLayouts: Layer[];
  rootMiddlewares: MiddlewareHandler<any>[];
}

function dirsOf(path: string): string[] {
  const parts = path.split("/").slice(0, -1);
  return parts.map((_, i) => parts.slice(0, i + 1).join("/"));
}

function middlewareList(mod: RouteModule): MiddlewareHandler<any>[] {
  const h = mod.handler;
  if (Array.isArray(h)) return h;
  if (typeof h === "function") return [h as MiddlewareHandler<any>];
  return [];
}

export function buildRouteTable(
  routes: Record<string, RouteModule>,
): RouteTable {
  const layoutsByDir = new Map<string, Layer>();
  const middlewaresByDir = new Map<string, MiddlewareHandler<any>[]>();
  const table: RouteTable = {
    routes: [],
    rootLayouts: [],
    rootMiddlewares: [],
  };
  const pages: [string, RouteModule][] = [];

  for (const [key, mod] of Object.entries(routes)) {
    if (!key.startsWith("./routes/") || !MODULE_EXT.test(key)) continue;
    const path = key.slice("./routes/".length);
    if (TEST_FILE.test(path)) continue;
    const name = path.split("/").at(-1)!.replace(MODULE_EXT, "");
    const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "";
    const special = (mod: RouteModule): SpecialPage => ({
      page: mod.default
        ? { component: mod.default, config: mod.config }
        : undefined,
      handler: mod.handler as Handler | Handlers | undefined,
    });
    if (name === "_layout") {
      layoutsByDir.set(dir, { component: mod.default, config: mod.config });
    } else if (name === "_middleware") {
      middlewaresByDir.set(dir, middlewareList(mod));
    } else if (name === "_app" && dir === "") {
      table.app = { component: mod.default, config: mod.config };
    } else if (name === "_404" && dir === "") {
      table.notFound = special(mod);
    } else if (name === "_500" && dir === "") {
      table.error = special(mod);
    } else if (!name.startsWith("_")) {
      pages.push([path, mod]);
    }
  }

  pages.sort(([a], [b]) => compareRoutePaths(a, b));
  for (const [path, mod] of pages) {
    const dirs = ["", ...dirsOf(path)];
    const pattern = mod.config?.routeOverride ?? pathToPattern(path);
    table.routes.push({
      file: `./routes/${path}`,
      pattern,
      matcher: compilePattern(pattern),
      dirs,
      page: mod.default
        ? { component: mod.default, config: mod.config }
        : undefined,
      handler: mod.handler as Handler | Handlers | undefined,
      config: mod.config,
      layouts: dirs.flatMap((d) => layoutsByDir.get(d) ?? []),
      middlewares: dirs.flatMap((d) => middlewaresByDir.get(d) ?? []),
    });
  }
  table.rootLayouts = layoutsByDir.has("") ? [layoutsByDir.get("")!] : [];
  table.rootMiddlewares = middlewaresByDir.get("") ?? [];
  return table;
}
