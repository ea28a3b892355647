import type { Handlers } from "$fresh/server.ts";
import { app } from "../../../../lib/app.ts";
import { json } from "../../../../lib/http.ts";
import { requireHandle } from "../../../../lib/guards.ts";
import type { State } from "../../../../lib/state.ts";
import { voicemailInbox } from "../../../../lib/voicemail/service.ts";

export const handler: Handlers<unknown, State> = {
  async GET(_req, ctx) {
    const owner = requireHandle(ctx.state);
    if (owner.error) return owner.error;
    const { kv } = await app();
    return json(await voicemailInbox(kv, owner.handle));
  },
};
