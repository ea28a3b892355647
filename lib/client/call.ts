/**
 * The browser's call core: one object per call for both pages, in
 * lib/client/call/ one job per module.
 *
 * - base.ts: `Call`, the shared base (state, listeners, signaling
 *   subscription, media session, proofs, security stop, resume), `CallState`
 *   and `CallDeps` (what it takes from the browser, faked in tests).
 * - outgoing.ts: `OutgoingCall`, the /@handle page's call.
 * - incoming.ts: `IncomingCall`, a call ringing a /me device.
 * - texts.ts: what each side says when a call ends; which endings allow a
 *   voicemail.
 * - prefs.ts: preferences remembered for both sides ("Hide my IP"), and
 *   the wallet keys pinned per handle.
 * - known_callers.ts: the callers this browser verified, for "Recent calls".
 *
 * The islands import the modules they need directly, so the /@handle page
 * loads no callee code.
 */
export * from "./call/base.ts";
export * from "./call/outgoing.ts";
export * from "./call/incoming.ts";
export * from "./call/texts.ts";
export * from "./call/prefs.ts";
export * from "./call/known_callers.ts";
