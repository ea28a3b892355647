/** Who is asking: the session cookie's session and its wallet's handle. */
import type { FreshContext } from "$fresh/server.ts";
import { app } from "../app.ts";
import { readSessionId } from "../identity/cookies.ts";
import type { State } from "../state.ts";
import { handleOfWallet } from "../store/profiles.ts";
import { getSession } from "../store/sessions.ts";

/**
 * Fills `ctx.state` (session, sessionId, handle; all null when signed out)
 * for routes and pages. Static files and island chunks skip the KV reads.
 * It only reads: a missing, unknown or expired session is simply signed out.
 */
export async function loadSession(
  req: Request,
  ctx: FreshContext<State>,
): Promise<Response> {
  ctx.state.session = null;
  ctx.state.sessionId = null;
  ctx.state.handle = null;
  if (ctx.destination === "route" || ctx.destination === "notFound") {
    const { config, kv } = await app();
    const id = readSessionId(req, config);
    const session = id ? await getSession(kv, id) : null;
    if (session) {
      ctx.state.session = session;
      ctx.state.sessionId = id;
      ctx.state.handle = await handleOfWallet(kv, session.publicKey);
    }
  }
  return await ctx.next();
}
