/**
 * The HTTP edge: JSON answers, the one table of failures, and bounded,
 * validated request bodies.
 *
 * Services (lib/voicemail/service.ts, lib/phone/*, lib/turn.ts) never build a
 * Response or pick a status: they return data or a typed failure
 * `{ ok: false, code, message?, retryAfterMs? }`. `FAILURES` maps every code
 * to its HTTP status and default sentence, and `failureResponse` turns a
 * failure into the JSON answer `{error: code, message}` (with Retry-After
 * when the failure says when to try again). A code that is not in the table
 * is not a `FailureCode`, so a service returning it does not compile.
 */
import type { z } from "zod";

export function json(data: unknown, init: ResponseInit = {}): Response {
  const headers = new Headers(init.headers);
  headers.set("content-type", "application/json; charset=utf-8");
  headers.set("cache-control", headers.get("cache-control") ?? "no-store");
  return new Response(JSON.stringify(data), { ...init, headers });
}

/** Every error answer has the same shape: `{error: code, message: sentence}`. */
export function jsonError(
  status: number,
  error: string,
  message: string,
  init: ResponseInit = {},
): Response {
  return json({ error, message }, { ...init, status });
}

// ------------------------------------------------------------ the table

/** What one failure code means over HTTP. */
export interface FailureSpec {
  status: number;
  /** The sentence shown when the failure brings none of its own. */
  message: string;
}

/** Every failure code Reach answers with, its status and default sentence. */
export const FAILURES = {
  // The request itself.
  invalid_request: { status: 400, message: "The request is not valid." },
  invalid_json: {
    status: 400,
    message: "The request body is not valid JSON.",
  },
  not_signed_in: {
    status: 401,
    message: "Sign in first: this needs your wallet or browser key.",
  },
  cross_origin: {
    status: 403,
    message: "This request came from another site, so Reach refused it.",
  },
  not_found: { status: 404, message: "There is no such thing here." },
  method_not_allowed: {
    status: 405,
    message: "This endpoint does not accept that method.",
  },
  no_handle: { status: 409, message: "Claim a handle first." },
  payload_too_large: {
    status: 413,
    message: "The request body is too large.",
  },
  unsupported_media_type: {
    status: 415,
    message: "Send the request body as JSON (Content-Type: application/json).",
  },
  rate_limited: {
    status: 429,
    message: "Too many requests for now; try again later.",
  },
  server_error: {
    status: 500,
    message: "Reach hit an error while answering; please try again.",
  },

  // Voicemail (lib/voicemail/service.ts).
  // Web Push (lib/push/service.ts).
  push_disabled: {
    status: 404,
    message: "Web Push is switched off on this Reach server.",
  },
  push_endpoint_not_allowed: {
    status: 400,
    message: "Reach sends pushes only to known push services over https.",
  },
  push_key_invalid: {
    status: 400,
    message:
      "The subscription's keys.p256dh must be a 65-byte uncompressed P-256 public key, base64url.",
  },
  push_auth_invalid: {
    status: 400,
    message:
      "The subscription's keys.auth must be a 16-byte secret, base64url.",
  },
  too_many_push_devices: {
    status: 409,
    message:
      "Too many browsers already ring for this handle. Remove an old one first.",
  },
  no_such_call: { status: 404, message: "There is no such call." },
  not_your_call: {
    status: 403,
    message: "Only the person who made this call can leave a voicemail on it.",
  },
  not_eligible: {
    status: 409,
    message:
      "Voicemail is for unanswered calls: this call was answered, cancelled or is still ringing.",
  },
  invalid_envelope: {
    status: 400,
    message: "The voicemail envelope is malformed.",
  },
  wrong_call: {
    status: 400,
    message: "This voicemail was sealed for another call or handle.",
  },
  voicemail_exists: {
    status: 409,
    message: "A different voicemail was already left on this call.",
  },
  upload_in_progress: {
    status: 409,
    message: "A different voicemail for this call is being uploaded right now.",
  },
  no_inbox_keys: {
    status: 422,
    message: "This handle has no browser set up to receive voicemail.",
  },
  inbox_full: {
    status: 507,
    message: "This voicemail inbox is full right now.",
  },
  too_many_keys: {
    status: 409,
    message:
      "Too many browsers already receive voicemail for this handle. Remove an old device first.",
  },
  key_id_taken: {
    status: 409,
    message: "That key id is already registered with a different public key.",
  },

  // Phone binding and discovery (lib/phone/*).
  sms_unavailable: {
    status: 503,
    message:
      "Phone binding is not available on this Reach server: no SMS provider is configured.",
  },
  invalid_phone: {
    status: 400,
    message: "That is not a valid phone number.",
  },
  cooldown: {
    status: 429,
    message: "A code was just sent. Wait a minute before asking for another.",
  },
  sms_failed: {
    status: 502,
    message:
      "The text message could not be sent. Please try again in a minute.",
  },
  no_code: {
    status: 400,
    message: "Ask for a code first (or ask again: that one was used up).",
  },
  expired: {
    status: 400,
    message: "That code has expired. Ask for a new one.",
  },
  wrong_code: { status: 400, message: "That code is not right." },
  too_many_attempts: {
    status: 400,
    message: "Too many wrong codes. Ask for a new one.",
  },
  number_taken: {
    status: 409,
    message: "This number cannot be bound to your handle.",
  },
  no_phone: { status: 404, message: "No number is bound to your handle." },
  discovery_moved: {
    status: 410,
    message:
      "Contact discovery no longer takes numbers: your browser now blinds them and matches them itself (GET /api/discover/key, POST /api/me/discover/evaluate, GET /api/discover/directory). Reload the page.",
  },
  key_rotated: {
    status: 409,
    message:
      "The contact-discovery key has changed: fetch the current key and blind the numbers again.",
  },
  invalid_point: {
    status: 400,
    message: "A blinded element is not a valid ristretto255 element.",
  },

  // Calls (lib/turn.ts).
  turn_unavailable: {
    status: 503,
    message:
      "Relay servers for calls are unavailable right now; try again shortly.",
  },
} as const satisfies Record<string, FailureSpec>;

export type FailureCode = keyof typeof FAILURES;

/**
 * A service's typed failure. `message` replaces the table's sentence when the
 * service knows better (a limit's value, a handle); `retryAfterMs` becomes
 * Retry-After. Anything else a service adds (`attemptsLeft`, `limit`) is for
 * its callers and is not sent.
 */
export interface Failure<C extends FailureCode = FailureCode> {
  ok: false;
  code: C;
  message?: string;
  retryAfterMs?: number;
}

/** What a service returns: its data, or a failure from the table. */
export type Result<T, C extends FailureCode = FailureCode> =
  | { ok: true; data: T }
  | Failure<C>;

export function ok<T>(data: T): { ok: true; data: T } {
  return { ok: true, data };
}

export function fail<C extends FailureCode>(
  code: C,
  details: { message?: string; retryAfterMs?: number } = {},
): Failure<C> {
  return { ok: false, code, ...details };
}

/** The HTTP status of a failure code (saaskit's `toErrorStatus`). */
export function statusOf(code: FailureCode): number {
  return FAILURES[code].status;
}

/** Whole seconds to wait (at least one), for Retry-After. */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/**
 * The JSON answer for a failure: the table's status, `{error: code,
 * message}`, and Retry-After (seconds) when the failure says when to retry.
 */
export function failureResponse(
  failure: Failure,
  init: ResponseInit = {},
): Response {
  const spec: FailureSpec = FAILURES[failure.code];
  const headers = new Headers(init.headers);
  if (failure.retryAfterMs !== undefined) {
    headers.set(
      "retry-after",
      String(retryAfterSeconds(failure.retryAfterMs)),
    );
  }
  return jsonError(
    spec.status,
    failure.code,
    failure.message ?? spec.message,
    { ...init, headers },
  );
}

// --------------------------------------------------------- request bodies

export const MAX_JSON_BYTES = 16 * 1024;

export type BodyFailure = Failure<
  "unsupported_media_type" | "payload_too_large"
>;

/**
 * The request body's exact bytes, at most `maxBytes`, when its Content-Type
 * is `type` (JSON unless said otherwise). A declared Content-Length over the
 * cap is refused before reading; a body that streams past it is refused as
 * soon as it does, and nothing more is read.
 */
export async function readBody(
  req: Request,
  opts: { maxBytes: number; type?: string },
): Promise<Result<Uint8Array, BodyFailure["code"]>> {
  const type = opts.type ?? "application/json";
  const given = (req.headers.get("content-type") ?? "").toLowerCase();
  const matches = given === type ||
    (given.startsWith(type) && /^[\s;]/.test(given.slice(type.length)));
  if (!matches) {
    return fail("unsupported_media_type", {
      message: `Send the request body as ${
        type === "application/json" ? "JSON" : type
      } (Content-Type: ${type}).`,
    });
  }
  const tooLarge = () =>
    fail("payload_too_large", {
      message: `The request body is larger than ${opts.maxBytes} bytes.`,
    });
  if (Number(req.headers.get("content-length") ?? "0") > opts.maxBytes) {
    return tooLarge();
  }
  try {
    return ok(await readLimited(req, opts.maxBytes));
  } catch {
    return tooLarge();
  }
}

/** Bytes as strict UTF-8 JSON. */
export function decodeJson(
  bytes: Uint8Array,
): Result<unknown, "invalid_json"> {
  try {
    return ok(
      JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)),
    );
  } catch {
    return fail("invalid_json");
  }
}

/** "recipients.0.epk: must be 32 bytes": where the first issue is, and what. */
export function describeIssue(error: z.ZodError): string {
  const first = error.issues[0];
  const where = first.path.length ? `${first.path.join(".")}: ` : "";
  return `${where}${first.message}`;
}

/** A JSON body of at most `maxBytes`, validated by `schema`; or why not. */
export async function readJsonBody<S extends z.ZodType>(
  req: Request,
  schema: S,
  maxBytes = MAX_JSON_BYTES,
): Promise<
  Result<
    z.infer<S>,
    BodyFailure["code"] | "invalid_json" | "invalid_request"
  >
> {
  const body = await readBody(req, { maxBytes });
  if (!body.ok) return body;
  const raw = decodeJson(body.data);
  if (!raw.ok) return raw;
  const parsed = schema.safeParse(raw.data);
  if (!parsed.success) {
    return fail("invalid_request", { message: describeIssue(parsed.error) });
  }
  return ok(parsed.data);
}

/**
 * `readJsonBody` for a route: the data, or the ready error answer (413, 415,
 * 400) that says what is wrong.
 */
export async function readJson<S extends z.ZodType>(
  req: Request,
  schema: S,
  maxBytes = MAX_JSON_BYTES,
): Promise<{ data: z.infer<S> } | { error: Response }> {
  const r = await readJsonBody(req, schema, maxBytes);
  return r.ok ? { data: r.data } : { error: failureResponse(r) };
}

/** The body's exact bytes; throws when it passes `maxBytes` (nothing more is read). */
export async function readLimited(
  req: Request,
  maxBytes: number,
): Promise<Uint8Array> {
  if (!req.body) return new Uint8Array();
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > maxBytes) {
      await reader.cancel();
      throw new Error("too large");
    }
    chunks.push(value);
  }
  const all = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return all;
}
