/**
 * Voicemail on the server: the caller's upload (authenticated by the call's
 * resume token), the owner's inbox, and inbox-key registration. The server
 * validates the envelope's shape (zod) and stores its exact bytes; it never
 * holds a key that opens it. Logs carry event names and call ids only.
 */
import { z } from "zod";
import type { Config } from "../config.ts";
import { sha256Hex } from "../crypto/hash.ts";
import { json, jsonError, readLimited } from "../http.ts";
import { log } from "../log.ts";
import { type CallDecision, getCall } from "../store/calls.ts";
import {
  addInboxKey,
  hasInboxKeys,
  MAX_INBOX_KEYS,
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

/** Standard base64 of exactly `n` bytes. */
function base64Of(n: number) {
  const len = Math.ceil(n / 3) * 4;
  const pad = (3 - (n % 3)) % 3;
  return z.string().refine(
    (s) =>
      s.length === len && isBase64(s) &&
      s.indexOf("=") === (pad ? len - pad : -1),
    `must be ${n} bytes in standard base64`,
  );
}

const ident = z.string().min(1).max(256).refine(
  (s) => !s.includes("\u0000"),
  "must not contain NUL",
);

/** Envelope v1 (lib/voicemail/envelope.ts), shape only: nothing is opened. */
export const EnvelopeSchema = z.strictObject({
  v: z.literal(1),
  callId: ident,
  handle: ident,
  iv: base64Of(12),
  // At least the 16-byte tag and a 4-byte header length.
  ct: z.string().min(28).refine(isBase64, "must be standard base64"),
  recipients: z.array(z.strictObject({
    keyId: ident,
    epk: base64Of(32),
    iv: base64Of(12),
    wrapped: base64Of(48),
  })).min(1).max(10).refine(
    (rs) => new Set(rs.map((r) => r.keyId)).size === rs.length,
    "recipients must have distinct keyIds",
  ),
});

export type EnvelopeShape = z.infer<typeof EnvelopeSchema>;

/** POST /api/me/inbox-keys body. */
export const InboxKeyBody = z.object({
  keyId: z.uuid(),
  publicKey: base64Of(32),
});

function refuse(
  callId: string,
  status: number,
  code: string,
  message: string,
  init: ResponseInit = {},
): Response {
  log("voicemail.refused", { callId, code });
  return jsonError(status, code, message, init);
}

/** Reads the body's exact bytes, at most `maxBytes`; or a 413/415 answer. */
async function readBytes(
  req: Request,
  maxBytes: number,
): Promise<{ bytes: Uint8Array } | { error: Response }> {
  const tooLarge = {
    error: jsonError(
      413,
      "payload_too_large",
      `The voicemail is larger than ${maxBytes} bytes; record a shorter one.`,
    ),
  };
  if (!/^application\/json\b/i.test(req.headers.get("content-type") ?? "")) {
    return {
      error: jsonError(
        415,
        "unsupported_media_type",
        "Send the voicemail envelope as JSON (Content-Type: application/json).",
      ),
    };
  }
  if (Number(req.headers.get("content-length") ?? "0") > maxBytes) {
    return tooLarge;
  }
  try {
    return { bytes: await readLimited(req, maxBytes) };
  } catch {
    return tooLarge;
  }
}

/** What the caller's upload limit keys on: its wallet, or its address hash. */
export type UploaderKey = { wallet: string } | { address: string };

/** POST /api/voicemail/:callId — the caller's upload. */
export async function uploadVoicemail(
  kv: Deno.Kv,
  config: Config,
  req: Request,
  callId: string,
  uploader: UploaderKey,
  now = Date.now(),
): Promise<Response> {
  const noCall = () => jsonError(404, "no_such_call", "There is no such call.");
  if (!z.uuid().safeParse(callId).success) return noCall();
  const call = await getCall(kv, callId);
  if (!call) {
    return refuse(callId, 404, "no_such_call", "There is no such call.");
  }
  const token = req.headers.get(CALL_TOKEN_HEADER) ?? "";
  if (!token || (await sha256Hex(token)) !== call.callerResume) {
    return refuse(
      callId,
      403,
      "not_your_call",
      "Only the person who made this call can leave a voicemail on it.",
    );
  }
  if (
    call.state !== "ended" || !call.decision ||
    !ELIGIBLE_DECISIONS.has(call.decision)
  ) {
    return refuse(
      callId,
      409,
      "not_eligible",
      "Voicemail is for unanswered calls: this call was answered, cancelled or is still ringing.",
    );
  }

  const body = await readBytes(req, config.voicemail.maxBytes);
  if ("error" in body) {
    log("voicemail.refused", { callId, code: "bad_body" });
    return body.error;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(body.bytes),
    );
  } catch {
    return refuse(
      callId,
      400,
      "invalid_json",
      "The voicemail is not valid JSON.",
    );
  }
  const parsed = EnvelopeSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const where = first.path.length ? `${first.path.join(".")}: ` : "";
    return refuse(
      callId,
      400,
      "invalid_envelope",
      `The voicemail envelope is malformed (${where}${first.message}).`,
    );
  }
  const env = parsed.data;
  if (env.callId !== callId || env.handle !== call.calleeHandle) {
    return refuse(
      callId,
      400,
      "wrong_call",
      "This voicemail was sealed for another call or handle.",
    );
  }

  const sha256 = new Uint8Array(
    await crypto.subtle.digest("SHA-256", body.bytes as BufferSource),
  ).toHex();
  const handle = call.calleeHandle;
  const exists = () =>
    refuse(
      callId,
      409,
      "voicemail_exists",
      "A different voicemail was already left on this call.",
    );
  // A retry of a finished upload answers as before, without counting.
  const prior = await getVoicemailMeta(kv, handle, callId);
  if (prior) {
    if (prior.sha256 !== sha256) return exists();
    return json({ callId, size: prior.size });
  }
  if (!(await hasInboxKeys(kv, handle))) {
    return refuse(
      callId,
      422,
      "no_inbox_keys",
      `@${handle} has no browser set up to receive voicemail.`,
    );
  }
  const quota = await overQuota(kv, config, handle, body.bytes.length);
  if (quota) return refuse(callId, 507, "inbox_full", quota);
  const own: [string, string, number] = "wallet" in uploader
    ? ["vm_wallet", uploader.wallet, config.limits.voicemailsPerWallet]
    : ["vm_addr", uploader.address, config.limits.voicemailsPerAddress];
  for (
    const [scope, subject, limit] of [
      own,
      ["vm_handle", handle, HANDLE_LIMIT_PER_HOUR],
    ] as const
  ) {
    const r = await hitRate(kv, scope, subject, limit, HOUR_MS, now);
    if (!r.ok) {
      return refuse(
        callId,
        429,
        "rate_limited",
        "Too many voicemails for now; try again later.",
        {
          headers: {
            "retry-after": String(
              Math.max(1, Math.ceil(r.retryAfterMs / 1000)),
            ),
          },
        },
      );
    }
  }

  const stored = await storeVoicemail(kv, {
    handle,
    callId,
    bytes: body.bytes,
    sha256,
    retentionMs: config.voicemail.retentionMs,
    callEndedAt: call.endedAt ?? now,
    callLogRetentionMs: config.callLogRetentionMs,
  });
  if (!stored.ok) {
    if (stored.code === "voicemail_exists") return exists();
    return refuse(
      callId,
      409,
      "upload_in_progress",
      "A different voicemail for this call is being uploaded right now.",
    );
  }
  if (!stored.created) return json({ callId, size: stored.meta.size });
  // Two uploads racing past the quota check: the one that tips the inbox
  // over takes itself back out.
  if (await overQuota(kv, config, handle, 0)) {
    await deleteVoicemail(kv, handle, callId);
    return refuse(
      callId,
      507,
      "inbox_full",
      `@${handle}'s voicemail inbox is full right now.`,
    );
  }
  log("voicemail.stored", { callId, count: stored.meta.chunks });
  return json({ callId, size: stored.meta.size }, { status: 201 });
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

function notFound(): Response {
  return jsonError(404, "not_found", "There is no such voicemail.");
}

/** GET /api/me/voicemails/:callId: the envelope's exact bytes. */
export async function fetchVoicemail(
  kv: Deno.Kv,
  handle: string,
  callId: string,
): Promise<Response> {
  const bytes = await readVoicemail(kv, handle, callId);
  if (!bytes) return notFound();
  log("voicemail.fetched", { callId });
  return new Response(bytes as BodyInit, {
    headers: {
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-store",
    },
  });
}

export async function markRead(
  kv: Deno.Kv,
  config: Config,
  handle: string,
  callId: string,
): Promise<Response> {
  const ok = await markVoicemailRead(
    kv,
    handle,
    callId,
    config.voicemail.retentionMs,
  );
  if (!ok) return notFound();
  return json({ callId, read: true });
}

export async function removeVoicemail(
  kv: Deno.Kv,
  handle: string,
  callId: string,
): Promise<Response> {
  if (!(await deleteVoicemail(kv, handle, callId))) return notFound();
  log("voicemail.deleted", { callId });
  return json({ callId, deleted: true });
}

/** POST /api/me/inbox-keys after the body is parsed. */
export async function registerInboxKey(
  kv: Deno.Kv,
  handle: string,
  keyId: string,
  publicKey: string,
): Promise<Response> {
  const res = await addInboxKey(kv, handle, keyId, publicKey);
  if (!res.ok) {
    log("inbox_key.refused", { code: res.code });
    return res.code === "too_many_keys"
      ? jsonError(
        409,
        res.code,
        `@${handle} already has ${MAX_INBOX_KEYS} browsers receiving voicemail. Remove an old device first.`,
      )
      : jsonError(
        409,
        res.code,
        "That key id is already registered with a different public key.",
      );
  }
  if (res.created) log("inbox_key.added");
  return json({ keyId }, { status: res.created ? 201 : 200 });
}
