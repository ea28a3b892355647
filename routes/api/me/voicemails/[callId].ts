import type { Handlers } from "$fresh/server.ts";
import { app } from "../../../../lib/app.ts";
import type { OwnerState } from "../../../../lib/state.ts";
import {
  fetchVoicemail,
  removeVoicemail,
} from "../../../../lib/voicemail/service.ts";

// Signed-in owners only: routes/api/me/_middleware.ts.
export const handler: Handlers<unknown, OwnerState> = {
  async GET(_req, ctx) {
    const { kv } = await app();
    return fetchVoicemail(kv, ctx.state.handle, ctx.params.callId);
  },
  async DELETE(_req, ctx) {
    const { kv } = await app();
    return removeVoicemail(kv, ctx.state.handle, ctx.params.callId);
  },
};
