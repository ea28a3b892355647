import type { Handlers } from "$fresh/server.ts";
import { app } from "../../../lib/app.ts";
import { requestAddress } from "../../../lib/client_address.ts";
import type { State } from "../../../lib/state.ts";
import { uploadVoicemail } from "../../../lib/voicemail/service.ts";

export const handler: Handlers<unknown, State> = {
  async POST(req, ctx) {
    const { kv, config } = await app();
    // A signed-in caller is limited per wallet, anyone else per address.
    const wallet = ctx.state.session?.publicKey;
    const uploader = wallet ? { wallet } : {
      address: await requestAddress(req, ctx.remoteAddr, config),
    };
    return uploadVoicemail(kv, config, req, ctx.params.callId, uploader);
  },
};
