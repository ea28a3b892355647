import type { Handlers } from "$fresh/server.ts";
import { z } from "zod";
import { app } from "@/lib/app.ts";
import { failureResponse, json, readJsonBody } from "@/lib/http.ts";
import { requestAddress } from "@/lib/client_address.ts";
import { startBinding } from "@/lib/phone/binding.ts";
import type { OwnerState } from "@/lib/state.ts";

const Body = z.strictObject({ phone: z.string().max(64) });

/**
 * Sends a 6-digit code to the number the owner wants to bind.
 * Signed-in owners only: routes/api/me/_middleware.ts.
 */
export const handler: Handlers<unknown, OwnerState> = {
  async POST(req, ctx) {
    const body = await readJsonBody(req, Body);
    if (!body.ok) return failureResponse(body);
    const { kv, config } = await app();
    const r = await startBinding(kv, config, {
      handle: ctx.state.handle,
      phone: body.data.phone,
      address: await requestAddress(req, ctx.remoteAddr, config),
    });
    return r.ok ? json(r.data) : failureResponse(r);
  },
};
