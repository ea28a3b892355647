import type { Handlers } from "$fresh/server.ts";
import { app } from "../../../../lib/app.ts";
import { json } from "../../../../lib/http.ts";
import { log } from "../../../../lib/log.ts";
import type { OwnerState } from "../../../../lib/state.ts";
import { removeInboxKey } from "../../../../lib/store/inbox_keys.ts";

// Signed-in owners only: routes/api/me/_middleware.ts.
export const handler: Handlers<unknown, OwnerState> = {
  async DELETE(_req, ctx) {
    const keyId = ctx.params.keyId;
    const { kv } = await app();
    if (await removeInboxKey(kv, ctx.state.handle, keyId)) {
      log("inbox_key.removed");
    }
    return json({ keyId });
  },
};
