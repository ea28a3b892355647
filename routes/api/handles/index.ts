import type { Handlers } from "$fresh/server.ts";
import { z } from "zod";
import { app } from "../../../lib/app.ts";
import { requireSession } from "../../../lib/guards.ts";
import { json, jsonError, readJson } from "../../../lib/http.ts";
import { checkHandle } from "../../../lib/identity/handles.ts";
import { log } from "../../../lib/log.ts";
import type { State } from "../../../lib/state.ts";
import { claimHandle } from "../../../lib/store/profiles.ts";

const Body = z.object({ handle: z.string().max(64) });

export const handler: Handlers<unknown, State> = {
  async POST(req, ctx) {
    const auth = requireSession(ctx.state);
    if (auth.error) return auth.error;
    const body = await readJson(req, Body);
    if ("error" in body) return body.error;
    const checked = checkHandle(body.data.handle);
    if (!checked.ok) return jsonError(400, checked.code, checked.message);
    const { kv } = await app();
    const res = await claimHandle(kv, checked.handle, auth.session.publicKey);
    if (!res.ok) {
      log("handle.claim_refused", { code: res.code });
      return res.code === "handle_taken"
        ? jsonError(409, res.code, `@${checked.handle} is already taken.`)
        : jsonError(
          409,
          res.code,
          "This wallet already has a handle; each wallet claims one.",
        );
    }
    log("handle.claimed");
    return json({ handle: res.profile.handle }, {
      status: 201,
      headers: { location: `/@${res.profile.handle}` },
    });
  },
};
