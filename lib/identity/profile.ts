/** What an owner may change on their public profile, and how it is shown. */
import { z } from "zod";

// Letters, marks, numbers, punctuation, symbols and plain spaces; no control
// or bidi-override characters that could disguise a name.
const printable = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]*$/u;

/**
 * What shows nothing by itself: white space, default-ignorable code points
 * (zero-width characters, U+3164 HANGUL FILLER, U+115F, U+1160, U+FFA0,
 * U+034F, U+180E, U+FEFF, variation selectors, tags ...), U+2800 BRAILLE
 * PATTERN BLANK, and combining marks (which need a visible base).
 */
const invisible = /[\s\p{Default_Ignorable_Code_Point}\p{M}\u2800]/gu;

/** True when `s` has at least one character a reader can see. */
export function hasVisibleCharacter(s: string): boolean {
  return s.replace(invisible, "").length > 0;
}

export const DISPLAY_NAME_MAX = 50;
export const GREETING_MAX = 280;

export const ProfilePatch = z.strictObject({
  displayName: z.string().trim().min(
    1,
    "Display name cannot be empty: it needs at least one visible character.",
  ).max(
    DISPLAY_NAME_MAX,
    `Display name is at most ${DISPLAY_NAME_MAX} characters.`,
  ).refine(
    hasVisibleCharacter,
    "Display name needs at least one visible character: spaces and " +
      "invisible characters (such as U+3164 HANGUL FILLER or zero-width " +
      "spaces) alone would show a blank name.",
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
