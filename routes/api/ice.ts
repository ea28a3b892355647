/**
 * GET /api/ice: the ICE servers (and short-lived TURN credentials) a browser
 * needs for a call. Anyone may ask, so each client address is limited
 * (iceRequestsPerAddress, a minute, counted in KV so every isolate shares
 * it); the address is never logged or stored, only its keyed hash counts.
 */
import type { Handlers } from "$fresh/server.ts";
import { app } from "../../lib/app.ts";
import { json, jsonError } from "../../lib/http.ts";
import { requestAddress } from "../../lib/client_address.ts";
import { atMost, rateLimited, spend } from "../../lib/limit_check.ts";
import { log } from "../../lib/log.ts";
import { iceServersFor, TurnUnavailableError } from "../../lib/turn.ts";

export const handler: Handlers = {
  async GET(req, ctx) {
    const { config, kv } = await app();
    const verdict = await spend(kv, config.limits, [{
      limit: "iceRequestsPerAddress",
      subject: await requestAddress(req, ctx.remoteAddr, config),
    }]);
    if (!verdict.ok) {
      return rateLimited(
        `Too many requests for ICE servers from your network (${
          atMost(config.limits, verdict.limit)
        }).`,
        verdict.retryAfterMs,
      );
    }
    try {
      return json(await iceServersFor(config.ice), {
        headers: { "cache-control": "no-store" },
      });
    } catch (e) {
      if (!(e instanceof TurnUnavailableError)) throw e;
      log("ice.turn_unavailable", {
        kind: config.ice.provider,
        reason: e.reason,
        code: e.status,
      });
      return jsonError(
        503,
        "turn_unavailable",
        "Relay servers for calls are unavailable right now; try again shortly.",
      );
    }
  },
};
