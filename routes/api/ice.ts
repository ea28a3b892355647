/**
 * GET /api/ice: the ICE servers (and short-lived TURN credentials) a browser
 * needs for a call. Anyone may ask, so each client address is limited
 * (iceRequestsPerAddress, a minute, counted in KV so every isolate shares
 * it); the address is never logged or stored, only its keyed hash counts.
 */
import type { Handlers } from "$fresh/server.ts";
import { app } from "@/lib/app.ts";
import { failureResponse, json } from "@/lib/http.ts";
import { requestAddress } from "@/lib/client_address.ts";
import { atMost, rateLimitFailure, spend } from "@/lib/limit_check.ts";
import { iceServers } from "@/lib/turn.ts";

export const handler: Handlers = {
  async GET(req, ctx) {
    const { config, kv } = await app();
    const verdict = await spend(kv, config.limits, [{
      limit: "iceRequestsPerAddress",
      subject: await requestAddress(req, ctx.remoteAddr, config),
    }]);
    if (!verdict.ok) {
      return failureResponse(rateLimitFailure(
        `Too many requests for ICE servers from your network (${
          atMost(config.limits, verdict.limit)
        }).`,
        verdict.retryAfterMs,
      ));
    }
    const answer = await iceServers(config.ice);
    return answer.ok ? json(answer.data) : failureResponse(answer);
  },
};
