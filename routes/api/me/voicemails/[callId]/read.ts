import type { Handlers } from "$fresh/server.ts";
import { app } from "@/lib/app.ts";
import { failureResponse, json } from "@/lib/http.ts";
import type { OwnerState } from "@/lib/state.ts";
import { markRead } from "@/lib/voicemail/service.ts";

// Signed-in owners only: routes/api/me/_middleware.ts.
export const handler: Handlers<unknown, OwnerState> = {
  async POST(_req, ctx) {
    const { kv, config } = await app();
    const r = await markRead(kv, config, ctx.state.handle, ctx.params.callId);
    return r.ok ? json(r.data) : failureResponse(r);
  },
};
