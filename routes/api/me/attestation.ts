import type { Handlers } from "$fresh/server.ts";
import { app } from "@/lib/app.ts";
import { json } from "@/lib/http.ts";
import { attestOwner } from "@/lib/identity/attest.ts";
import type { OwnerState } from "@/lib/state.ts";

// Signed-in owners only: routes/api/me/_middleware.ts. The owner's browser
// asks on /me, never while calling: the answer is sealed into its rings.
export const handler: Handlers<unknown, OwnerState> = {
  async GET(_req, ctx) {
    const { config } = await app();
    const body = await attestOwner(config, {
      handle: ctx.state.handle,
      wallet: ctx.state.session.publicKey,
    });
    return json(body);
  },
};
