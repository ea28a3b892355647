import type { Handlers } from "$fresh/server.ts";
import { z } from "zod";
import { app } from "../../lib/app.ts";
import { requireSession } from "../../lib/guards.ts";
import { fail, failureResponse, json, readJsonBody } from "../../lib/http.ts";
import { requestAddress } from "../../lib/client_address.ts";
import {
  discover,
  DISCOVERY_MAX_PER_REQUEST,
} from "../../lib/phone/discovery.ts";
import type { State } from "../../lib/state.ts";

const Body = z.strictObject({
  phones: z.array(z.string().max(64)).min(1).max(
    DISCOVERY_MAX_PER_REQUEST,
    `At most ${DISCOVERY_MAX_PER_REQUEST} numbers per request.`,
  ),
});

/**
 * Which of these numbers belong to owners who chose to be findable. Only a
 * signed-in person with a handle may ask (401 signed out, 409 no handle), so
 * fresh keys cannot each bring a fresh budget.
 */
export const handler: Handlers<unknown, State> = {
  async POST(req, ctx) {
    const auth = requireSession(ctx.state);
    if (auth.error) return auth.error;
    const handle = ctx.state.handle;
    if (!handle) {
      return failureResponse(fail("no_handle", {
        message: "Claim a handle first: looking up numbers needs one.",
      }));
    }
    // 500 numbers of up to 64 characters fit well within 64 KiB.
    const body = await readJsonBody(req, Body, 64 * 1024);
    if (!body.ok) return failureResponse(body);
    const { kv, config } = await app();
    const r = await discover(kv, config, {
      handle,
      address: await requestAddress(req, ctx.remoteAddr, config),
    }, body.data.phones);
    return r.ok ? json(r.data) : failureResponse(r);
  },
};
