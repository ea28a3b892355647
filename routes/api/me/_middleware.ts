import type { FreshContext } from "$fresh/server.ts";
import { requireHandle } from "@/lib/guards.ts";
import type { State } from "@/lib/state.ts";

/**
 * Everything under /api/me belongs to a signed-in owner: a request without a
 * session gets 401, one whose wallet has no handle 409, and no route here
 * runs for either. Routes here therefore take `OwnerState` (lib/state.ts)
 * and check nothing themselves. The root middleware has already given the
 * state, and gives the answer its security headers.
 */
export async function handler(
  _req: Request,
  ctx: FreshContext<State>,
): Promise<Response> {
  const owner = requireHandle(ctx.state);
  if (owner.error) return owner.error;
  return await ctx.next();
}
