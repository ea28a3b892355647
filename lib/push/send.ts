/**
 * One Web Push message to one subscription: RFC 8291 `aes128gcm` encryption
 * to the browser's keys and an RFC 8292 VAPID JWT, both built by
 * `@block65/webcrypto-web-push` (pinned; Web Crypto only), then one POST to
 * the push service (RFC 8030).
 *
 * - `TTL`: how long the push service may hold the message for a browser that
 *   is offline; a ring is worth nothing once it stopped ringing.
 * - `Urgency: high`: a call, delivered at once even to a device saving power.
 * - `Topic`: derived from the call id (a keyed hash, so the push service
 *   does not learn the id), the same for a call's ring and its cancel, so a
 *   cancel replaces a ring the service has not delivered yet.
 * - The VAPID JWT (valid 12 hours) is signed once per push service and
 *   reused for an hour: an ES256 signature is a third of a push's CPU.
 * - The push service's answer: 2xx accepted; 404/410 the subscription is
 *   gone (the caller deletes it); 429 and 5xx retried once; every attempt
 *   bounded by a timeout, so a hanging push service holds only this request.
 *
 * Logs name the event, the call's reference, the type of message, the push
 * service's host and the status: never the endpoint or anything sealed.
 */
import { encryptNotification, vapidHeaders } from "@block65/webcrypto-web-push";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { log } from "../log.ts";
import type { PushSubSecret } from "../store/push_subs.ts";
import type { VapidKeys } from "./vapid.ts";
import type { SealedBox } from "../crypto/sealed_box.ts";

/** What the service worker receives (decrypted by the browser). */
export type PushPayload =
  | {
    t: "ring";
    callId: string;
    /** When ringing ends (ms since the epoch). */
    exp: number;
    /** Who is calling, sealed to the handle's devices, as the caller sent it. */
    sealed?: SealedBox;
  }
  | { t: "cancel"; callId: string };

export type RingPayload = Extract<PushPayload, { t: "ring" }>;

/**
 * The most a payload may hold: one aes128gcm record of 4096 bytes less its
 * 86-byte header, 16-byte tag and 1 padding delimiter (RFC 8188, RFC 8291).
 */
export const MAX_PUSH_PLAINTEXT = 4096 - 86 - 16 - 1;

/**
 * A ring's payload. The sealed identity rides along when it fits; when it
 * does not (a handle with many devices), the notification still rings and
 * the page shows the caller as one whose identity did not reach it.
 */
export function ringPayload(
  callId: string,
  exp: number,
  sealed?: SealedBox,
): RingPayload {
  const bare: RingPayload = { t: "ring", callId, exp };
  if (!sealed) return bare;
  const full: RingPayload = { ...bare, sealed };
  return new TextEncoder().encode(JSON.stringify(full)).length <=
      MAX_PUSH_PLAINTEXT
    ? full
    : bare;
}

export interface SendOptions {
  vapid: VapidKeys;
  /** Seconds the push service may hold the message (RFC 8030 §5.2). */
  ttlSeconds: number;
  /** RFC 8030 §5.4: at most 32 base64url characters. */
  topic: string;
  /** Per attempt. */
  timeoutMs: number;
  /** Wait before the one retry (a Retry-After up to 5 s counts instead). */
  retryDelayMs?: number;
  /** Stops the attempt and any retry (server shutdown). */
  signal?: AbortSignal;
  /** Asked before the one retry; false skips it (the call stopped ringing). */
  beforeRetry?: () => Promise<boolean>;
}

export type PushOutcome =
  | { kind: "accepted"; status: number; attempts: number }
  | { kind: "gone"; status: number; attempts: number }
  | {
    kind: "failed";
    status: number | null;
    /** `skipped`: the retry was no longer wanted (beforeRetry). */
    reason: "status" | "timeout" | "network" | "aborted" | "skipped" | "build";
    attempts: number;
  };

/** A prepared request: what goes on the wire. */
export interface PushRequest {
  url: string;
  headers: Record<string, string>;
  body: Uint8Array;
}

const RETRY_CAP_MS = 5_000;

let pushFetch: typeof fetch = (input, init) => fetch(input, init);

/**
 * Replaces the fetch pushes go through (tests map an https test host to a
 * loopback push-service double); null restores the global fetch.
 */
export function setPushFetch(f: typeof fetch | null): void {
  pushFetch = f ?? ((input, init) => fetch(input, init));
}

/** The call's Topic: 24 bytes of HMAC-SHA-256 under the server key, base64url (32 characters). */
export function pushTopic(hmacKey: Uint8Array, callId: string): string {
  const mac = hmac(
    sha256,
    hmacKey,
    new TextEncoder().encode(`push-topic\0${callId}`),
  );
  return mac.subarray(0, 24).toBase64({
    alphabet: "base64url",
    omitPadding: true,
  });
}

/** How long a signed VAPID header is reused (its JWT is valid 12 hours). */
const VAPID_REUSE_MS = 3600_000;
const vapidCache = new Map<string, { authorization: string; until: number }>();

/** The `Authorization: vapid t=…, k=…` header for the endpoint's origin. */
async function vapidAuthorization(
  endpoint: string,
  vapid: VapidKeys,
  now = Date.now(),
): Promise<string> {
  const cacheKey = `${vapid.publicKey} ${new URL(endpoint).origin}`;
  const hit = vapidCache.get(cacheKey);
  if (hit && hit.until > now) return hit.authorization;
  const { headers } = await vapidHeaders(
    { endpoint, expirationTime: null, keys: { p256dh: "", auth: "" } },
    vapid,
  );
  if (vapidCache.size > 1000) vapidCache.clear();
  vapidCache.set(cacheKey, {
    authorization: headers.authorization,
    until: now + VAPID_REUSE_MS,
  });
  return headers.authorization;
}

/** Encrypts `payload` to the subscription and adds the VAPID header. */
export async function buildPush(
  target: PushSubSecret,
  payload: PushPayload,
  opts: Pick<SendOptions, "vapid" | "ttlSeconds" | "topic">,
): Promise<PushRequest> {
  const [authorization, body] = await Promise.all([
    vapidAuthorization(target.endpoint, opts.vapid),
    // Padded to one size (4096 bytes on the wire): the length says nothing.
    encryptNotification(
      {
        endpoint: target.endpoint,
        expirationTime: null,
        keys: { p256dh: target.p256dh, auth: target.auth },
      },
      new TextEncoder().encode(JSON.stringify(payload)),
    ),
  ]);
  return {
    url: target.endpoint,
    headers: {
      authorization,
      ttl: String(Math.max(0, Math.ceil(opts.ttlSeconds))),
      urgency: "high",
      topic: opts.topic,
      "content-encoding": "aes128gcm",
      "content-type": "application/octet-stream",
    },
    body,
  };
}

type Attempt =
  | { status: number; retryAfterMs: number | null }
  | { error: "timeout" | "network" | "aborted" };

async function attempt(
  req: PushRequest,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<Attempt> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const both = signal ? AbortSignal.any([timeout, signal]) : timeout;
  try {
    const res = await pushFetch(req.url, {
      method: "POST",
      headers: req.headers,
      body: req.body as BodyInit,
      signal: both,
      redirect: "manual",
    });
    await res.body?.cancel().catch(() => {});
    const ra = Number(res.headers.get("retry-after"));
    return {
      status: res.status,
      retryAfterMs: Number.isFinite(ra) && ra > 0 ? ra * 1000 : null,
    };
  } catch {
    if (signal?.aborted) return { error: "aborted" };
    return { error: timeout.aborted ? "timeout" : "network" };
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const done = (ok: boolean) => {
      clearTimeout(t);
      signal?.removeEventListener("abort", stop);
      resolve(ok);
    };
    const stop = () => done(false);
    const t = setTimeout(() => done(true), ms);
    signal?.addEventListener("abort", stop, { once: true });
  });
}

function hostOf(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return "";
  }
}

/** Builds and sends one push; never throws. */
export async function sendPush(
  target: PushSubSecret,
  payload: PushPayload,
  opts: SendOptions,
): Promise<PushOutcome> {
  const fields = {
    callId: payload.callId,
    type: payload.t,
    source: hostOf(target.endpoint),
  };
  let req: PushRequest;
  try {
    req = await buildPush(target, payload, opts);
  } catch (e) {
    log("push.failed", { ...fields, code: "build", kind: (e as Error)?.name });
    return { kind: "failed", status: null, reason: "build", attempts: 0 };
  }
  /** Waits, then says whether to retry; else why not. */
  const retry = async (ms: number): Promise<true | "aborted" | "skipped"> => {
    if (!await sleep(ms, opts.signal)) return "aborted";
    if (opts.beforeRetry && !await opts.beforeRetry()) return "skipped";
    return true;
  };
  for (let n = 1;; n++) {
    const r = await attempt(req, opts.timeoutMs, opts.signal);
    if ("error" in r) {
      const again = r.error === "network" && n === 1;
      log(again ? "push.retry" : "push.failed", { ...fields, code: r.error });
      const go = again ? await retry(opts.retryDelayMs ?? 500) : r.error;
      if (go === true) continue;
      return { kind: "failed", status: null, reason: go, attempts: n };
    }
    if (r.status >= 200 && r.status < 300) {
      log("push.sent", { ...fields, status: r.status });
      return { kind: "accepted", status: r.status, attempts: n };
    }
    if (r.status === 404 || r.status === 410) {
      log("push.gone", { ...fields, status: r.status });
      return { kind: "gone", status: r.status, attempts: n };
    }
    const retryable = r.status === 429 || r.status >= 500;
    if (retryable && n === 1) {
      log("push.retry", { ...fields, status: r.status });
      const wait = Math.min(
        RETRY_CAP_MS,
        Math.max(opts.retryDelayMs ?? 500, r.retryAfterMs ?? 0),
      );
      const go = await retry(wait);
      if (go === true) continue;
      return { kind: "failed", status: r.status, reason: go, attempts: n };
    }
    log("push.failed", { ...fields, status: r.status });
    return { kind: "failed", status: r.status, reason: "status", attempts: n };
  }
}
