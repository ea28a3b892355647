import type { Handlers } from "$fresh/server.ts";
import { app } from "../../../lib/app.ts";
import { uploadVoicemail } from "../../../lib/voicemail/service.ts";

export const handler: Handlers = {
  async POST(req, ctx) {
    const { kv, config } = await app();
    return uploadVoicemail(kv, config, req, ctx.params.callId);
  },
};
