import type { Handlers } from "$fresh/server.ts";
import { z } from "zod";
import { app } from "@/lib/app.ts";
import { requestAddress } from "@/lib/client_address.ts";
import { failureResponse, json, readJsonBody, statusOf } from "@/lib/http.ts";
import {
  evaluate,
  EVALUATE_MAX,
  type KeyRotated,
} from "@/lib/phone/discovery.ts";
import type { OwnerState } from "@/lib/state.ts";

const Body = z.strictObject({
  keyId: z.string().min(1).max(32),
  blinded: z.array(z.string().max(64)).min(1).max(
    EVALUATE_MAX,
    `At most ${EVALUATE_MAX} blinded elements per request.`,
  ),
});

/**
 * Evaluates blinded elements for contact discovery (lib/phone/DISCOVERY.md):
 * `{keyId, blinded}` in, `{keyId, evaluated, proof}` out. Signed-in owners
 * only (routes/api/me/_middleware.ts): fresh keys cannot each bring a fresh
 * budget. A stale keyId is 409 `key_rotated` with the current `keyId`.
 */
export const handler: Handlers<unknown, OwnerState> = {
  async POST(req, ctx) {
    // 100 elements of 43 characters fit well within 16 KiB.
    const body = await readJsonBody(req, Body);
    if (!body.ok) return failureResponse(body);
    const { kv, config } = await app();
    const r = await evaluate(kv, config, {
      handle: ctx.state.handle,
      address: await requestAddress(req, ctx.remoteAddr, config),
    }, body.data);
    if (r.ok) return json(r.data);
    if (r.code === "key_rotated") {
      const { message, keyId } = r as KeyRotated;
      return json({ error: r.code, message, keyId }, {
        status: statusOf(r.code),
      });
    }
    return failureResponse(r);
  },
};
