import type { Handlers } from "$fresh/server.ts";
import { z } from "zod";
import { app } from "@/lib/app.ts";
import { failureResponse, json, readJsonBody } from "@/lib/http.ts";
import { discoverable, phoneView, unbind } from "@/lib/phone/binding.ts";
import type { OwnerState } from "@/lib/state.ts";

const Patch = z.strictObject({ discoverable: z.boolean() });

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
    const body = await readJsonBody(req, Patch);
    if (!body.ok) return failureResponse(body);
    const { kv, config } = await app();
    const r = await discoverable(
      kv,
      config,
      ctx.state.handle,
      body.data.discoverable,
    );
    return r.ok ? json({ phone: r.data }) : failureResponse(r);
  },
  async DELETE(_req, ctx) {
    const { kv } = await app();
    await unbind(kv, ctx.state.handle);
    return json({ phone: null });
  },
};
