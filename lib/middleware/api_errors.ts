/** Under /api/, every failure is answered in the JSON shape `{error, message}`. */
import type { FreshContext } from "$fresh/server.ts";
import { jsonError } from "../http.ts";
import { log } from "../log.ts";
import { apiServerError, isApiPath } from "../security_headers.ts";
import type { State } from "../state.ts";

/**
 * For API paths: an unknown endpoint is a JSON 404 (nothing deeper runs); an
 * error thrown by a deeper middleware or route, or a 500 it answers, is the
 * JSON 500 (naming no detail); the framework's 405 becomes a JSON 405 that
 * keeps its `Allow`. Pages pass through: their errors go on to the framework,
 * which renders _500.
 */
export async function apiErrors(
  req: Request,
  ctx: FreshContext<State>,
): Promise<Response> {
  if (!isApiPath(ctx.url.pathname)) return await ctx.next();
  if (ctx.destination === "notFound") {
    return jsonError(404, "not_found", "There is no such API endpoint.");
  }
  let res: Response;
  try {
    res = await ctx.next();
  } catch (error) {
    // The error's name only: its message could carry anything.
    log("http.error", { kind: (error as Error)?.name ?? "Error" });
    return apiServerError();
  }
  if (res.status === 500) {
    await res.body?.cancel().catch(() => {});
    return apiServerError();
  }
  if (res.status === 405) {
    await res.body?.cancel().catch(() => {});
    return jsonError(
      405,
      "method_not_allowed",
      `This endpoint does not accept ${req.method}.`,
      { headers: { allow: res.headers.get("allow") ?? "" } },
    );
  }
  return res;
}
