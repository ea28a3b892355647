import type { Handlers } from "$fresh/server.ts";
import { app } from "@/lib/app.ts";
import { json, jsonError } from "@/lib/http.ts";
import { checkHandle } from "@/lib/identity/handles.ts";
import { publicProfile } from "@/lib/public_profile.ts";

export const handler: Handlers = {
  async GET(_req, ctx) {
    const checked = checkHandle(ctx.params.handle);
    const { kv } = await app();
    const profile = checked.ok ? await publicProfile(kv, checked.handle) : null;
    if (!profile) {
      return jsonError(404, "not_found", "No one has claimed that handle.");
    }
    return json(profile, { headers: { "cache-control": "no-cache" } });
  },
};
