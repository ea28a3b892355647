import type { Handlers } from "$fresh/server.ts";
import { z } from "zod";
import { app } from "../../../../lib/app.ts";
import { requireSession } from "../../../../lib/guards.ts";
import { json, jsonError, readJson } from "../../../../lib/http.ts";
import { startBinding } from "../../../../lib/phone/binding.ts";
import type { State } from "../../../../lib/state.ts";

/** Sends a 6-digit code to the number the owner wants to bind. */
export const handler: Handlers<unknown, State> = {
  async POST(req, ctx) {
    const auth = requireSession(ctx.state);
    if (auth.error) return auth.error;
    if (!ctx.state.handle) {
      return jsonError(409, "no_handle", "Claim a handle first.");
    }
    const body = await readJson(
      req,
      z.strictObject({ phone: z.string().max(64) }),
    );
    if ("error" in body) return body.error;
    const { kv, config } = await app();
    const r = await startBinding(kv, config, {
      handle: ctx.state.handle,
      phone: body.data.phone,
      remoteHost: (ctx.remoteAddr as Deno.NetAddr)?.hostname ?? "",
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
