/**
 * The owner's push subscriptions over HTTP (routes/api/me/push/*): validate,
 * store, list, remove. Returns data or a typed failure from the table in
 * lib/http.ts (routes answer with `failureResponse`).
 */
import { z } from "zod";
import type { Config } from "../config.ts";
import type { Failure } from "../http.ts";
import {
  addPushSub,
  listPushSubs,
  type PushSubView,
  removePushSub,
} from "../store/push_subs.ts";
import { checkEndpoint, checkSubscriptionKeys } from "./validate.ts";

/** Every failure code of this service, its status and default sentence. */
/** This service's failures (their status and sentence: lib/http.ts FAILURES). */
export type PushFailure = Failure<
  | "push_disabled"
  | "push_endpoint_not_allowed"
  | "push_key_invalid"
  | "push_auth_invalid"
  | "too_many_push_devices"
  | "not_found"
>;

/**
 * A subscription as the browser's `PushSubscription.toJSON()` gives it, and
 * an optional name for the device. `expirationTime` is accepted and ignored.
 */
export const PushSubscribeBody = z.strictObject({
  endpoint: z.string().min(1).max(4096),
  expirationTime: z.number().nullable().optional(),
  keys: z.strictObject({
    p256dh: z.string().min(1).max(200),
    auth: z.string().min(1).max(100),
  }),
  name: z.string().trim().max(64).regex(
    /^[^\p{Cc}\p{Cf}]*$/u,
    "must be plain text",
  ).nullable().optional(),
});

export type PushSubscribeInput = z.infer<typeof PushSubscribeBody>;

type Cfg = Pick<Config, "push" | "dataKeys" | "hmacKey">;

export async function subscribe(
  kv: Deno.Kv,
  config: Cfg,
  handle: string,
  body: PushSubscribeInput,
): Promise<{ ok: true; id: string; created: boolean } | PushFailure> {
  const push = config.push;
  if (!push.enabled) return { ok: false, code: "push_disabled" };
  const endpoint = checkEndpoint(body.endpoint, push.hosts);
  if (!endpoint.ok) {
    return {
      ok: false,
      code: "push_endpoint_not_allowed",
      message: endpoint.message,
    };
  }
  const k = checkSubscriptionKeys(body.keys.p256dh, body.keys.auth);
  if (!k.ok) return { ok: false, code: k.code, message: k.message };
  const r = await addPushSub(kv, config, handle, {
    endpoint: endpoint.url.href,
    p256dh: body.keys.p256dh,
    auth: body.keys.auth,
    name: body.name || null,
  }, push.maxPerOwner);
  if (!r.ok) {
    return {
      ok: false,
      code: "too_many_push_devices",
      message:
        `At most ${r.max} browsers can ring for one handle. Remove an old one first.`,
    };
  }
  return r;
}

export function list(kv: Deno.Kv, handle: string): Promise<PushSubView[]> {
  return listPushSubs(kv, handle);
}

export async function unsubscribe(
  kv: Deno.Kv,
  handle: string,
  id: string,
): Promise<{ ok: true } | PushFailure> {
  if (!/^[0-9a-f]{32}$/.test(id)) return { ok: false, code: "not_found" };
  return await removePushSub(kv, handle, id)
    ? { ok: true }
    : { ok: false, code: "not_found" };
}
