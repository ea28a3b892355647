import type { Handlers } from "$fresh/server.ts";
import { app } from "@/lib/app.ts";
import { failureResponse, json } from "@/lib/http.ts";

/**
 * The VAPID public key a browser subscribes with
 * (`pushManager.subscribe({applicationServerKey: publicKey})`); public.
 */
export const handler: Handlers = {
  async GET() {
    const { config } = await app();
    if (!config.push.enabled) {
      return failureResponse({ ok: false, code: "push_disabled" });
    }
    return json(
      { publicKey: config.push.vapid.publicKey },
      { headers: { "cache-control": "no-cache" } },
    );
  },
};
