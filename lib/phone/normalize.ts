/**
 * Phone numbers in, E.164 out, with libphonenumber-js's full metadata: only
 * valid numbers that can receive SMS (mobile, or fixed-line-or-mobile where
 * a country does not tell them apart) are accepted.
 */
import { parsePhoneNumberFromString } from "libphonenumber-js/max";
import type { Failure } from "../http.ts";

export type Normalized =
  | { ok: true; e164: string; country: string | undefined }
  | Failure<"invalid_phone"> & { message: string };

function invalid(message: string): Normalized {
  return { ok: false, code: "invalid_phone", message };
}

const SMS_CAPABLE = new Set(["MOBILE", "FIXED_LINE_OR_MOBILE"]);

export function normalizePhone(input: string): Normalized {
  const text = input.trim();
  if (!text) return invalid("Enter a phone number.");
  if (text.length > 40) {
    return invalid("That is too long to be a phone number.");
  }
  if (!text.startsWith("+") && !text.startsWith("00")) {
    return invalid(
      "Start the number with + and the country code, like +44 7911 123456.",
    );
  }
  const p = parsePhoneNumberFromString(text.replace(/^00/, "+"));
  if (!p || !p.isValid()) {
    return invalid("That is not a valid phone number.");
  }
  const type = p.getType();
  if (type && !SMS_CAPABLE.has(type)) {
    return invalid(
      "That number cannot receive text messages; use a mobile number.",
    );
  }
  return { ok: true, e164: p.number, country: p.country };
}
