/**
 * Voicemail on the server: the caller's upload (authenticated by the call's
 * resume token), the owner's inbox, and inbox-key registration. The server
 * validates the envelope's shape (zod) and stores its exact bytes; it never
 * holds a key that opens it. Logs carry event names and call ids only.
 *
 * Every function returns data or a typed failure from lib/http.ts's table;
 * the routes turn failures into answers.
 */
import { z } from "zod";
import type { Config } from "../config.ts";
import { sha256Hex } from "../crypto/hash.ts";
import {
  type BodyFailure,
  decodeJson,
  describeIssue,
  fail,
  type Failure,
  type FailureCode,
  ok,
  type Result,
} from "../http.ts";
import { atMost, rateLimitFailure } from "../limit_check.ts";
import type { LimitName } from "../limits.ts";
import { log } from "../log.ts";
import type { CallDecision, CallRecord } from "../store/call_types.ts";
import { getCall } from "../store/calls.ts";
import {
  addInboxKey,
  hasInboxKeys,
  MAX_INBOX_KEYS,
  removeInboxKey,
} from "../store/inbox_keys.ts";
import { hitRate } from "../store/rate.ts";
import {
  deleteVoicemail,
  getVoicemailMeta,
  listVoicemails,
  markVoicemailRead,
  readVoicemail,
  storeVoicemail,
} from "../store/voicemail.ts";
import { ENVELOPE_LIMITS, VOICEMAIL_VERSION } from "./envelope.ts";

export const CALL_TOKEN_HEADER = "x-reach-call-token";
/** Uploads to one handle per hour. */
export const HANDLE_LIMIT_PER_HOUR = 50;
const HOUR_MS = 3600_000;

/** Calls that ended unanswered: the only ones a voicemail may follow. */
export const ELIGIBLE_DECISIONS: ReadonlySet<CallDecision> = new Set([
  "declined",
  "missed",
  "unavailable",
  "busy",
]);

// Standard base64 with padding. A plain character class (no repeated groups)
// stays linear on megabyte strings; the length rule completes the check.
const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

function isBase64(s: string): boolean {
  return s.length % 4 === 0 && B64.test(s);
}

/** The length of `n` bytes in padded base64. */
function base64Length(n: number): number {
  return Math.ceil(n / 3) * 4;
}

/** Standard base64 of exactly `n` bytes. */
function base64Of(n: number) {
  const len = base64Length(n);
  const pad = (3 - (n % 3)) % 3;
  return z.string().refine(
    (s) =>
      s.length === len && isBase64(s) &&
      s.indexOf("=") === (pad ? len - pad : -1),
    `must be ${n} bytes in standard base64`,
  );
}

const L = ENVELOPE_LIMITS;

const ident = z.string().min(1).max(L.maxIdChars).refine(
  (s) => !s.includes("\u0000"),
  "must not contain NUL",
);

/** Envelope v1 (lib/voicemail/envelope.ts), shape only: nothing is opened. */
export const EnvelopeSchema = z.strictObject({
  v: z.literal(VOICEMAIL_VERSION),
  callId: ident,
  handle: ident,
  iv: base64Of(L.ivBytes),
  ct: z.string().min(base64Length(L.minCiphertextBytes)).refine(
    isBase64,
    "must be standard base64",
  ),
  recipients: z.array(z.strictObject({
    keyId: ident,
    epk: base64Of(L.publicKeyBytes),
    iv: base64Of(L.ivBytes),
    wrapped: base64Of(L.wrappedBytes),
  })).min(1).max(L.maxRecipients).refine(
    (rs) => new Set(rs.map((r) => r.keyId)).size === rs.length,
    "recipients must have distinct keyIds",
  ),
});

export type EnvelopeShape = z.infer<typeof EnvelopeSchema>;

/** POST /api/me/inbox-keys body. */
export const InboxKeyBody = z.object({
  keyId: z.uuid(),
  publicKey: base64Of(L.publicKeyBytes),
});

/** Logs a refused upload (its code and call id only) and returns it. */
function refuse<C extends FailureCode>(
  callId: string,
  failure: Failure<C>,
): Failure<C> {
  log("voicemail.refused", { callId, code: failure.code });
  return failure;
}

/** What the caller's upload limit keys on: its wallet, or its address hash. */
export type UploaderKey = { wallet: string } | { address: string };

export interface UploadInput {
  callId: string;
  /** The caller's resume token for the call (the X-Reach-Call-Token header). */
  token: string;
  uploader: UploaderKey;
  /**
   * Reads the envelope's exact bytes (lib/http.ts `readBody`). Called only
   * once the call and token check out, so nothing is read for a refusal.
   */
  body: () => Promise<Result<Uint8Array, BodyFailure["code"]>>;
}

export type UploadFailure = Failure<
  | "no_such_call"
  | "not_your_call"
  | "not_eligible"
  | BodyFailure["code"]
  | "invalid_json"
  | "invalid_envelope"
  | "wrong_call"
  | "voicemail_exists"
  | "upload_in_progress"
  | "no_inbox_keys"
  | "inbox_full"
  | "rate_limited"
>;

/** A stored voicemail; `created` is false when a retry found it stored. */
export interface Uploaded {
  callId: string;
  size: number;
  created: boolean;
}

/** The call an upload is for, when the token is its caller's and it ended unanswered. */
async function uploadableCall(
  kv: Deno.Kv,
  callId: string,
  token: string,
): Promise<
  Result<CallRecord, "no_such_call" | "not_your_call" | "not_eligible">
> {
  if (!z.uuid().safeParse(callId).success) return fail("no_such_call");
  const call = await getCall(kv, callId);
  if (!call) return refuse(callId, fail("no_such_call"));
  if (!token || (await sha256Hex(token)) !== call.callerResume) {
    return refuse(callId, fail("not_your_call"));
  }
  if (
    call.state !== "ended" || !call.decision ||
    !ELIGIBLE_DECISIONS.has(call.decision)
  ) {
    return refuse(callId, fail("not_eligible"));
  }
  return ok(call);
}

/** The envelope's bytes, read and checked against the call; or why not. */
async function envelopeFor(
  config: Config,
  call: CallRecord,
  read: UploadInput["body"],
): Promise<Result<Uint8Array, UploadFailure["code"]>> {
  const { callId, calleeHandle } = call;
  const body = await read();
  if (!body.ok) {
    return refuse(
      callId,
      body.code === "payload_too_large"
        ? fail(body.code, {
          message:
            `The voicemail is larger than ${config.voicemail.maxBytes} bytes; record a shorter one.`,
        })
        : fail(body.code, {
          message:
            "Send the voicemail envelope as JSON (Content-Type: application/json).",
        }),
    );
  }
  const raw = decodeJson(body.data);
  if (!raw.ok) {
    return refuse(
      callId,
      fail("invalid_json", { message: "The voicemail is not valid JSON." }),
    );
  }
  const parsed = EnvelopeSchema.safeParse(raw.data);
  if (!parsed.success) {
    return refuse(
      callId,
      fail("invalid_envelope", {
        message: `The voicemail envelope is malformed (${
          describeIssue(parsed.error)
        }).`,
      }),
    );
  }
  if (parsed.data.callId !== callId || parsed.data.handle !== calleeHandle) {
    return refuse(callId, fail("wrong_call"));
  }
  return ok(body.data);
}

/** POST /api/voicemail/:callId — the caller's upload. */
export async function uploadVoicemail(
  kv: Deno.Kv,
  config: Config,
  input: UploadInput,
  now = Date.now(),
): Promise<Result<Uploaded, UploadFailure["code"]>> {
  const { callId } = input;
  const call = await uploadableCall(kv, callId, input.token);
  if (!call.ok) return call;
  const envelope = await envelopeFor(config, call.data, input.body);
  if (!envelope.ok) return envelope;
  const bytes = envelope.data;

  const sha256 = new Uint8Array(
    await crypto.subtle.digest("SHA-256", bytes as BufferSource),
  ).toHex();
  const handle = call.data.calleeHandle;
  // A retry of a finished upload answers as before, without counting.
  const prior = await getVoicemailMeta(kv, handle, callId);
  if (prior) {
    if (prior.sha256 !== sha256) {
      return refuse(callId, fail("voicemail_exists"));
    }
    return ok({ callId, size: prior.size, created: false });
  }
  if (!(await hasInboxKeys(kv, handle))) {
    return refuse(
      callId,
      fail("no_inbox_keys", {
        message: `@${handle} has no browser set up to receive voicemail.`,
      }),
    );
  }
  const quota = await overQuota(kv, config, handle, bytes.length);
  if (quota) return refuse(callId, fail("inbox_full", { message: quota }));
  const limited = await spendUploadLimits(
    kv,
    config,
    input.uploader,
    handle,
    now,
  );
  if (limited) return refuse(callId, limited);

  const stored = await storeVoicemail(kv, {
    handle,
    callId,
    bytes,
    sha256,
    retentionMs: config.voicemail.retentionMs,
    callEndedAt: call.data.endedAt ?? now,
    callLogRetentionMs: config.callLogRetentionMs,
  });
  if (!stored.ok) return refuse(callId, fail(stored.code));
  if (!stored.created) {
    return ok({ callId, size: stored.meta.size, created: false });
  }
  // Two uploads racing past the quota check: the one that tips the inbox
  // over takes itself back out.
  if (await overQuota(kv, config, handle, 0)) {
    await deleteVoicemail(kv, handle, callId);
    return refuse(
      callId,
      fail("inbox_full", {
        message: `@${handle}'s voicemail inbox is full right now.`,
      }),
    );
  }
  log("voicemail.stored", { callId, count: stored.meta.chunks });
  return ok({ callId, size: stored.meta.size, created: true });
}

/**
 * Counts one upload against the uploader's own hourly budget (its wallet,
 * or its address), then the handle's; the refusal when one says no.
 */
async function spendUploadLimits(
  kv: Deno.Kv,
  config: Config,
  uploader: UploaderKey,
  handle: string,
  now: number,
): Promise<Failure<"rate_limited"> | null> {
  const own: [string, string, LimitName] = "wallet" in uploader
    ? ["vm_wallet", uploader.wallet, "voicemailsPerWallet"]
    : ["vm_addr", uploader.address, "voicemailsPerAddress"];
  const [scope, subject, limit] = own;
  const mine = await hitRate(
    kv,
    scope,
    subject,
    config.limits[limit],
    HOUR_MS,
    now,
  );
  if (!mine.ok) {
    return rateLimitFailure(
      "wallet" in uploader
        ? `You have left too many voicemails (${atMost(config.limits, limit)}).`
        : `Too many voicemails from your network (${
          atMost(config.limits, limit)
        }).`,
      mine.retryAfterMs,
    );
  }
  const theirs = await hitRate(
    kv,
    "vm_handle",
    handle,
    HANDLE_LIMIT_PER_HOUR,
    HOUR_MS,
    now,
  );
  if (!theirs.ok) {
    return rateLimitFailure(
      `@${handle} has been sent too many voicemails (at most ${HANDLE_LIMIT_PER_HOUR} an hour).`,
      theirs.retryAfterMs,
    );
  }
  return null;
}

/**
 * Whether adding `adding` bytes (0: nothing, just check the inbox as it is)
 * would pass the handle's quota of count or bytes; the refusal sentence if so.
 */
async function overQuota(
  kv: Deno.Kv,
  config: Config,
  handle: string,
  adding: number,
): Promise<string | null> {
  const metas = await listVoicemails(kv, handle);
  const count = metas.length + (adding ? 1 : 0);
  const bytes = metas.reduce((n, m) => n + m.size, 0) + adding;
  if (count > config.limits.voicemailQuotaCount) {
    return `@${handle}'s voicemail inbox is full (${config.limits.voicemailQuotaCount} messages); they need to listen to and delete some first.`;
  }
  if (bytes > config.limits.voicemailQuotaBytes) {
    return `@${handle}'s voicemail inbox is full (storage limit reached); they need to delete some messages first.`;
  }
  return null;
}

export interface VoicemailItem {
  callId: string;
  createdAt: string;
  size: number;
  read: boolean;
}

/** GET /api/me/voicemails: unread first, then newest first. */
export async function voicemailInbox(
  kv: Deno.Kv,
  handle: string,
): Promise<{ voicemails: VoicemailItem[]; unread: number }> {
  const metas = await listVoicemails(kv, handle);
  metas.sort((a, b) =>
    Number(a.read) - Number(b.read) || b.createdAt - a.createdAt
  );
  return {
    voicemails: metas.map((m) => ({
      callId: m.callId,
      createdAt: new Date(m.createdAt).toISOString(),
      size: m.size,
      read: m.read,
    })),
    unread: metas.filter((m) => !m.read).length,
  };
}

function notFound(): Failure<"not_found"> {
  return fail("not_found", { message: "There is no such voicemail." });
}

/** GET /api/me/voicemails/:callId: the envelope's exact bytes. */
export async function fetchVoicemail(
  kv: Deno.Kv,
  handle: string,
  callId: string,
): Promise<Result<Uint8Array, "not_found">> {
  const bytes = await readVoicemail(kv, handle, callId);
  if (!bytes) return notFound();
  log("voicemail.fetched", { callId });
  return ok(bytes);
}

export async function markRead(
  kv: Deno.Kv,
  config: Config,
  handle: string,
  callId: string,
): Promise<Result<{ callId: string; read: true }, "not_found">> {
  const found = await markVoicemailRead(
    kv,
    handle,
    callId,
    config.voicemail.retentionMs,
  );
  return found ? ok({ callId, read: true }) : notFound();
}

export async function removeVoicemail(
  kv: Deno.Kv,
  handle: string,
  callId: string,
): Promise<Result<{ callId: string; deleted: true }, "not_found">> {
  if (!(await deleteVoicemail(kv, handle, callId))) return notFound();
  log("voicemail.deleted", { callId });
  return ok({ callId, deleted: true });
}

/** POST /api/me/inbox-keys after the body is parsed; `created` false when it was already there. */
export async function registerInboxKey(
  kv: Deno.Kv,
  handle: string,
  keyId: string,
  publicKey: string,
): Promise<
  Result<{ keyId: string; created: boolean }, "too_many_keys" | "key_id_taken">
> {
  const res = await addInboxKey(kv, handle, keyId, publicKey);
  if (!res.ok) {
    log("inbox_key.refused", { code: res.code });
    return res.code === "too_many_keys"
      ? fail(res.code, {
        message:
          `@${handle} already has ${MAX_INBOX_KEYS} browsers receiving voicemail. Remove an old device first.`,
      })
      : fail(res.code);
  }
  if (res.created) log("inbox_key.added");
  return ok({ keyId, created: res.created });
}

/** DELETE /api/me/inbox-keys/:keyId: removing a key that is not there is no error. */
export async function unregisterInboxKey(
  kv: Deno.Kv,
  handle: string,
  keyId: string,
): Promise<{ keyId: string }> {
  if (await removeInboxKey(kv, handle, keyId)) log("inbox_key.removed");
  return { keyId };
}
