import type { Handlers } from "$fresh/server.ts";
import { app } from "@/lib/app.ts";
import { requestAddress } from "@/lib/client_address.ts";
import { failureResponse, json, readBody } from "@/lib/http.ts";
import type { State } from "@/lib/state.ts";
import { CALL_TOKEN_HEADER, uploadVoicemail } from "@/lib/voicemail/service.ts";

export const handler: Handlers<unknown, State> = {
  async POST(req, ctx) {
    const { kv, config } = await app();
    // A signed-in caller is limited per wallet, anyone else per address.
    const wallet = ctx.state.session?.publicKey;
    const uploader = wallet ? { wallet } : {
      address: await requestAddress(req, ctx.remoteAddr, config),
    };
    const r = await uploadVoicemail(kv, config, {
      callId: ctx.params.callId,
      token: req.headers.get(CALL_TOKEN_HEADER) ?? "",
      uploader,
      body: () => readBody(req, { maxBytes: config.voicemail.maxBytes }),
    });
    if (!r.ok) return failureResponse(r);
    const { callId, size, created } = r.data;
    return json({ callId, size }, { status: created ? 201 : 200 });
  },
};
