/** What the root middleware puts in `ctx.state` for routes and pages. */
import type { Session } from "./store/sessions.ts";

export interface State {
  /** The signed-in session, if any. */
  session: Session | null;
  sessionId: string | null;
  /** The signed-in wallet's handle, if it has claimed one. */
  handle: string | null;
}
