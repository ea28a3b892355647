import type { Handlers } from "$fresh/server.ts";
import { app } from "../../../lib/app.ts";
import { requireHandle } from "../../../lib/guards.ts";
import { json, readJson } from "../../../lib/http.ts";
import { ProfilePatch } from "../../../lib/identity/profile.ts";
import type { State } from "../../../lib/state.ts";
import { getProfile, updateProfile } from "../../../lib/store/profiles.ts";

export const handler: Handlers<unknown, State> = {
  async GET(_req, ctx) {
    const owner = requireHandle(ctx.state);
    if (owner.error) return owner.error;
    const { kv } = await app();
    return json(await getProfile(kv, owner.handle));
  },
  async PATCH(req, ctx) {
    const owner = requireHandle(ctx.state);
    if (owner.error) return owner.error;
    const body = await readJson(req, ProfilePatch);
    if ("error" in body) return body.error;
    const { kv } = await app();
    return json(await updateProfile(kv, owner.handle, body.data));
  },
};
