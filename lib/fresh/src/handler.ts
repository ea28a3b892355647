// createHandler: request → middleware chain → static file, island chunk,
// route handler or page render; 404, 405, 500 and trailing slashes.
// deno-lint-ignore-file no-explicit-any

import { setBuildId } from "./asset.ts";
import { computeBuildId } from "./build_id.ts";
import { collectIslands, registerIslands } from "./islands.ts";
import { dirname, fromFileUrl, resolvePath } from "./paths.ts";
import { type ClientAssets, type Layer, renderPage } from "./render.ts";
import { matchRoute } from "./router.ts";
import { buildRouteTable, type Route, type SpecialPage } from "./routes.ts";
import {
  ChunkServer,
  chunkUrl,
  JS_PREFIX,
  loadSnapshot,
  type Snapshot,
  STATIC_DIR,
  staticClosure,
} from "./snapshot.ts";
import { StaticFiles } from "./static.ts";
import {
  type Destination,
  type FreshConfig,
  type FreshContext,
  type Handler,
  type Handlers,
  KNOWN_METHODS,
  type Manifest,
  type MiddlewareHandler,
  type RenderOptions,
  type ResolvedFreshConfig,
} from "./types.ts";

export type ServeHandler = (
  req: Request,
  info?: Deno.ServeHandlerInfo<Deno.Addr>,
) => Promise<Response>;

const DEFAULT_REMOTE: Deno.NetAddr = {
  transport: "tcp",
  hostname: "127.0.0.1",
  port: 80,
};

let warnedNoSnapshot = false;

export function resolveConfig(
  manifest: Manifest,
  config: FreshConfig = {},
): ResolvedFreshConfig {
  const baseDir = dirname(fromFileUrl(manifest.baseUrl));
  const basePath = (config.router?.basePath ?? "").replace(/\/+$/, "");
  return {
    build: {
      outDir: resolvePath(baseDir, config.build?.outDir ?? "_fresh"),
      target: config.build?.target ?? ["chrome99", "firefox99", "safari15"],
    },
    plugins: config.plugins ?? [],
    staticDir: resolvePath(baseDir, config.staticDir ?? "static"),
    router: { ...config.router, basePath },
    server: config.server ?? {},
    onFrameworkResponse: config.onFrameworkResponse,
    basePath,
    dev: false,
  };
}

function isHandlerObject(h: unknown): h is Handlers {
  return typeof h === "object" && h !== null;
}

export async function createHandler(
  manifest: Manifest,
  config: FreshConfig = {},
): Promise<ServeHandler> {
  const resolved = resolveConfig(manifest, config);
  if (resolved.plugins.length > 0) {
    console.warn("%c[fresh]", "color:orange", "plugins are not supported");
  }
  const table = buildRouteTable(manifest.routes);
  const islands = collectIslands(manifest.islands);
  registerIslands(islands);

  const outDir = resolved.build.outDir;
  const snapshot: Snapshot | undefined = await loadSnapshot(outDir);
  const buildId = snapshot?.buildId ??
    await computeBuildId(dirname(fromFileUrl(manifest.baseUrl)));
  setBuildId(buildId);
  let client: ClientAssets | undefined;
  if (snapshot) {
    const url = (f: string) => chunkUrl(buildId, f, resolved.basePath);
    client = {
      buildId,
      bootUrl: url(snapshot.boot),
      islandUrls: new Map(
        Object.entries(snapshot.islands).map(([id, f]) => [id, url(f)]),
      ),
      preloadUrls: new Map(
        Object.entries(snapshot.islands).map(([id, f]) => [
          id,
          staticClosure(snapshot, [snapshot.boot, f]).map(url),
        ]),
      ),
    };
  } else if (islands.length > 0 && !warnedNoSnapshot) {
    warnedNoSnapshot = true;
    console.warn(
      `[fresh] No island bundle at ${outDir}/snapshot.json: islands render ` +
        `as server HTML only. Run \`deno task build\` (dev.ts build).`,
    );
  }
  const statics = await StaticFiles.load(
    resolved.staticDir,
    snapshot?.static
      ? { dir: `${outDir}/${STATIC_DIR}`, files: snapshot.static }
      : undefined,
  );
  const chunks = new ChunkServer(outDir, snapshot);
  const trailingSlash = resolved.router.trailingSlash ?? false;
  const basePath = resolved.basePath;

  const onOwn = resolved.onFrameworkResponse;
  /** A response made outside the middleware chain: the app's hook sees it. */
  async function own(req: Request, res: Response): Promise<Response> {
    if (!onOwn) return res;
    try {
      return await onOwn(req, res);
    } catch (e) {
      console.error(e);
      return res;
    }
  }

  return async function handler(req, info) {
    const url = new URL(req.url);
    let pathname = url.pathname;
    if (basePath) {
      if (pathname !== basePath && !pathname.startsWith(basePath + "/")) {
        return dropBody(
          req,
          await own(req, new Response("Not Found", { status: 404 })),
        );
      }
      pathname = pathname.slice(basePath.length) || "/";
    }

    if (!trailingSlash && pathname.length > 1 && pathname.endsWith("/")) {
      const to = url.pathname.replace(/\/+$/, "") || "/";
      return await own(req, redirect(to, url.search));
    }
    if (
      trailingSlash && !pathname.endsWith("/") &&
      !/\.[^/]+$/.test(pathname)
    ) {
      return await own(req, redirect(url.pathname + "/", url.search));
    }

    const getLike = req.method === "GET" || req.method === "HEAD";
    let destination: Destination;
    let match: { route: Route; params: Record<string, string> } | undefined;
    if (pathname.startsWith(JS_PREFIX)) destination = "internal";
    else if (getLike && statics.has(pathname)) destination = "static";
    else if ((match = matchRoute(table.routes, pathname))) {
      destination = "route";
    } else destination = "notFound";

    const middlewares: MiddlewareHandler<any>[] = match
      ? match.route.middlewares
      : table.rootMiddlewares;

    const ctx: FreshContext<any, any> = {
      remoteAddr: (info?.remoteAddr as Deno.NetAddr) ?? DEFAULT_REMOTE,
      url,
      basePath,
      route: match?.route.pattern ?? "",
      pattern: match?.route.pattern ?? "",
      destination,
      params: match?.params ?? {},
      isPartial: false,
      state: {},
      config: resolved,
      data: undefined,
      renderNotFound: (data?: unknown) => renderNotFound(req, ctx, data),
      render: () => {
        throw new Error("ctx.render() is only available to route handlers");
      },
      Component: () => null,
      next: () => Promise.resolve(new Response(null, { status: 500 })),
    };

    const final = (): Promise<Response> => {
      switch (destination) {
        case "internal":
          return chunks.serve(req, pathname);
        case "static": {
          const u = new URL(url);
          u.pathname = pathname;
          return statics.serve(req, u, buildId);
        }
        case "route":
          return runRoute(req, ctx, match!.route);
        default:
          return runSpecial(req, ctx, table.notFound, 404);
      }
    };

    let i = 0;
    ctx.next = async () => {
      if (i < middlewares.length) return await middlewares[i++](req, ctx);
      i = middlewares.length + 1;
      return await final();
    };
    try {
      return dropBody(req, await ctx.next());
    } catch (error) {
      // It escaped every middleware: the error page goes out past them.
      return dropBody(req, await own(req, await renderError(req, ctx, error)));
    }
  };

  function renderNotFound(
    req: Request,
    ctx: FreshContext<any, any>,
    data?: unknown,
  ): Promise<Response> {
    ctx.data = data;
    return renderSpecialPage(req, ctx, table.notFound?.page, 404, data);
  }

  async function renderSpecialPage(
    req: Request,
    ctx: FreshContext<any, any>,
    page: Layer | undefined,
    status: number,
    data?: unknown,
    init?: RenderOptions,
    error?: unknown,
  ): Promise<Response> {
    if (!page?.component) {
      return new Response(
        status === 404 ? "Not Found" : "Internal Server Error",
        {
          status,
          headers: { "content-type": "text/plain; charset=utf-8" },
        },
      );
    }
    return await renderPage({
      req,
      ctx,
      page,
      layouts: table.rootLayouts,
      app: table.app,
      data,
      error,
      options: { ...init, status: init?.status ?? status },
      client,
    });
  }

  /** _404 / _500: run its handler if any, else render its page. */
  function runSpecial(
    req: Request,
    ctx: FreshContext<any, any>,
    special: SpecialPage | undefined,
    status: number,
  ): Promise<Response> {
    ctx.render = (data?: unknown, init?: RenderOptions) =>
      renderSpecialPage(req, ctx, special?.page, status, data, init, ctx.error);
    const handler = pickHandler(special?.handler, req.method);
    return Promise.resolve(handler ? handler(req, ctx) : ctx.render());
  }

  async function renderError(
    req: Request,
    ctx: FreshContext<any, any>,
    error: unknown,
  ): Promise<Response> {
    console.error(error);
    ctx.error = error;
    try {
      return await runSpecial(req, ctx, table.error, 500);
    } catch (e) {
      console.error(e);
      return new Response("Internal Server Error", { status: 500 });
    }
  }

  async function runRoute(
    req: Request,
    ctx: FreshContext<any, any>,
    route: Route,
  ): Promise<Response> {
    ctx.render = (data?: unknown, init?: RenderOptions) => {
      if (!route.page) {
        throw new Error(`${route.file} has no default export to render`);
      }
      ctx.data = data;
      return renderPage({
        req,
        ctx,
        page: route.page,
        layouts: route.layouts,
        app: table.app,
        data,
        options: init,
        client,
      });
    };
    const h = route.handler;
    if (typeof h === "function") return await h(req, ctx);
    const handlers: Handlers = isHandlerObject(h) ? { ...h } : {};
    if (route.page && !handlers.GET) {
      handlers.GET = (_req, ctx) => ctx.render();
    }
    const handler = pickHandler(handlers, req.method);
    if (!handler) {
      const allow = KNOWN_METHODS.filter((m) =>
        handlers[m] || (m === "HEAD" && handlers.GET)
      );
      return new Response("Method Not Allowed", {
        status: 405,
        headers: { allow: allow.join(", ") },
      });
    }
    return await handler(req, ctx);
  }
}

/** The handler for `method`; HEAD falls back to GET (body dropped later). */
function pickHandler(
  h: Handler | Handlers | undefined,
  method: string,
): Handler | undefined {
  if (typeof h === "function" || !h) return h;
  return (h as Record<string, Handler | undefined>)[method] ??
    (method === "HEAD" ? h.GET : undefined);
}

/** A HEAD response carries the GET response's status and headers only. */
function dropBody(req: Request, res: Response): Response {
  if (req.method !== "HEAD" || res.body === null) return res;
  res.body.cancel().catch(() => {});
  return new Response(null, {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers,
  });
}

/**
 * A 307 to `pathname` + `search` on this same origin. The Location is
 * relative, so the Host header (which the request URL is built from) never
 * chooses where a browser goes; and leading slashes are collapsed so that a
 * path like `//evil.example/` cannot become a protocol-relative URL.
 */
function redirect(pathname: string, search: string): Response {
  return new Response(null, {
    status: 307,
    headers: { location: pathname.replace(/^\/{2,}/, "/") + search },
  });
}
