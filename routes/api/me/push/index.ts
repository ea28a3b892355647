import type { Handlers } from "$fresh/server.ts";
import { app } from "@/lib/app.ts";
import { failureResponse, json, readJsonBody } from "@/lib/http.ts";
import { list, PushSubscribeBody, subscribe } from "@/lib/push/service.ts";
import type { OwnerState } from "@/lib/state.ts";

/**
 * The owner's browsers that Web Push rings: add one (the same endpoint again
 * replaces it), list them (never endpoints or keys).
 * Signed-in owners only: routes/api/me/_middleware.ts.
 */
export const handler: Handlers<unknown, OwnerState> = {
  async GET(_req, ctx) {
    const { kv } = await app();
    return json({ subscriptions: await list(kv, ctx.state.handle) });
  },
  async POST(req, ctx) {
    const body = await readJsonBody(req, PushSubscribeBody);
    if (!body.ok) return failureResponse(body);
    const { kv, config } = await app();
    const r = await subscribe(kv, config, ctx.state.handle, body.data);
    if (!r.ok) return failureResponse(r);
    return json({ id: r.id }, { status: r.created ? 201 : 200 });
  },
};
