/** Small checks routes share. */
import { jsonError } from "./http.ts";
import type { State } from "./state.ts";
import type { Session } from "./store/sessions.ts";

export function requireSession(
  state: State,
): { session: Session; error?: never } | { error: Response } {
  if (!state.session) {
    return {
      error: jsonError(
        401,
        "not_signed_in",
        "Sign in first: this needs your wallet or browser key.",
      ),
    };
  }
  return { session: state.session };
}

/** The signed-in owner's handle, or a ready 401 (signed out) / 409 (no handle) answer. */
export function requireHandle(
  state: State,
): { handle: string; error?: never } | { error: Response } {
  const auth = requireSession(state);
  if (auth.error) return auth;
  if (!state.handle) {
    return {
      error: jsonError(409, "no_handle", "Claim a handle first."),
    };
  }
  return { handle: state.handle };
}
