import type { Handlers } from "$fresh/server.ts";
import { json, jsonError } from "@/lib/http.ts";
import type { State } from "@/lib/state.ts";

export const handler: Handlers<unknown, State> = {
  GET(_req, ctx) {
    const { session, handle } = ctx.state;
    if (!session) {
      return jsonError(401, "not_signed_in", "You are not signed in.");
    }
    return json({
      publicKey: session.publicKey,
      handle,
      expiresAt: new Date(session.expiresAt).toISOString(),
    });
  },
};
