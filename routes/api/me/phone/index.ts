import type { Handlers } from "$fresh/server.ts";
import { z } from "zod";
import { app } from "../../../../lib/app.ts";
import { requireHandle } from "../../../../lib/guards.ts";
import { json, jsonError, readJson } from "../../../../lib/http.ts";
import {
  discoverable,
  phoneView,
  unbind,
} from "../../../../lib/phone/binding.ts";
import type { State } from "../../../../lib/state.ts";

/** The owner's own bound number: masked view, findable switch, unbind. */
export const handler: Handlers<unknown, State> = {
  async GET(_req, ctx) {
    const owner = requireHandle(ctx.state);
    if (owner.error) return owner.error;
    const { kv, config } = await app();
    return json({ phone: await phoneView(kv, config, owner.handle) });
  },
  async PATCH(req, ctx) {
    const owner = requireHandle(ctx.state);
    if (owner.error) return owner.error;
    const body = await readJson(
      req,
      z.strictObject({ discoverable: z.boolean() }),
    );
    if ("error" in body) return body.error;
    const { kv, config } = await app();
    const view = await phoneView(kv, config, owner.handle);
    if (!view) {
      return jsonError(404, "no_phone", "No number is bound to your handle.");
    }
    await discoverable(kv, owner.handle, body.data.discoverable);
    return json({ phone: await phoneView(kv, config, owner.handle) });
  },
  async DELETE(_req, ctx) {
    const owner = requireHandle(ctx.state);
    if (owner.error) return owner.error;
    const { kv } = await app();
    await unbind(kv, owner.handle);
    return json({ phone: null });
  },
};
