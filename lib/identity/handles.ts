/**
 * Handle rules: 3-30 of a-z 0-9 _, case-folded; a reserved list of the
 * service's own names and routes; and no handle that passes for the service
 * or its staff (see {@link impersonates}).
 */

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

/**
 * Names of the service and its staff. A handle is reserved when, with its
 * digits and underscores dropped, it is one of these (`admin1`, `help_desk`,
 * `staff_2`, `trust_and_safety`).
 */
export const IMPERSONATED_NAMES: ReadonlySet<string> = new Set([
  "abuse",
  "admin",
  "administrator",
  "billing",
  "customerservice",
  "customersupport",
  "help",
  "helpcenter",
  "helpdesk",
  "mod",
  "moderation",
  "moderator",
  "mods",
  "official",
  "officials",
  "operator",
  "operators",
  "ops",
  "reach",
  "root",
  "safety",
  "security",
  "service",
  "staff",
  "superuser",
  "support",
  "sysadmin",
  "system",
  "team",
  "trustandsafety",
  "trustsafety",
  "verified",
  "verify",
]);

/**
 * Words that reserve a handle when they are one of its parts between
 * underscores and digits (`reach_support`, `the_admin`, `help_me`,
 * `security_team`, `staff_bob`).
 */
export const IMPERSONATED_WORDS: ReadonlySet<string> = new Set([
  "admin",
  "administrator",
  "help",
  "helpdesk",
  "moderator",
  "official",
  "operator",
  "reach",
  "security",
  "staff",
  "support",
  "sysadmin",
]);

/**
 * Reserve a handle wherever they appear in it (`reachofficial`, `realreach`,
 * `sysadmin`), except inside the ordinary words of {@link INNOCENT_WORDS}.
 */
const IMPERSONATED_INSIDE = /reach|official|admin/;
/** Ordinary words that happen to contain one of {@link IMPERSONATED_INSIDE}. */
const INNOCENT_WORDS = /breach|preach|badminton/g;

/** True when `handle` (valid and case-folded) would pass for the service or its staff. */
export function impersonates(handle: string): boolean {
  const parts = handle.split(/[_0-9]+/).filter((p) => p !== "");
  if (IMPERSONATED_NAMES.has(parts.join(""))) return true;
  if (parts.some((p) => IMPERSONATED_WORDS.has(p))) return true;
  // Innocent words are removed part by part, so `b_reach` stays reserved.
  const rest = parts.map((p) => p.replace(INNOCENT_WORDS, "")).join("");
  return IMPERSONATED_INSIDE.test(rest);
}

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
  if (impersonates(handle)) {
    return {
      ok: false,
      code: "reserved_handle",
      message: `@${handle} is reserved: handles that could pass for Reach ` +
        "or its staff (reach, official, admin, support, security, help ...) " +
        "are not available. Please choose another handle.",
    };
  }
  return { ok: true, handle };
}
