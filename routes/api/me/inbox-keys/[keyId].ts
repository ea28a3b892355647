import type { Handlers } from "$fresh/server.ts";
import { app } from "@/lib/app.ts";
import { json } from "@/lib/http.ts";
import type { OwnerState } from "@/lib/state.ts";
import { unregisterInboxKey } from "@/lib/voicemail/service.ts";

// Signed-in owners only: routes/api/me/_middleware.ts.
export const handler: Handlers<unknown, OwnerState> = {
  async DELETE(_req, ctx) {
    const { kv } = await app();
    return json(
      await unregisterInboxKey(kv, ctx.state.handle, ctx.params.keyId),
    );
  },
};
