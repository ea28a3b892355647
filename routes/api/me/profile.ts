import type { Handlers } from "$fresh/server.ts";
import { app } from "@/lib/app.ts";
import { json, readJson } from "@/lib/http.ts";
import { ProfilePatch } from "@/lib/identity/profile.ts";
import type { OwnerState } from "@/lib/state.ts";
import { getProfile, updateProfile } from "@/lib/store/profiles.ts";

// Signed-in owners only: routes/api/me/_middleware.ts.
export const handler: Handlers<unknown, OwnerState> = {
  async GET(_req, ctx) {
    const { kv } = await app();
    return json(await getProfile(kv, ctx.state.handle));
  },
  async PATCH(req, ctx) {
    const body = await readJson(req, ProfilePatch);
    if ("error" in body) return body.error;
    const { kv } = await app();
    return json(await updateProfile(kv, ctx.state.handle, body.data));
  },
};
