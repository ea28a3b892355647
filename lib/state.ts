/** What the root middleware puts in `ctx.state` for routes and pages. */
import type { Session } from "./store/sessions.ts";

export interface State {
  /** The signed-in session, if any. */
  session: Session | null;
  sessionId: string | null;
  /** The signed-in wallet's handle, if it has claimed one. */
  handle: string | null;
}

/**
 * The state of a request from a signed-in owner: a session and a handle.
 * Routes under `routes/api/me/` take it: `routes/api/me/_middleware.ts` lets
 * no other request reach them (401 signed out, 409 without a handle).
 */
export type OwnerState = { [K in keyof State]: NonNullable<State[K]> };
