import type { FreshContext } from "$fresh/server.ts";
import { app } from "../lib/app.ts";
import { jsonError } from "../lib/http.ts";
import { readSessionId } from "../lib/identity/cookies.ts";
import { log } from "../lib/log.ts";
import {
  apiServerError,
  applySecurityHeaders,
  isApiPath,
  isCrossOriginWrite,
  withMutableHeaders,
} from "../lib/security_headers.ts";
import type { State } from "../lib/state.ts";
import { getSession } from "../lib/store/sessions.ts";
import { handleOfWallet } from "../lib/store/profiles.ts";

export async function handler(req: Request, ctx: FreshContext<State>) {
  const started = performance.now();
  const { config, kv } = await app();
  ctx.state.session = null;
  ctx.state.sessionId = null;
  ctx.state.handle = null;
  const api = isApiPath(ctx.url.pathname);
  const logLine = (status: number) => {
    if (ctx.destination === "static" || ctx.destination === "internal") return;
    log("http", {
      method: req.method,
      route: ctx.route ?? "notFound",
      status,
      ms: Math.round(performance.now() - started),
    });
  };
  let res: Response;
  if (isCrossOriginWrite(req, config)) {
    res = jsonError(
      403,
      "cross_origin",
      "This request came from another site, so Reach refused it.",
    );
  } else if (ctx.destination === "notFound" && api) {
    res = jsonError(404, "not_found", "There is no such API endpoint.");
  } else {
    try {
      if (ctx.destination === "route" || ctx.destination === "notFound") {
        const id = readSessionId(req, config);
        const session = id ? await getSession(kv, id) : null;
        if (session) {
          ctx.state.session = session;
          ctx.state.sessionId = id;
          ctx.state.handle = await handleOfWallet(kv, session.publicKey);
        }
      }
      res = await ctx.next();
    } catch (error) {
      // A route, a page or a deeper middleware threw. An API client gets the
      // JSON error shape here. A page's error goes on to the framework, which
      // renders _500; fresh.config.ts gives that answer these same headers.
      if (!api) {
        logLine(500);
        throw error;
      }
      // The error's name only: its message could carry anything.
      log("http.error", { kind: (error as Error)?.name ?? "Error" });
      res = apiServerError();
    }
    // A WebSocket upgrade answer goes out untouched.
    if (res.status === 101) return res;
    res = withMutableHeaders(res);
    if (res.status === 500 && api) {
      res = apiServerError();
    } else if (res.status === 405 && api) {
      // API clients get the same JSON error shape for every failure.
      res = jsonError(
        405,
        "method_not_allowed",
        `This endpoint does not accept ${req.method}.`,
        { headers: { allow: res.headers.get("allow") ?? "" } },
      );
    }
  }
  applySecurityHeaders(res.headers, config);
  logLine(res.status);
  return res;
}
