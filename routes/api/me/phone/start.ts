import type { Handlers } from "$fresh/server.ts";
import { z } from "zod";
import { app } from "../../../../lib/app.ts";
import { json, jsonError, readJson } from "../../../../lib/http.ts";
import { requestAddress } from "../../../../lib/client_address.ts";
import { startBinding } from "../../../../lib/phone/binding.ts";
import type { OwnerState } from "../../../../lib/state.ts";

/**
 * Sends a 6-digit code to the number the owner wants to bind.
 * Signed-in owners only: routes/api/me/_middleware.ts.
 */
export const handler: Handlers<unknown, OwnerState> = {
  async POST(req, ctx) {
    const body = await readJson(
      req,
      z.strictObject({ phone: z.string().max(64) }),
    );
    if ("error" in body) return body.error;
    const { kv, config } = await app();
    const r = await startBinding(kv, config, {
      handle: ctx.state.handle,
      phone: body.data.phone,
      address: await requestAddress(req, ctx.remoteAddr, config),
    });
    if (!r.ok) {
      return jsonError(r.status, r.error, r.message, {
        headers: r.retryAfterSeconds
          ? { "retry-after": String(r.retryAfterSeconds) }
          : {},
      });
    }
    return json(r.data);
  },
};
