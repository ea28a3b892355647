import type { Handlers } from "$fresh/server.ts";
import { checkHandle } from "../lib/identity/handles.ts";

/** The front page's "open a handle" form, without JavaScript. */
export const handler: Handlers = {
  GET(_req, ctx) {
    const input = ctx.url.searchParams.get("handle") ?? "";
    const c = checkHandle(input);
    const target = c.ok
      ? `/@${c.handle}`
      : `/@${encodeURIComponent(input.trim().replace(/^@/, "").slice(0, 64))}`;
    return new Response(null, { status: 303, headers: { location: target } });
  },
};
