import type { Handlers } from "$fresh/server.ts";
import { app } from "@/lib/app.ts";
import { failureResponse } from "@/lib/http.ts";
import { unsubscribe } from "@/lib/push/service.ts";
import type { OwnerState } from "@/lib/state.ts";

// Signed-in owners only: routes/api/me/_middleware.ts.
export const handler: Handlers<unknown, OwnerState> = {
  async DELETE(_req, ctx) {
    const { kv } = await app();
    const r = await unsubscribe(kv, ctx.state.handle, ctx.params.id);
    return r.ok ? new Response(null, { status: 204 }) : failureResponse(r);
  },
};
