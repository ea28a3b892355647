/** Handle rules: 3-30 of a-z 0-9 _, case-folded, and a reserved list. */

export const HANDLE_MIN = 3;
export const HANDLE_MAX = 30;

/** Names that belong to the service, its routes, or invite impersonation. */
export const RESERVED_HANDLES: ReadonlySet<string> = new Set([
  "about",
  "abuse",
  "account",
  "admin",
  "administrator",
  "api",
  "app",
  "auth",
  "billing",
  "blog",
  "bloom",
  "call",
  "calls",
  "contact",
  "dashboard",
  "dev",
  "docs",
  "help",
  "handles",
  "home",
  "info",
  "legal",
  "login",
  "logout",
  "me",
  "mod",
  "moderator",
  "null",
  "operator",
  "ops",
  "owner",
  "postmaster",
  "privacy",
  "reach",
  "root",
  "security",
  "settings",
  "signal",
  "signin",
  "signup",
  "staff",
  "static",
  "status",
  "support",
  "system",
  "team",
  "terms",
  "test",
  "undefined",
  "voicemail",
  "webmaster",
  "www",
  "_frsh",
]);

export type HandleCheck =
  | { ok: true; handle: string }
  | { ok: false; code: "invalid_handle" | "reserved_handle"; message: string };

/** Case-folds and validates a handle typed by a person (a leading @ is allowed). */
export function checkHandle(input: string): HandleCheck {
  const handle = input.trim().replace(/^@/, "").toLowerCase();
  if (handle.length < HANDLE_MIN || handle.length > HANDLE_MAX) {
    return {
      ok: false,
      code: "invalid_handle",
      message: `A handle is ${HANDLE_MIN} to ${HANDLE_MAX} characters long.`,
    };
  }
  if (!/^[a-z0-9_]+$/.test(handle)) {
    return {
      ok: false,
      code: "invalid_handle",
      message: "A handle may use only letters a-z, digits 0-9 and underscores.",
    };
  }
  if (RESERVED_HANDLES.has(handle)) {
    return {
      ok: false,
      code: "reserved_handle",
      message: `@${handle} is reserved; please choose another handle.`,
    };
  }
  return { ok: true, handle };
}
