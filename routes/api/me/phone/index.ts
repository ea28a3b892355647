import type { Handlers } from "$fresh/server.ts";
import { z } from "zod";
import { app } from "../../../../lib/app.ts";
import { requireSession } from "../../../../lib/guards.ts";
import { json, jsonError, readJson } from "../../../../lib/http.ts";
import {
  discoverable,
  phoneView,
  unbind,
} from "../../../../lib/phone/binding.ts";
import type { State } from "../../../../lib/state.ts";

function noHandle(): Response {
  return jsonError(409, "no_handle", "Claim a handle first.");
}

/** The owner's own bound number: masked view, findable switch, unbind. */
export const handler: Handlers<unknown, State> = {
  async GET(_req, ctx) {
    const auth = requireSession(ctx.state);
    if (auth.error) return auth.error;
    if (!ctx.state.handle) return noHandle();
    const { kv, config } = await app();
    return json({ phone: await phoneView(kv, config, ctx.state.handle) });
  },
  async PATCH(req, ctx) {
    const auth = requireSession(ctx.state);
    if (auth.error) return auth.error;
    if (!ctx.state.handle) return noHandle();
    const body = await readJson(
      req,
      z.strictObject({ discoverable: z.boolean() }),
    );
    if ("error" in body) return body.error;
    const { kv, config } = await app();
    const view = await phoneView(kv, config, ctx.state.handle);
    if (!view) {
      return jsonError(404, "no_phone", "No number is bound to your handle.");
    }
    await discoverable(kv, ctx.state.handle, body.data.discoverable);
    return json({ phone: await phoneView(kv, config, ctx.state.handle) });
  },
  async DELETE(_req, ctx) {
    const auth = requireSession(ctx.state);
    if (auth.error) return auth.error;
    if (!ctx.state.handle) return noHandle();
    const { kv } = await app();
    await unbind(kv, ctx.state.handle);
    return json({ phone: null });
  },
};
