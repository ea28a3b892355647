import type { Handlers } from "$fresh/server.ts";
import { app } from "@/lib/app.ts";
import { json } from "@/lib/http.ts";
import type { OwnerState } from "@/lib/state.ts";
import { voicemailInbox } from "@/lib/voicemail/service.ts";

// Signed-in owners only: routes/api/me/_middleware.ts.
export const handler: Handlers<unknown, OwnerState> = {
  async GET(_req, ctx) {
    const { kv } = await app();
    return json(await voicemailInbox(kv, ctx.state.handle));
  },
};
