import type { Handlers } from "$fresh/server.ts";
import { z } from "zod";
import { app } from "@/lib/app.ts";
import { failureResponse, json, readJsonBody } from "@/lib/http.ts";
import { finishBinding } from "@/lib/phone/binding.ts";
import type { OwnerState } from "@/lib/state.ts";

const Body = z.strictObject({
  phone: z.string().max(64),
  code: z.string().regex(/^\d{6}$/, "The code is 6 digits."),
});

/**
 * Checks the code and binds the number.
 * Signed-in owners only: routes/api/me/_middleware.ts.
 */
export const handler: Handlers<unknown, OwnerState> = {
  async POST(req, ctx) {
    const body = await readJsonBody(req, Body);
    if (!body.ok) return failureResponse(body);
    const { kv, config } = await app();
    const r = await finishBinding(kv, config, {
      handle: ctx.state.handle,
      ...body.data,
    });
    return r.ok ? json({ phone: r.data }) : failureResponse(r);
  },
};
