import type { Handlers } from "$fresh/server.ts";
import { app } from "../../../../lib/app.ts";
import { requireHandle } from "../../../../lib/guards.ts";
import type { State } from "../../../../lib/state.ts";
import {
  fetchVoicemail,
  removeVoicemail,
} from "../../../../lib/voicemail/service.ts";

export const handler: Handlers<unknown, State> = {
  async GET(_req, ctx) {
    const owner = requireHandle(ctx.state);
    if (owner.error) return owner.error;
    const { kv } = await app();
    return fetchVoicemail(kv, owner.handle, ctx.params.callId);
  },
  async DELETE(_req, ctx) {
    const owner = requireHandle(ctx.state);
    if (owner.error) return owner.error;
    const { kv } = await app();
    return removeVoicemail(kv, owner.handle, ctx.params.callId);
  },
};
