import type { Handlers } from "$fresh/server.ts";
import { app } from "@/lib/app.ts";
import { json } from "@/lib/http.ts";
import { issueNonce } from "@/lib/identity/auth.ts";
import { requestAddress } from "@/lib/client_address.ts";
import { atMost, rateLimited, spend } from "@/lib/limit_check.ts";

export const handler: Handlers = {
  async POST(req, ctx) {
    const { config, kv } = await app();
    // Counted before the nonce is stored: a refused request stores nothing.
    const address = await requestAddress(req, ctx.remoteAddr, config);
    const r = await spend(kv, config.limits, [
      { limit: "noncesPerAddress", subject: address },
    ]);
    if (!r.ok) {
      return rateLimited(
        `Too many sign-in requests from your network (${
          atMost(config.limits, r.limit)
        }).`,
        r.retryAfterMs,
      );
    }
    return json(await issueNonce(kv, config));
  },
};
