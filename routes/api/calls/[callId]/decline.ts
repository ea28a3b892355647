import type { Handlers } from "$fresh/server.ts";
import { app } from "@/lib/app.ts";
import { requireHandle } from "@/lib/guards.ts";
import { jsonError } from "@/lib/http.ts";
import { getCall } from "@/lib/store/calls.ts";
import type { State } from "@/lib/state.ts";
import { getHub } from "@/signaling/instance.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Declines a ringing call without a signaling socket (a push notification's
 * Decline): the same rules as the socket's `decline`. Needs the session
 * cookie (the root middleware has refused another Origin) of the owner of
 * the handle the call rings for.
 */
export const handler: Handlers<unknown, State> = {
  async POST(_req, ctx) {
    const owner = requireHandle(ctx.state);
    if (owner.error) return owner.error;
    const callId = ctx.params.callId;
    const notRinging = (status: 404 | 409) =>
      jsonError(status, "not_ringing", "This call is no longer ringing.");
    if (!UUID.test(callId)) return notRinging(404);
    const r = await (await getHub()).calls.decline(callId, owner.handle);
    if (r === "ok") return new Response(null, { status: 204 });
    if (r === "forbidden") {
      return jsonError(
        403,
        "not_your_call",
        "This call does not ring for your handle.",
      );
    }
    const { kv } = await app();
    return notRinging(await getCall(kv, callId) ? 409 : 404);
  },
};
