import type { Handlers } from "$fresh/server.ts";
import { app } from "@/lib/app.ts";
import { json, jsonError } from "@/lib/http.ts";
import { checkHandle } from "@/lib/identity/handles.ts";
import { listInboxKeys } from "@/lib/store/inbox_keys.ts";
import { getProfile } from "@/lib/store/profiles.ts";

export const handler: Handlers = {
  async GET(_req, ctx) {
    const checked = checkHandle(ctx.params.handle);
    const { kv } = await app();
    if (!checked.ok || !(await getProfile(kv, checked.handle))) {
      return jsonError(404, "not_found", "No one has claimed that handle.");
    }
    return json({ keys: await listInboxKeys(kv, checked.handle) }, {
      headers: { "cache-control": "no-cache" },
    });
  },
};
