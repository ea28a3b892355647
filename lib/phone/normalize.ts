/**
 * Phone numbers in, E.164 out, with libphonenumber-js's full metadata: only
 * valid numbers that can receive SMS (mobile, or fixed-line-or-mobile where
 * a country does not tell them apart) are accepted.
 */
import { parsePhoneNumberFromString } from "libphonenumber-js/max";

export type Normalized =
  | { ok: true; e164: string; country: string | undefined }
  | { ok: false; message: string };

const SMS_CAPABLE = new Set(["MOBILE", "FIXED_LINE_OR_MOBILE"]);

export function normalizePhone(input: string): Normalized {
  const text = input.trim();
  if (!text) return { ok: false, message: "Enter a phone number." };
  if (text.length > 40) {
    return { ok: false, message: "That is too long to be a phone number." };
  }
  if (!text.startsWith("+") && !text.startsWith("00")) {
    return {
      ok: false,
      message:
        "Start the number with + and the country code, like +44 7911 123456.",
    };
  }
  const p = parsePhoneNumberFromString(text.replace(/^00/, "+"));
  if (!p || !p.isValid()) {
    return { ok: false, message: "That is not a valid phone number." };
  }
  const type = p.getType();
  if (type && !SMS_CAPABLE.has(type)) {
    return {
      ok: false,
      message: "That number cannot receive text messages; use a mobile number.",
    };
  }
  return { ok: true, e164: p.number, country: p.country };
}
