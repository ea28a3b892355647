import type { Handlers } from "$fresh/server.ts";
import { app } from "@/lib/app.ts";
import { requireHandle } from "@/lib/guards.ts";
import { fail, failureResponse } from "@/lib/http.ts";
import { directoryChunk } from "@/lib/phone/discovery.ts";
import type { State } from "@/lib/state.ts";

/**
 * One chunk (`?chunk=N`, default 0) of the contact-discovery directory, as
 * bytes (lib/phone/DISCOVERY.md), with an ETag; 304 when If-None-Match
 * names it. For signed-in owners (401 signed out, 409 without a handle):
 * an entry opens only for someone who evaluated its number.
 */
export const handler: Handlers<unknown, State> = {
  async GET(req, ctx) {
    const owner = requireHandle(ctx.state);
    if (owner.error) return owner.error;
    const raw = ctx.url.searchParams.get("chunk") ?? "0";
    if (!/^\d{1,3}$/.test(raw)) {
      return failureResponse(fail("invalid_request", {
        message: "chunk must be a whole number from 0 to 255.",
      }));
    }
    const { kv, config } = await app();
    const r = await directoryChunk(
      kv,
      config,
      Number(raw),
      req.headers.get("if-none-match"),
    );
    if (!r.ok) return failureResponse(r);
    const headers = {
      etag: r.data.etag,
      // The browser may keep it, but asks each time whether it changed.
      "cache-control": "private, no-cache",
      vary: "cookie",
    };
    if (r.data.current) {
      return new Response(null, { status: 304, headers });
    }
    return new Response(r.data.body as BodyInit, {
      headers: { ...headers, "content-type": "application/octet-stream" },
    });
  },
};
