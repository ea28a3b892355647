import type { Handlers } from "$fresh/server.ts";
import { z } from "zod";
import { app } from "@/lib/app.ts";
import { json, jsonError, readJson } from "@/lib/http.ts";
import { signIn } from "@/lib/identity/auth.ts";
import { sessionCookieHeader } from "@/lib/identity/cookies.ts";
import { requestAddress } from "@/lib/client_address.ts";
import { rateLimited } from "@/lib/limit_check.ts";
import { log } from "@/lib/log.ts";

const Body = z.object({
  message: z.string().min(1).max(4096),
  signature: z.string().min(1).max(128),
  publicKey: z.string().min(1).max(64),
});

export const handler: Handlers = {
  async POST(req, ctx) {
    const body = await readJson(req, Body);
    if ("error" in body) return body.error;
    const { config, kv } = await app();
    const address = await requestAddress(req, ctx.remoteAddr, config);
    const result = await signIn(kv, config, body.data, { address });
    if (!result.ok) {
      if (result.retryAfterMs !== undefined) {
        return rateLimited(result.message, result.retryAfterMs);
      }
      log("auth.failed", { code: result.code });
      return jsonError(401, result.code, result.message);
    }
    log("auth.signed_in", { outcome: result.handle ? "has_handle" : "new" });
    return json(
      { publicKey: result.publicKey, handle: result.handle },
      {
        headers: {
          "set-cookie": sessionCookieHeader(
            config,
            result.sessionId,
            config.sessionTtlMs,
          ),
        },
      },
    );
  },
};
