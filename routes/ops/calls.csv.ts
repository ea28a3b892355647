/**
 * GET /ops/calls.csv?decision=…: the call log as CSV (lib/ops/csv.ts),
 * streamed, at most 50 000 rows. Operators only; everyone else gets the
 * ordinary 404 page, as for /ops.
 */
import type { FreshContext } from "$fresh/server.ts";
import { app } from "@/lib/app.ts";
import { isOperator } from "@/lib/ops/access.ts";
import { parseDecision } from "@/lib/ops/calllog.ts";
import { callLogCsv } from "@/lib/ops/csv.ts";
import type { State } from "@/lib/state.ts";
import { utcDay } from "@/lib/store/stats.ts";

export async function handler(req: Request, ctx: FreshContext<State>) {
  const { kv, config } = await app();
  const getLike = req.method === "GET" || req.method === "HEAD";
  if (!getLike || !isOperator(ctx.state, config)) return ctx.renderNotFound();
  const decision = parseDecision(ctx.url.searchParams.get("decision"));
  const name = `reach-calls-${decision ?? "all"}-${utcDay(Date.now())}.csv`;
  return new Response(callLogCsv(kv, { decision }), {
    headers: {
      "content-type": "text/csv; charset=utf-8; header=present",
      "content-disposition": `attachment; filename="${name}"`,
      "cache-control": "no-store",
    },
  });
}
