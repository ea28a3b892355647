/**
 * Call preferences this browser remembers (localStorage), the same for
 * both sides: "Hide my IP" holds for the calls it places and those it takes.
 */
export type Store = Pick<Storage, "getItem" | "setItem">;

export const HIDE_IP = "reach.hideIp";
export const RECEIVE = "reach.receive";
export const RING_WHEN_BUSY = "reach.ringWhenBusy";

export const readPref = (key: string, s: Store = localStorage): boolean =>
  s.getItem(key) === "1";

export const writePref = (
  key: string,
  on: boolean,
  s: Store = localStorage,
): void => s.setItem(key, on ? "1" : "0");

/** Relay-only ICE hides this browser's addresses from the other side. */
export const icePolicy = (s: Store): RTCIceTransportPolicy =>
  readPref(HIDE_IP, s) ? "relay" : "all";

/** The wallet key this browser pinned per handle (trust on first use). */
export const PINS = "reach.pins";

export function pins(s: Store): Record<string, string> {
  try {
    const v = JSON.parse(s.getItem(PINS) ?? "{}");
    return v && typeof v === "object" && !Array.isArray(v) ? v : {};
  } catch {
    return {};
  }
}

export function pin(s: Store, handle: string, wallet: string): void {
  s.setItem(PINS, JSON.stringify({ ...pins(s), [handle]: wallet }));
}
