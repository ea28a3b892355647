import type { Handlers } from "$fresh/server.ts";
import { app } from "../../../../lib/app.ts";
import { json } from "../../../../lib/http.ts";
import { log } from "../../../../lib/log.ts";
import { requireHandle } from "../../../../lib/guards.ts";
import type { State } from "../../../../lib/state.ts";
import { removeInboxKey } from "../../../../lib/store/inbox_keys.ts";

export const handler: Handlers<unknown, State> = {
  async DELETE(_req, ctx) {
    const owner = requireHandle(ctx.state);
    if (owner.error) return owner.error;
    const keyId = ctx.params.keyId;
    const { kv } = await app();
    if (await removeInboxKey(kv, owner.handle, keyId)) {
      log("inbox_key.removed");
    }
    return json({ keyId });
  },
};
