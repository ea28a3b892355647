/**
 * Sign-In With Solana (SIWS) message text: formatter and strict parser.
 *
 * Browser-safe: no Deno APIs and no dependencies, because the sign-in island
 * imports this module to build the exact text the wallet signs.
 *
 * The text follows the Solana Wallet Standard / Phantom SIWS layout (itself
 * modelled on EIP-4361). Line by line, optional lines in brackets:
 *
 * ```
 * ${domain} wants you to sign in with your Solana account:
 * ${address}
 *
 * [${statement}
 * ]
 * URI: ${uri}
 * Version: 1
 * Chain ID: ${chainId}
 * Nonce: ${nonce}
 * Issued At: ${issuedAt}
 * [Expiration Time: ${expirationTime}]
 * [Not Before: ${notBefore}]
 * [Request ID: ${requestId}]
 * [Resources:
 * - ${resources[0]}
 * - ...]
 * ```
 *
 * Lines are joined with a single LF; there is no trailing newline. The
 * standard makes every field after the address optional; Reach requires
 * URI, Version, Chain ID, Nonce and Issued At (the server additionally
 * requires Expiration Time, see `verifySiws`).
 *
 * Caps (anything beyond is rejected, by both the formatter and the parser):
 * - whole message: 4096 UTF-8 bytes
 * - domain: 255 chars, `host[:port]` (host = letters, digits, `.`, `-`, or a
 *   bracketed IPv6 literal)
 * - address: 32–44 base58 chars
 * - statement: 500 chars, one line, no control or bidi-override characters
 * - uri and each resource: 2048 chars, `scheme:rest`, no whitespace
 * - version: exactly `1`
 * - chainId: 64 chars of `[A-Za-z0-9:_-]` (e.g. `mainnet`, `solana:devnet`)
 * - nonce: 8–64 ASCII letters and digits
 * - timestamps: 64 chars, RFC 3339 / ISO-8601 `YYYY-MM-DDTHH:MM:SS[.fff]`
 *   followed by `Z` or `±HH:MM`, year 1970–9999
 * - requestId: 256 chars of printable ASCII, no spaces
 * - resources: at most 10
 */

/** Header suffix of the first line. */
export const SIWS_HEADER_SUFFIX =
  " wants you to sign in with your Solana account:";

/** Documented caps; exported so UIs and tests share them. */
export const SIWS_LIMITS = {
  messageBytes: 4096,
  domain: 255,
  addressMin: 32,
  addressMax: 44,
  statement: 500,
  uri: 2048,
  chainId: 64,
  nonceMin: 8,
  nonceMax: 64,
  timestamp: 64,
  requestId: 256,
  resource: 2048,
  resources: 10,
} as const;

/** The fields of a SIWS message. */
export interface SiwsFields {
  /** RFC 3986 authority (`host[:port]`) of the site asking for the sign-in. */
  domain: string;
  /** Base58 Solana address (ed25519 public key) that signs. */
  address: string;
  /** Optional single-line human-readable statement. */
  statement?: string;
  /** RFC 3986 URI of the resource the sign-in is for. */
  uri: string;
  /** Message version; only `"1"` exists. */
  version: "1";
  /** Solana cluster, e.g. `mainnet`, `devnet`, `solana:mainnet`. */
  chainId: string;
  /** Server-issued single-use nonce, 8–64 alphanumerics. */
  nonce: string;
  /** ISO-8601 timestamp the message was made. */
  issuedAt: string;
  /** ISO-8601 timestamp after which the message is no longer valid. */
  expirationTime?: string;
  /** ISO-8601 timestamp before which the message is not yet valid. */
  notBefore?: string;
  /** Opaque request id chosen by the site. */
  requestId?: string;
  /** URIs the sign-in also covers (at most 10). */
  resources?: string[];
}

/** Stable failure codes of parsing and verification. */
export type SiwsErrorCode =
  // text / structure
  | "malformed"
  | "too_large"
  | "bad_line_ending"
  | "invalid_character"
  | "missing_field"
  | "duplicate_field"
  | "out_of_order"
  | "unexpected_line"
  // field values
  | "field_too_long"
  | "invalid_field"
  | "invalid_timestamp"
  | "too_many_resources"
  | "unsupported_version"
  // verification (see siws.ts)
  | "bad_base58"
  | "bad_key_length"
  | "bad_signature_length"
  | "bad_address"
  | "address_mismatch"
  | "wrong_domain"
  | "wrong_uri"
  | "wrong_chain"
  | "issued_at_skew"
  | "missing_expiration"
  | "expiration_before_issued_at"
  | "expired"
  | "not_yet_valid"
  | "bad_signature";

/** A failure: a stable `code`, a sentence for people, and the field if any. */
export interface SiwsFailure {
  ok: false;
  code: SiwsErrorCode;
  message: string;
  field?: keyof SiwsFields;
}

export type SiwsParseResult = { ok: true; fields: SiwsFields } | SiwsFailure;

/** Thrown by `formatSiwsMessage` when the fields would not make a valid message. */
export class SiwsFormatError extends Error {
  readonly code: SiwsErrorCode;
  readonly field?: keyof SiwsFields;
  constructor(failure: SiwsFailure) {
    super(failure.message);
    this.name = "SiwsFormatError";
    this.code = failure.code;
    this.field = failure.field;
  }
}

/** Labels of the field lines, in the only order allowed. */
const FIELD_LINES = [
  ["uri", "URI"],
  ["version", "Version"],
  ["chainId", "Chain ID"],
  ["nonce", "Nonce"],
  ["issuedAt", "Issued At"],
  ["expirationTime", "Expiration Time"],
  ["notBefore", "Not Before"],
  ["requestId", "Request ID"],
] as const;
const RESOURCES_LINE = "Resources:";
const RESOURCE_PREFIX = "- ";
const RESOURCES_ORDER = FIELD_LINES.length;

type LineField = (typeof FIELD_LINES)[number][0];

const LABELS: Record<keyof SiwsFields, string> = {
  domain: "domain",
  address: "address",
  statement: "statement",
  uri: "URI",
  version: "Version",
  chainId: "Chain ID",
  nonce: "Nonce",
  issuedAt: "Issued At",
  expirationTime: "Expiration Time",
  notBefore: "Not Before",
  requestId: "Request ID",
  resources: "Resources",
};

const HOST_PORT =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;
const BASE58 = /^[1-9A-HJ-NP-Za-km-z]+$/;
const URI = /^[A-Za-z][A-Za-z0-9+.-]*:[\x21-\x7E]+$/;
const CHAIN_ID = /^[A-Za-z0-9:_-]+$/;
const NONCE = /^[A-Za-z0-9]+$/;
const REQUEST_ID = /^[\x21-\x7E]+$/;
const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:(Z)|([+-])(\d{2}):(\d{2}))$/;
// C0 controls except LF, DEL, C1 controls. LF and CR are handled separately.
// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x09\x0B-\x1F\x7F-\x9F]/;
// Bidi overrides/isolates and line/paragraph separators: they can make the
// statement display differently from what is signed.
const BIDI_OR_SEPARATOR =
  /[\u061C\u200E\u200F\u2028\u2029\u202A-\u202E\u2066-\u2069]/;
// Written without lookbehind so older browsers can run it.
const LONE_SURROGATE =
  /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?:^|[^\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const encoder = new TextEncoder();

/** A failure result; shared with the verifier. */
export function fail(
  code: SiwsErrorCode,
  message: string,
  field?: keyof SiwsFields,
): SiwsFailure {
  return field === undefined
    ? { ok: false, code, message }
    : { ok: false, code, message, field };
}

function tooLong(field: keyof SiwsFields, max: number): SiwsFailure {
  return fail(
    "field_too_long",
    `The ${
      LABELS[field]
    } in the sign-in message is longer than ${max} characters.`,
    field,
  );
}

function invalid(field: keyof SiwsFields, what: string): SiwsFailure {
  return fail(
    "invalid_field",
    `The ${LABELS[field]} in the sign-in message ${what}.`,
    field,
  );
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Parses an RFC 3339 timestamp (`Z` or `±HH:MM` offset required) to epoch
 * milliseconds, or `undefined` if it is not one (including impossible dates
 * such as February 30th).
 */
export function parseSiwsTimestamp(value: string): number | undefined {
  if (value.length > SIWS_LIMITS.timestamp) return undefined;
  const m = TIMESTAMP.exec(value);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number);
  const fraction = m[7] ?? "";
  if (y < 1970 || mo < 1 || mo > 12 || d < 1) return undefined;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const maxDay = mo === 2 && leap ? 29 : DAYS_IN_MONTH[mo - 1];
  if (d > maxDay || h > 23 || mi > 59 || s > 59) return undefined;
  let offsetMin = 0;
  if (m[8] !== "Z") {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return undefined;
    offsetMin = (m[9] === "-" ? -1 : 1) * (oh * 60 + om);
  }
  const ms = Number((fraction + "000").slice(0, 3));
  return Date.UTC(y, mo - 1, d, h, mi, s, ms) - offsetMin * 60_000;
}

function checkTimestamp(
  field: "issuedAt" | "expirationTime" | "notBefore",
  value: string,
): SiwsFailure | undefined {
  if (value.length > SIWS_LIMITS.timestamp) {
    return tooLong(field, SIWS_LIMITS.timestamp);
  }
  if (parseSiwsTimestamp(value) === undefined) {
    return fail(
      "invalid_timestamp",
      `The ${
        LABELS[field]
      } in the sign-in message is not a valid ISO-8601 time with a time zone.`,
      field,
    );
  }
  return undefined;
}

function checkUri(
  field: "uri" | "resources",
  value: string,
): SiwsFailure | undefined {
  const max = field === "uri" ? SIWS_LIMITS.uri : SIWS_LIMITS.resource;
  if (value.length > max) return tooLong(field, max);
  if (!URI.test(value)) {
    return invalid(field, "is not an absolute URI without spaces");
  }
  return undefined;
}

function checkText(value: string, field: keyof SiwsFields) {
  if (
    value.includes("\n") || value.includes("\r") || CONTROL.test(value) ||
    BIDI_OR_SEPARATOR.test(value) || LONE_SURROGATE.test(value)
  ) {
    return fail(
      "invalid_character",
      `The ${
        LABELS[field]
      } in the sign-in message contains a line break or a control character.`,
      field,
    );
  }
  return undefined;
}

/**
 * Checks every field against the caps and formats documented above. Returns
 * the first failure, in message line order, or `undefined` when valid.
 */
export function validateSiwsFields(f: SiwsFields): SiwsFailure | undefined {
  if (typeof f !== "object" || f === null) {
    return fail("malformed", "The sign-in fields are missing.");
  }
  const required = [
    "domain",
    "address",
    "uri",
    "version",
    "chainId",
    "nonce",
    "issuedAt",
  ] as const;
  for (const key of required) {
    if (typeof f[key] !== "string" || f[key] === "") {
      return fail(
        "missing_field",
        `The sign-in message has no ${LABELS[key]}.`,
        key,
      );
    }
  }
  const optional = [
    "statement",
    "expirationTime",
    "notBefore",
    "requestId",
  ] as const;
  for (const key of optional) {
    if (f[key] !== undefined && typeof f[key] !== "string") {
      return invalid(key, "is not text");
    }
  }
  if (
    f.resources !== undefined &&
    (!Array.isArray(f.resources) ||
      f.resources.some((r) => typeof r !== "string"))
  ) {
    return invalid("resources", "is not a list of URIs");
  }

  // domain
  if (f.domain.length > SIWS_LIMITS.domain) {
    return tooLong("domain", SIWS_LIMITS.domain);
  }
  if (!HOST_PORT.test(f.domain)) {
    return invalid("domain", "is not a host name with an optional port");
  }
  // address
  if (f.address.length > SIWS_LIMITS.addressMax) {
    return tooLong("address", SIWS_LIMITS.addressMax);
  }
  if (f.address.length < SIWS_LIMITS.addressMin || !BASE58.test(f.address)) {
    return invalid("address", "is not a base58 Solana address");
  }
  // statement
  if (f.statement !== undefined) {
    if (f.statement.length > SIWS_LIMITS.statement) {
      return tooLong("statement", SIWS_LIMITS.statement);
    }
    const bad = checkText(f.statement, "statement");
    if (bad) return bad;
    if (f.statement.trim() === "") {
      return invalid("statement", "is blank");
    }
  }
  // uri
  const badUri = checkUri("uri", f.uri);
  if (badUri) return badUri;
  // version
  if (f.version !== "1") {
    return fail(
      "unsupported_version",
      "The sign-in message uses a version other than 1.",
      "version",
    );
  }
  // chainId
  if (f.chainId.length > SIWS_LIMITS.chainId) {
    return tooLong("chainId", SIWS_LIMITS.chainId);
  }
  if (!CHAIN_ID.test(f.chainId)) {
    return invalid("chainId", "is not a Solana cluster name");
  }
  // nonce
  if (f.nonce.length > SIWS_LIMITS.nonceMax) {
    return tooLong("nonce", SIWS_LIMITS.nonceMax);
  }
  if (f.nonce.length < SIWS_LIMITS.nonceMin || !NONCE.test(f.nonce)) {
    return invalid(
      "nonce",
      `is not ${SIWS_LIMITS.nonceMin} to ${SIWS_LIMITS.nonceMax} letters and digits`,
    );
  }
  // timestamps
  for (const key of ["issuedAt", "expirationTime", "notBefore"] as const) {
    const value = f[key];
    if (value === undefined) continue;
    const bad = checkTimestamp(key, value);
    if (bad) return bad;
  }
  // requestId
  if (f.requestId !== undefined) {
    if (f.requestId.length > SIWS_LIMITS.requestId) {
      return tooLong("requestId", SIWS_LIMITS.requestId);
    }
    if (!REQUEST_ID.test(f.requestId)) {
      return invalid("requestId", "contains spaces or non-ASCII characters");
    }
  }
  // resources
  if (f.resources !== undefined) {
    if (f.resources.length > SIWS_LIMITS.resources) {
      return fail(
        "too_many_resources",
        `The sign-in message lists more than ${SIWS_LIMITS.resources} resources.`,
        "resources",
      );
    }
    for (const r of f.resources) {
      const bad = checkUri("resources", r);
      if (bad) return bad;
    }
  }
  return undefined;
}

function checkSize(text: string): SiwsFailure | undefined {
  // UTF-8 never has fewer bytes than UTF-16 code units, so a long string can
  // be rejected before encoding it.
  if (
    text.length > SIWS_LIMITS.messageBytes ||
    encoder.encode(text).length > SIWS_LIMITS.messageBytes
  ) {
    return fail(
      "too_large",
      `The sign-in message is larger than ${SIWS_LIMITS.messageBytes} bytes.`,
    );
  }
  return undefined;
}

/**
 * Builds the exact SIWS text for `fields`. Optional fields that are
 * `undefined` (or an empty statement / empty resources list) are left out.
 * Throws `SiwsFormatError` if the result would not pass `parseSiwsMessage`.
 */
export function formatSiwsMessage(fields: SiwsFields): string {
  const f: SiwsFields = {
    ...fields,
    statement: fields.statement === "" ? undefined : fields.statement,
    resources: fields.resources?.length ? fields.resources : undefined,
  };
  const bad = validateSiwsFields(f);
  if (bad) throw new SiwsFormatError(bad);

  const lines = [`${f.domain}${SIWS_HEADER_SUFFIX}`, f.address, ""];
  if (f.statement !== undefined) lines.push(f.statement, "");
  for (const [key, label] of FIELD_LINES) {
    const value = f[key];
    if (value !== undefined) lines.push(`${label}: ${value}`);
  }
  if (f.resources) {
    lines.push(RESOURCES_LINE);
    for (const r of f.resources) lines.push(`${RESOURCE_PREFIX}${r}`);
  }
  const text = lines.join("\n");
  const tooBig = checkSize(text);
  if (tooBig) throw new SiwsFormatError(tooBig);
  return text;
}

/**
 * Strictly parses SIWS text: exact line order, LF line endings only, no
 * blank or unknown lines, no trailing newline, every cap enforced. Returns
 * the fields or a failure with a stable code. Does not check the signature,
 * times against a clock, or the domain — see `verifySiws`.
 */
export function parseSiwsMessage(text: string): SiwsParseResult {
  if (typeof text !== "string") {
    return fail("malformed", "The sign-in message is not text.");
  }
  const tooBig = checkSize(text);
  if (tooBig) return tooBig;
  if (text.includes("\r")) {
    return fail(
      "bad_line_ending",
      "The sign-in message must use plain line feeds, not carriage returns.",
    );
  }
  if (CONTROL.test(text) || LONE_SURROGATE.test(text)) {
    return fail(
      "invalid_character",
      "The sign-in message contains a control character.",
    );
  }

  const lines = text.split("\n");
  const header = lines[0];
  if (!header.endsWith(SIWS_HEADER_SUFFIX)) {
    return fail(
      "malformed",
      "The sign-in message does not start with the Sign-In With Solana header.",
    );
  }
  const domain = header.slice(0, -SIWS_HEADER_SUFFIX.length);
  if (lines.length < 2 || lines[1] === "") {
    return fail(
      "missing_field",
      "The sign-in message has no address.",
      "address",
    );
  }
  const address = lines[1];
  if (lines.length < 3 || lines[2] !== "") {
    return fail(
      "malformed",
      "The sign-in message needs a blank line after the address.",
    );
  }

  // A statement is present exactly when the line after it is blank: without
  // a statement that line is "Version: ...".
  let statement: string | undefined;
  let i = 3;
  if (lines.length > 4 && lines[4] === "") {
    statement = lines[3];
    if (statement === "") {
      return fail("malformed", "The sign-in message has too many blank lines.");
    }
    i = 5;
  }

  const values: Partial<Record<LineField, string>> = {};
  let resources: string[] | undefined;
  let lastOrder = -1;
  for (; i < lines.length; i++) {
    const line = lines[i];
    if (resources !== undefined && line.startsWith(RESOURCE_PREFIX)) {
      resources.push(line.slice(RESOURCE_PREFIX.length));
      continue;
    }
    let order = -1;
    let key: LineField | undefined;
    let value = "";
    if (line === RESOURCES_LINE) {
      order = RESOURCES_ORDER;
    } else {
      for (let j = 0; j < FIELD_LINES.length; j++) {
        const [k, label] = FIELD_LINES[j];
        if (line.startsWith(`${label}: `)) {
          order = j;
          key = k;
          value = line.slice(label.length + 2);
          break;
        }
      }
    }
    if (order < 0) {
      return fail(
        "unexpected_line",
        `Line ${
          i + 1
        } of the sign-in message is not a Sign-In With Solana field.`,
      );
    }
    const seen = order === RESOURCES_ORDER
      ? resources !== undefined
      : key !== undefined && values[key] !== undefined;
    if (seen) {
      return fail(
        "duplicate_field",
        `Line ${i + 1} of the sign-in message repeats a field.`,
        key ?? "resources",
      );
    }
    if (order < lastOrder) {
      return fail(
        "out_of_order",
        `Line ${i + 1} of the sign-in message is out of order.`,
        key ?? "resources",
      );
    }
    lastOrder = order;
    if (key === undefined) {
      resources = [];
    } else {
      if (value === "") {
        return fail(
          "missing_field",
          `The ${LABELS[key]} line of the sign-in message is empty.`,
          key,
        );
      }
      values[key] = value;
    }
  }
  if (resources !== undefined && resources.length === 0) {
    return fail(
      "malformed",
      "The sign-in message has a Resources line with no resources under it.",
      "resources",
    );
  }

  for (const [key] of FIELD_LINES.slice(0, 5)) {
    if (values[key] === undefined) {
      return fail(
        "missing_field",
        `The sign-in message has no ${LABELS[key]} line.`,
        key,
      );
    }
  }

  const fields: SiwsFields = {
    domain,
    address,
    uri: values.uri!,
    version: values.version! as "1",
    chainId: values.chainId!,
    nonce: values.nonce!,
    issuedAt: values.issuedAt!,
  };
  if (statement !== undefined) fields.statement = statement;
  if (values.expirationTime !== undefined) {
    fields.expirationTime = values.expirationTime;
  }
  if (values.notBefore !== undefined) fields.notBefore = values.notBefore;
  if (values.requestId !== undefined) fields.requestId = values.requestId;
  if (resources !== undefined) fields.resources = resources;

  const bad = validateSiwsFields(fields);
  if (bad) return bad;
  return { ok: true, fields };
}
