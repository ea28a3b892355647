// $fresh/server.ts — the Fresh 1.x server API subset (see README.md).

import { createHandler as create, type ServeHandler } from "./src/handler.ts";
import type { FreshConfig, Manifest } from "./src/types.ts";

export type {
  AppProps,
  AsyncRoute,
  ErrorPageProps,
  FreshConfig,
  FreshContext,
  Handler,
  HandlerContext,
  Handlers,
  IslandModule,
  LayoutProps,
  Manifest,
  MiddlewareHandler,
  MiddlewareHandlerContext,
  PageProps,
  Plugin,
  RenderOptions,
  ResolvedFreshConfig,
  RouteConfig,
  RouteContext,
  RouteModule,
  RouterOptions,
  UnknownPageProps,
} from "./src/types.ts";
export type { ServeHandler };

export function defineConfig(config: FreshConfig): FreshConfig {
  return config;
}

/** A request handler for `manifest`, e.g. for tests without a socket. */
export function createHandler(
  manifest: Manifest,
  config: FreshConfig = {},
): Promise<ServeHandler> {
  return create(manifest, config);
}

/**
 * Serve the app: port from `config.server.port`, else env `PORT`, else 8000;
 * hostname from `config.server.hostname`.
 */
export async function start(
  manifest: Manifest,
  config: FreshConfig = {},
): Promise<void> {
  const handler = await create(manifest, config);
  const envPort = Number(Deno.env.get("PORT") || NaN);
  const port = config.server?.port ??
    (Number.isInteger(envPort) && envPort >= 0 ? envPort : 8000);
  const server = Deno.serve({
    ...config.server,
    port,
    onListen: config.server?.onListen ?? (({ hostname, port }) => {
      const host = hostname === "0.0.0.0" || hostname === "::"
        ? "localhost"
        : hostname.includes(":")
        ? `[${hostname}]`
        : hostname;
      console.log(`Listening on http://${host}:${port}/`);
    }),
  }, handler);
  await server.finished;
}
