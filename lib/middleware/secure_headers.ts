/** Every answer that passes the middleware chain gets the security headers. */
import type { FreshContext } from "$fresh/server.ts";
import { getConfig } from "../config.ts";
import {
  applySecurityHeaders,
  withMutableHeaders,
} from "../security_headers.ts";
import type { State } from "../state.ts";

/**
 * Sets the headers of `applySecurityHeaders` on the answer, whatever made it
 * (refusals and JSON errors included). A WebSocket upgrade goes out
 * untouched. An error that escapes the chain is answered by the framework,
 * whose `onFrameworkResponse` hook (fresh.config.ts) adds the same headers.
 */
export async function secureHeaders(
  _req: Request,
  ctx: FreshContext<State>,
): Promise<Response> {
  const config = getConfig();
  const res = await ctx.next();
  if (res.status === 101) return res;
  const out = withMutableHeaders(res);
  applySecurityHeaders(out.headers, config);
  return out;
}
