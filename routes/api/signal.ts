import type { Handlers } from "$fresh/server.ts";
import { app } from "@/lib/app.ts";
import { requestAddress } from "@/lib/client_address.ts";
import { jsonError } from "@/lib/http.ts";
import type { State } from "@/lib/state.ts";
import { getHub } from "@/signaling/instance.ts";
import { SUBPROTOCOL } from "@/signaling/protocol.ts";

/** The signaling WebSocket (signaling/PROTOCOL.md). */
export const handler: Handlers<unknown, State> = {
  async GET(req, ctx) {
    if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return jsonError(
        426,
        "upgrade_required",
        "This endpoint speaks WebSocket only.",
        { headers: { upgrade: "websocket" } },
      );
    }
    const { config } = await app();
    // Browsers always send Origin on WebSocket handshakes; refuse other sites.
    if (req.headers.get("origin") !== config.origin) {
      return jsonError(
        403,
        "cross_origin",
        "This connection came from another site.",
      );
    }
    const offered = (req.headers.get("sec-websocket-protocol") ?? "")
      .split(",").map((p) => p.trim());
    if (!offered.includes(SUBPROTOCOL)) {
      return jsonError(
        400,
        "unsupported_protocol",
        `Ask for the WebSocket subprotocol ${SUBPROTOCOL}.`,
      );
    }
    const hub = await getHub();
    const address = await requestAddress(req, ctx.remoteAddr, config);
    // Refused before the upgrade: no socket, no frame buffered.
    const slot = await hub.admit(address);
    if (!slot) {
      return jsonError(
        429,
        "too_many_connections",
        `Too many open connections from your network (at most ${config.limits.socketsPerAddress}); close a Reach tab and try again.`,
        { headers: { "retry-after": "15" } },
      );
    }
    // idleTimeout 0: no ping timer re-armed on every frame; the hub's own
    // heartbeats close a silent socket (PROTOCOL.md, Timers).
    const { socket, response } = Deno.upgradeWebSocket(req, {
      protocol: SUBPROTOCOL,
      idleTimeout: 0,
    });
    hub.attach(socket, {
      publicKey: ctx.state.session?.publicKey ?? null,
      handle: ctx.state.handle,
      address,
    }, slot);
    return response;
  },
};
