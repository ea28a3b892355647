/** Small checks routes share. */
import { jsonError } from "./http.ts";
import type { OwnerState, State } from "./state.ts";
import type { Session } from "./store/sessions.ts";

function notSignedIn(): { error: Response } {
  return {
    error: jsonError(
      401,
      "not_signed_in",
      "Sign in first: this needs your wallet or browser key.",
    ),
  };
}

export function requireSession(
  state: State,
): { session: Session; error?: never } | { error: Response } {
  if (!state.session) return notSignedIn();
  return { session: state.session };
}

/**
 * The state narrowed to a signed-in owner (session and handle), or a ready
 * 401 (signed out) / 409 (no handle) answer. `routes/api/me/_middleware.ts`
 * runs it for every route under /api/me, so those routes do not.
 */
export function requireHandle(
  state: State,
): (OwnerState & { error?: never }) | { error: Response } {
  const { session, sessionId, handle } = state;
  // A session is never set without its id; if it were, count it signed out.
  if (!session || !sessionId) return notSignedIn();
  if (!handle) {
    return {
      error: jsonError(409, "no_handle", "Claim a handle first."),
    };
  }
  return { session, sessionId, handle };
}
