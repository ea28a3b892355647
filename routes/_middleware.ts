import type { FreshContext } from "$fresh/server.ts";
import { app } from "../lib/app.ts";
import { jsonError } from "../lib/http.ts";
import { readSessionId } from "../lib/identity/cookies.ts";
import { log } from "../lib/log.ts";
import {
  applySecurityHeaders,
  isCrossOriginWrite,
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
  let res: Response;
  if (isCrossOriginWrite(req, config)) {
    res = jsonError(
      403,
      "cross_origin",
      "This request came from another site, so Reach refused it.",
    );
  } else if (
    ctx.destination === "notFound" && ctx.url.pathname.startsWith("/api/")
  ) {
    res = jsonError(404, "not_found", "There is no such API endpoint.");
  } else {
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
    // A WebSocket upgrade answer goes out untouched.
    if (res.status === 101) return res;
    res = mutable(res);
    if (res.status === 500 && ctx.url.pathname.startsWith("/api/")) {
      res = jsonError(
        500,
        "server_error",
        "Reach hit an error while answering; please try again.",
      );
    } else if (res.status === 405 && ctx.url.pathname.startsWith("/api/")) {
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
  if (ctx.destination !== "static" && ctx.destination !== "internal") {
    log("http", {
      method: req.method,
      route: ctx.route ?? "notFound",
      status: res.status,
      ms: Math.round(performance.now() - started),
    });
  }
  return res;
}

function mutable(res: Response): Response {
  try {
    res.headers.set("x-reach", "1");
    res.headers.delete("x-reach");
    return res;
  } catch {
    return new Response(res.body, res);
  }
}
