/**
 * Opens the signaling WebSocket (signaling/PROTOCOL.md). Kept apart from
 * signal.ts so that a page can open its socket the moment a call is meant,
 * while the rest of the socket code is still loading (SignalSocket then
 * takes it over, `SignalOptions.socket`).
 */
const SUBPROTOCOL = "reach-signal.v1";

export function openSignalSocket(): WebSocket {
  const url = new URL("/api/signal", location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return new WebSocket(url, SUBPROTOCOL);
}
