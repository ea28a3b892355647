import type { Handlers } from "$fresh/server.ts";
import { z } from "zod";
import { app } from "../../../../lib/app.ts";
import { json, jsonError, readJson } from "../../../../lib/http.ts";
import {
  discoverable,
  phoneView,
  unbind,
} from "../../../../lib/phone/binding.ts";
import type { OwnerState } from "../../../../lib/state.ts";

/**
 * The owner's own bound number: masked view, findable switch, unbind.
 * Signed-in owners only: routes/api/me/_middleware.ts.
 */
export const handler: Handlers<unknown, OwnerState> = {
  async GET(_req, ctx) {
    const { kv, config } = await app();
    return json({ phone: await phoneView(kv, config, ctx.state.handle) });
  },
  async PATCH(req, ctx) {
    const { handle } = ctx.state;
    const body = await readJson(
      req,
      z.strictObject({ discoverable: z.boolean() }),
    );
    if ("error" in body) return body.error;
    const { kv, config } = await app();
    const view = await phoneView(kv, config, handle);
    if (!view) {
      return jsonError(404, "no_phone", "No number is bound to your handle.");
    }
    await discoverable(kv, handle, body.data.discoverable);
    return json({ phone: await phoneView(kv, config, handle) });
  },
  async DELETE(_req, ctx) {
    const { kv } = await app();
    await unbind(kv, ctx.state.handle);
    return json({ phone: null });
  },
};
