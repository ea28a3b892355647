/**
 * Callers this browser verified, remembered by call id for "Recent calls"
 * (islands/KnownCallers.tsx): the server keeps only a pseudonym. Its own
 * module, so the history island loads nothing else.
 */
import type { Store } from "./prefs.ts";

/** Call id → handle, oldest first; at most MAX_KNOWN_CALLERS. */
export const KNOWN_CALLERS = "reach.callers";
export const MAX_KNOWN_CALLERS = 500;

export function knownCallers(s: Store): Record<string, string> {
  try {
    const v = JSON.parse(s.getItem(KNOWN_CALLERS) ?? "{}");
    return v && typeof v === "object" && !Array.isArray(v) ? v : {};
  } catch {
    return {};
  }
}

export function rememberCaller(s: Store, callId: string, handle: string) {
  const all = knownCallers(s);
  delete all[callId];
  all[callId] = handle;
  const ids = Object.keys(all);
  for (const id of ids.slice(0, Math.max(0, ids.length - MAX_KNOWN_CALLERS))) {
    delete all[id];
  }
  s.setItem(KNOWN_CALLERS, JSON.stringify(all));
}
