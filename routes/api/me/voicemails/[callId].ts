import type { Handlers } from "$fresh/server.ts";
import { app } from "@/lib/app.ts";
import { failureResponse, json } from "@/lib/http.ts";
import type { OwnerState } from "@/lib/state.ts";
import { fetchVoicemail, removeVoicemail } from "@/lib/voicemail/service.ts";

// Signed-in owners only: routes/api/me/_middleware.ts.
export const handler: Handlers<unknown, OwnerState> = {
  async GET(_req, ctx) {
    const { kv } = await app();
    const r = await fetchVoicemail(kv, ctx.state.handle, ctx.params.callId);
    if (!r.ok) return failureResponse(r);
    // The envelope's exact bytes, as the caller uploaded them.
    return new Response(r.data as BodyInit, {
      headers: {
        "content-type": "application/json; charset=utf-8",
        "cache-control": "no-store",
      },
    });
  },
  async DELETE(_req, ctx) {
    const { kv } = await app();
    const r = await removeVoicemail(kv, ctx.state.handle, ctx.params.callId);
    return r.ok ? json(r.data) : failureResponse(r);
  },
};
