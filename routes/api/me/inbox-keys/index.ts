import type { Handlers } from "$fresh/server.ts";
import { app } from "@/lib/app.ts";
import { failureResponse, json, readJsonBody } from "@/lib/http.ts";
import type { OwnerState } from "@/lib/state.ts";
import { InboxKeyBody, registerInboxKey } from "@/lib/voicemail/service.ts";

// Signed-in owners only: routes/api/me/_middleware.ts.
export const handler: Handlers<unknown, OwnerState> = {
  async POST(req, ctx) {
    const body = await readJsonBody(req, InboxKeyBody);
    if (!body.ok) return failureResponse(body);
    const { kv } = await app();
    const r = await registerInboxKey(
      kv,
      ctx.state.handle,
      body.data.keyId,
      body.data.publicKey,
    );
    if (!r.ok) return failureResponse(r);
    return json({ keyId: r.data.keyId }, {
      status: r.data.created ? 201 : 200,
    });
  },
};
