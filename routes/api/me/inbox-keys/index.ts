import type { Handlers } from "$fresh/server.ts";
import { app } from "../../../../lib/app.ts";
import { readJson } from "../../../../lib/http.ts";
import type { OwnerState } from "../../../../lib/state.ts";
import {
  InboxKeyBody,
  registerInboxKey,
} from "../../../../lib/voicemail/service.ts";

// Signed-in owners only: routes/api/me/_middleware.ts.
export const handler: Handlers<unknown, OwnerState> = {
  async POST(req, ctx) {
    const body = await readJson(req, InboxKeyBody);
    if ("error" in body) return body.error;
    const { kv } = await app();
    return registerInboxKey(
      kv,
      ctx.state.handle,
      body.data.keyId,
      body.data.publicKey,
    );
  },
};
