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
