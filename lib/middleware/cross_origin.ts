/** State-changing requests from another site are refused. */
import type { FreshContext } from "$fresh/server.ts";
import { getConfig } from "../config.ts";
import { jsonError } from "../http.ts";
import { isCrossOriginWrite } from "../security_headers.ts";
import type { State } from "../state.ts";

/**
 * 403 for a POST/PUT/PATCH/DELETE whose Origin is missing or not ours, before
 * any session is read or route runs.
 */
export function refuseCrossOrigin(
  req: Request,
  ctx: FreshContext<State>,
): Promise<Response> {
  if (isCrossOriginWrite(req, getConfig())) {
    return Promise.resolve(jsonError(
      403,
      "cross_origin",
      "This request came from another site, so Reach refused it.",
    ));
  }
  return ctx.next();
}
