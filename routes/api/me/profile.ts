import type { Handlers } from "$fresh/server.ts";
import { app } from "../../../lib/app.ts";
import { requireSession } from "../../../lib/guards.ts";
import { json, jsonError, readJson } from "../../../lib/http.ts";
import { ProfilePatch } from "../../../lib/identity/profile.ts";
import type { State } from "../../../lib/state.ts";
import { getProfile, updateProfile } from "../../../lib/store/profiles.ts";

function noHandle(): Response {
  return jsonError(
    409,
    "no_handle",
    "Claim a handle first; the profile belongs to it.",
  );
}

export const handler: Handlers<unknown, State> = {
  async GET(_req, ctx) {
    const auth = requireSession(ctx.state);
    if (auth.error) return auth.error;
    if (!ctx.state.handle) return noHandle();
    const { kv } = await app();
    return json(await getProfile(kv, ctx.state.handle));
  },
  async PATCH(req, ctx) {
    const auth = requireSession(ctx.state);
    if (auth.error) return auth.error;
    if (!ctx.state.handle) return noHandle();
    const body = await readJson(req, ProfilePatch);
    if ("error" in body) return body.error;
    const { kv } = await app();
    return json(await updateProfile(kv, ctx.state.handle, body.data));
  },
};
