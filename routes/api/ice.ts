/**
 * GET /api/ice: the ICE servers (and short-lived TURN credentials) a browser
 * needs for a call. Anyone may ask, so each client address is rate-limited
 * in this isolate's memory; the address is never logged or stored.
 */
import type { Handlers } from "$fresh/server.ts";
import { app } from "../../lib/app.ts";
import { json, jsonError } from "../../lib/http.ts";
import { log } from "../../lib/log.ts";
import { clientKey, TokenBucketLimiter } from "../../lib/rate_limit.ts";
import { iceServersFor, TurnUnavailableError } from "../../lib/turn.ts";

/** 30 requests a minute per client (IPv4 address or IPv6 /64), bursts of 10. */
export const iceLimiter = new TokenBucketLimiter({
  capacity: 10,
  refillPerSecond: 0.5,
  maxKeys: 10_000,
});

export const handler: Handlers = {
  async GET(_req, ctx) {
    const verdict = iceLimiter.take(clientKey(ctx.remoteAddr.hostname));
    if (!verdict.ok) {
      return jsonError(
        429,
        "rate_limited",
        `Too many requests for ICE servers; try again in ${verdict.retryAfterSeconds} s.`,
        { headers: { "retry-after": String(verdict.retryAfterSeconds) } },
      );
    }
    const { config } = await app();
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
