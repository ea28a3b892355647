import type { Handlers } from "$fresh/server.ts";
import { app } from "../../../../lib/app.ts";
import { readJson } from "../../../../lib/http.ts";
import { requireHandle } from "../../../../lib/guards.ts";
import type { State } from "../../../../lib/state.ts";
import {
  InboxKeyBody,
  registerInboxKey,
} from "../../../../lib/voicemail/service.ts";

export const handler: Handlers<unknown, State> = {
  async POST(req, ctx) {
    const owner = requireHandle(ctx.state);
    if (owner.error) return owner.error;
    const body = await readJson(req, InboxKeyBody);
    if ("error" in body) return body.error;
    const { kv } = await app();
    return registerInboxKey(
      kv,
      owner.handle,
      body.data.keyId,
      body.data.publicKey,
    );
  },
};
