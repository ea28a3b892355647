import type { Handlers } from "$fresh/server.ts";
import { app } from "../../../lib/app.ts";
import { json } from "../../../lib/http.ts";
import { issueNonce } from "../../../lib/identity/auth.ts";

export const handler: Handlers = {
  async POST() {
    const { config, kv } = await app();
    return json(await issueNonce(kv, config));
  },
};
