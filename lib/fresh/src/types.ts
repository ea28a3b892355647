// Public types of the Fresh 1.x API subset (see ../README.md).
// Generic order follows Fresh 1.x: FreshContext<State, Data>, but
// Handlers<Data, State> and PageProps<Data, State>.
// deno-lint-ignore-file no-explicit-any

import type { ComponentChildren, ComponentType, VNode } from "preact";

export const KNOWN_METHODS = [
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "OPTIONS",
  "PATCH",
] as const;
export type KnownMethod = typeof KNOWN_METHODS[number];

export interface RouteConfig {
  /** A URLPattern pathname that replaces the file-based pattern. */
  routeOverride?: string;
  /** Send a Content-Security-Policy for this page (see `useCSP`). */
  csp?: boolean;
  /** Do not wrap this page (or layout) in `_app`. */
  skipAppWrapper?: boolean;
  /** Ignore the `_layout` files of parent folders. */
  skipInheritedLayouts?: boolean;
}

export interface RouterOptions {
  /** `true`: `/foo` redirects to `/foo/`; default `false`: `/foo/` to `/foo`. */
  trailingSlash?: boolean;
  /** Prefix under which the whole app is served, e.g. `/app`. */
  basePath?: string;
}

/** Fresh 1.x plugins are not implemented by this core; the type is kept. */
export interface Plugin {
  name: string;
}

export interface FreshConfig {
  build?: {
    /** Where `dev.ts build` writes the island bundle; default `_fresh`. */
    outDir?: string;
    target?: string | string[];
  };
  plugins?: Plugin[];
  /** Folder of static files; default `static`. */
  staticDir?: string;
  router?: RouterOptions;
  server?: Partial<Deno.ServeTcpOptions>;
  /**
   * Not in Fresh 1.x. Sees every response the framework answers by itself,
   * outside the middleware chain: trailing-slash redirects, `basePath` 404s,
   * and the error page (or plain 500) sent after an error escaped every
   * middleware. It returns the response to send (the same one, changed, or
   * another), so an app can give these the headers its middleware gives
   * everything else. If it throws, the response goes out unchanged.
   */
  onFrameworkResponse?: (
    req: Request,
    res: Response,
  ) => Response | Promise<Response>;
}

export interface ResolvedFreshConfig {
  build: { outDir: string; target: string | string[] };
  plugins: Plugin[];
  staticDir: string;
  router: RouterOptions;
  server: Partial<Deno.ServeTcpOptions>;
  onFrameworkResponse?: FreshConfig["onFrameworkResponse"];
  basePath: string;
  dev: boolean;
}

export interface RenderOptions {
  status?: number;
  statusText?: string;
  headers?: HeadersInit;
  /**
   * Not in Fresh 1.x (which ignores it): a key that names everything this
   * page's render reads (its data, the parts of `ctx.state` that the page,
   * its layouts and `_app` use, ...). A later render of the same page with
   * the same key may answer with the HTML, status and headers of the
   * earlier one, with a fresh CSP nonce and island state id. Honoured only
   * when `_app`, the layouts and the page are plain (not async) components.
   * Leave it unset when unsure: a key that misses an input serves one
   * person's page to another.
   */
  memoKey?: string;
}

export type Destination = "internal" | "static" | "route" | "notFound";

export interface FreshContext<
  State = Record<string, unknown>,
  Data = any,
  NotFoundData = Data,
> {
  localAddr?: Deno.NetAddr;
  remoteAddr: Deno.NetAddr;
  url: URL;
  basePath: string;
  /** The matched URLPattern pathname, e.g. `/blog/:slug`. */
  route: string;
  /** @deprecated Use `route`. */
  pattern: string;
  destination: Destination;
  params: Record<string, string>;
  isPartial: boolean;
  state: State;
  config: ResolvedFreshConfig;
  data: Data;
  error?: unknown;
  codeFrame?: unknown;
  renderNotFound: (data?: NotFoundData) => Response | Promise<Response>;
  render: (
    data?: Data,
    options?: RenderOptions,
  ) => Response | Promise<Response>;
  Component: ComponentType<Record<never, never>>;
  next: () => Promise<Response>;
}

/** @deprecated Fresh 1.x alias: use `FreshContext`. */
export type HandlerContext<
  Data = any,
  State = Record<string, unknown>,
  NotFoundData = Data,
> = FreshContext<State, Data, NotFoundData>;

/** @deprecated Fresh 1.x alias: use `FreshContext`. */
export type MiddlewareHandlerContext<State = Record<string, unknown>> =
  FreshContext<State>;

/** The context an async route component receives. */
export type RouteContext<T = any, S = Record<string, unknown>> = Omit<
  FreshContext<S, T>,
  "next" | "render"
>;

export type PageProps<T = any, S = Record<string, unknown>> = Omit<
  FreshContext<S, T>,
  "render" | "next" | "renderNotFound"
>;
export type AppProps<T = any, S = Record<string, unknown>> = PageProps<T, S>;
export type LayoutProps<T = any, S = Record<string, unknown>> = PageProps<
  T,
  S
>;
export type UnknownPageProps<T = any, S = Record<string, unknown>> = PageProps<
  T,
  S
>;
export type ErrorPageProps<T = any, S = Record<string, unknown>> =
  & PageProps<T, S>
  & { error: unknown };

export type Handler<T = any, State = Record<string, unknown>> = (
  req: Request,
  ctx: FreshContext<State, T>,
) => Response | Promise<Response>;

export type Handlers<T = any, State = Record<string, unknown>> = {
  [K in KnownMethod]?: Handler<T, State>;
};

export type MiddlewareHandler<State = Record<string, unknown>> = (
  req: Request,
  ctx: FreshContext<State>,
) => Response | Promise<Response>;

/** An async page, layout or app component: `(req, ctx) => VNode | Response`. */
export type AsyncRoute<T = any, S = Record<string, unknown>> = (
  req: Request,
  ctx: RouteContext<T, S>,
) => Promise<ComponentChildren | Response>;

/** What a module under `routes/` may export (loosely typed, like Fresh). */
export interface RouteModule {
  default?:
    | ComponentType<any>
    | AsyncRoute<any, any>
    | ((...args: any[]) => any);
  handler?: Handler<any, any> | Handlers<any, any> | MiddlewareHandler<any>[];
  config?: RouteConfig;
}

export type IslandModule = Record<string, unknown>;

export interface Manifest {
  routes: Record<string, RouteModule>;
  islands: Record<string, IslandModule>;
  baseUrl: string;
}

export type { ComponentChildren, VNode };
