// The param is [id], not [callId]: the generated manifest line for
// "[callId]/read.ts" would pass 80 columns and fail `deno fmt --check`.
import type { Handlers } from "$fresh/server.ts";
import { app } from "../../../../../lib/app.ts";
import { requireHandle } from "../../../../../lib/guards.ts";
import type { State } from "../../../../../lib/state.ts";
import { markRead } from "../../../../../lib/voicemail/service.ts";

export const handler: Handlers<unknown, State> = {
  async POST(_req, ctx) {
    const owner = requireHandle(ctx.state);
    if (owner.error) return owner.error;
    const { kv, config } = await app();
    return markRead(kv, config, owner.handle, ctx.params.id);
  },
};
