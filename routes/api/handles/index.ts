import type { Handlers } from "$fresh/server.ts";
import { z } from "zod";
import { app } from "@/lib/app.ts";
import { requireSession } from "@/lib/guards.ts";
import { json, jsonError, readJson } from "@/lib/http.ts";
import { checkHandle } from "@/lib/identity/handles.ts";
import { requestAddress } from "@/lib/client_address.ts";
import { atMost, rateLimited, spend } from "@/lib/limit_check.ts";
import { log } from "@/lib/log.ts";
import type { State } from "@/lib/state.ts";
import {
  claimHandle,
  type ClaimResult,
  getProfile,
  handleOfWallet,
} from "@/lib/store/profiles.ts";

const Body = z.object({ handle: z.string().max(64) });

function refused(code: "handle_taken" | "already_has_handle", handle: string) {
  log("handle.claim_refused", { code });
  return code === "handle_taken"
    ? jsonError(409, code, `@${handle} is already taken.`)
    : jsonError(
      409,
      code,
      "This wallet already has a handle; each wallet claims one.",
    );
}

export const handler: Handlers<unknown, State> = {
  async POST(req, ctx) {
    const auth = requireSession(ctx.state);
    if (auth.error) return auth.error;
    const body = await readJson(req, Body);
    if ("error" in body) return body.error;
    const checked = checkHandle(body.data.handle);
    if (!checked.ok) return jsonError(400, checked.code, checked.message);
    const { kv, config } = await app();
    const wallet = auth.session.publicKey;
    // Claims per address count only claims that look like they will succeed:
    // a taken handle or a wallet that has one is refused first, uncounted.
    // (Only a claim that loses a race after this check is counted and fails.)
    if (await handleOfWallet(kv, wallet)) {
      return refused("already_has_handle", checked.handle);
    }
    if (await getProfile(kv, checked.handle)) {
      return refused("handle_taken", checked.handle);
    }
    const address = await requestAddress(req, ctx.remoteAddr, config);
    const allowed = await spend(kv, config.limits, [
      { limit: "claimsPerAddress", subject: address },
    ]);
    if (!allowed.ok) {
      return rateLimited(
        `Too many handles claimed from your network (${
          atMost(config.limits, allowed.limit)
        }).`,
        allowed.retryAfterMs,
      );
    }
    const res: ClaimResult = await claimHandle(kv, checked.handle, wallet);
    if (!res.ok) return refused(res.code, checked.handle);
    log("handle.claimed");
    return json({ handle: res.profile.handle }, {
      status: 201,
      headers: { location: `/@${res.profile.handle}` },
    });
  },
};
