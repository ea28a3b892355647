/** The access log: one line per answered request, without who sent it. */
import type { FreshContext } from "$fresh/server.ts";
import { log } from "../log.ts";
import type { State } from "../state.ts";

/**
 * Logs method, route pattern (never the URL), status and time taken; no
 * address, cookie or session id (`log` drops any field not allow-listed).
 * Static files, island chunks and WebSocket upgrades are not logged. An
 * error that escapes the chain is logged as 500 on its way to the framework.
 */
export async function accessLog(
  req: Request,
  ctx: FreshContext<State>,
): Promise<Response> {
  const started = performance.now();
  const line = (status: number) => {
    if (ctx.destination === "static" || ctx.destination === "internal") return;
    log("http", {
      method: req.method,
      route: ctx.route ?? "notFound",
      status,
      ms: Math.round(performance.now() - started),
    });
  };
  let res: Response;
  try {
    res = await ctx.next();
  } catch (error) {
    line(500);
    throw error;
  }
  if (res.status !== 101) line(res.status);
  return res;
}
