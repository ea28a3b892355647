import type { Handlers } from "$fresh/server.ts";
import { app } from "@/lib/app.ts";
import { json } from "@/lib/http.ts";
import { clearSessionCookieHeader } from "@/lib/identity/cookies.ts";
import type { State } from "@/lib/state.ts";
import { deleteSession } from "@/lib/store/sessions.ts";

export const handler: Handlers<unknown, State> = {
  async POST(_req, ctx) {
    const { config, kv } = await app();
    if (ctx.state.sessionId) await deleteSession(kv, ctx.state.sessionId);
    return json({ ok: true }, {
      headers: { "set-cookie": clearSessionCookieHeader(config) },
    });
  },
};
