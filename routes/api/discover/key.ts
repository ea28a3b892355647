import type { Handlers } from "$fresh/server.ts";
import { app } from "@/lib/app.ts";
import { json } from "@/lib/http.ts";
import { currentKey } from "@/lib/phone/discovery.ts";

/**
 * The contact-discovery VOPRF public key browsers blind against:
 * `{suite, mode, keyId, publicKey}` (lib/phone/DISCOVERY.md). Public: a key
 * says nothing about anyone.
 */
export const handler: Handlers = {
  async GET() {
    const { config } = await app();
    return json(currentKey(config));
  },
};
