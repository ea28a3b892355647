/** What an owner may change on their public profile, and how it is shown. */
import { z } from "zod";

// Letters, marks, numbers, punctuation, symbols and plain spaces; no control
// or bidi-override characters that could disguise a name.
const printable = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]*$/u;

export const DISPLAY_NAME_MAX = 50;
export const GREETING_MAX = 280;

export const ProfilePatch = z.strictObject({
  displayName: z.string().trim().min(1, "Display name cannot be empty.").max(
    DISPLAY_NAME_MAX,
    `Display name is at most ${DISPLAY_NAME_MAX} characters.`,
  ).regex(printable, "Display name has characters that are not allowed.")
    .optional(),
  greeting: z.string().trim().max(
    GREETING_MAX,
    `Greeting is at most ${GREETING_MAX} characters.`,
  ).regex(printable, "Greeting has characters that are not allowed.")
    .optional(),
  accentColor: z.string().regex(
    /^#[0-9a-fA-F]{6}$/,
    "Accent colour must be a hex colour like #2563eb.",
  ).transform((s) => s.toLowerCase()).optional(),
}).refine((p) => Object.keys(p).length > 0, "Nothing to change.");
