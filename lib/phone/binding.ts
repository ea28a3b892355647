/**
 * Opt-in phone binding, end to end on the server: normalise the number, send
 * a one-time code through the configured SMS provider, check it, then store
 * the number only as a lookup hash plus ciphertext (lib/store/phones.ts),
 * and, while its owner lets it be found, as a contact-discovery directory
 * entry only the number's holders can open (lib/phone/DISCOVERY.md).
 * Nothing here logs or returns a number in clear, except the owner's own
 * masked view.
 */
import type { Config } from "../config.ts";
import { fail, type Failure, ok, type Result } from "../http.ts";
import { atMost, rateLimitFailure, retryAfterSeconds } from "../limit_check.ts";
import { log } from "../log.ts";
import {
  bindPhone,
  getPhoneView,
  type PhoneView,
  setDiscoverable,
  unbindPhone,
} from "../store/phones.ts";
import { normalizePhone } from "./normalize.ts";
import {
  checkVerification,
  OTP_PER_HANDLE,
  type OtpLimit,
  startVerification,
} from "./otp.ts";
import { type SmsSender, smsSenderFor } from "./sms.ts";

type PhoneConfig = Pick<
  Config,
  "sms" | "hmacKey" | "dataKeys" | "phonePeppers" | "discoveryKeys" | "limits"
>;

const senders = new WeakMap<object, SmsSender | null>();

function senderFor(config: PhoneConfig): SmsSender | null {
  if (!senders.has(config.sms)) {
    senders.set(config.sms, smsSenderFor(config.sms));
  }
  return senders.get(config.sms)!;
}

/** Whether this deployment can verify numbers at all. */
export function phoneBindingAvailable(config: PhoneConfig): boolean {
  return senderFor(config) !== null;
}

/** What each code limit counts, for the refusal's message. */
function otpLimitMessage(config: PhoneConfig, limit: OtpLimit): string {
  switch (limit) {
    case "otpPerAddress":
      return `Too many codes requested from your network (${
        atMost(config.limits, limit)
      }).`;
    case "otpPerHandleNumber":
      return `Too many codes requested for this number (${
        atMost(config.limits, limit)
      }).`;
    case "otpPerHandle":
      return `Too many codes requested by your handle (at most ${OTP_PER_HANDLE} an hour).`;
    case "otpPerNumber":
      return `Too many codes have been requested for this number, by everyone together (${
        atMost(config.limits, limit)
      }).`;
  }
}

export type StartFailure = Failure<
  | "sms_unavailable"
  | "invalid_phone"
  | "cooldown"
  | "rate_limited"
  | "sms_failed"
>;

/**
 * Sends a code for the owner's handle and number. `input.address` is the
 * requester's `addressSubject` (lib/client_address.ts).
 */
export async function startBinding(
  kv: Deno.Kv,
  config: PhoneConfig,
  input: { handle: string; phone: string; address: string },
  now = Date.now(),
): Promise<
  Result<
    { resendAfterSeconds: number; expiresAt: string },
    StartFailure["code"]
  >
> {
  const sender = senderFor(config);
  if (!sender) return fail("sms_unavailable");
  const n = normalizePhone(input.phone);
  if (!n.ok) return n;
  const started = await startVerification(kv, {
    hmacKey: config.hmacKey,
    limits: config.limits,
  }, {
    handle: input.handle,
    e164: n.e164,
    address: input.address,
    now,
  });
  if (!started.ok) {
    if (started.code === "cooldown") {
      return fail("cooldown", {
        message: `A code was just sent. You can ask for another in ${
          retryAfterSeconds(started.retryAfterMs)
        } seconds.`,
        retryAfterMs: started.retryAfterMs,
      });
    }
    return rateLimitFailure(
      otpLimitMessage(config, started.limit),
      started.retryAfterMs,
    );
  }
  try {
    await sender.send(n.e164, started.code);
  } catch {
    log("phone.sms_failed", { kind: sender.name });
    return fail("sms_failed");
  }
  log("phone.code_sent", { kind: sender.name });
  return ok({
    resendAfterSeconds: Math.ceil(started.resendAfterMs / 1000),
    expiresAt: new Date(started.expiresAt).toISOString(),
  });
}

export type FinishFailure = Failure<
  | "sms_unavailable"
  | "invalid_phone"
  | "no_code"
  | "expired"
  | "wrong_code"
  | "too_many_attempts"
  | "number_taken"
>;

export async function finishBinding(
  kv: Deno.Kv,
  config: PhoneConfig,
  input: { handle: string; phone: string; code: string },
  now = Date.now(),
): Promise<Result<PhoneView, FinishFailure["code"]>> {
  if (!senderFor(config)) return fail("sms_unavailable");
  const n = normalizePhone(input.phone);
  if (!n.ok) return n;
  const checked = await checkVerification(kv, { hmacKey: config.hmacKey }, {
    handle: input.handle,
    e164: n.e164,
    code: input.code,
    now,
  });
  if (!checked.ok) {
    const left = checked.attemptsLeft;
    // The table's sentence, plus how many tries a wrong code leaves.
    return checked.code === "wrong_code" && left !== undefined
      ? fail("wrong_code", {
        message: `That code is not right. ${left} ${
          left === 1 ? "try" : "tries"
        } left.`,
      })
      : fail(checked.code);
  }
  const bound = await bindPhone(kv, config, input.handle, n.e164, now);
  if (!bound.ok) {
    log("phone.bind_refused", { code: bound.code });
    return fail("number_taken");
  }
  log("phone.bound");
  return ok((await getPhoneView(kv, config, input.handle))!);
}

/** The owner's masked number and findable switch; null when none is bound. */
export async function phoneView(
  kv: Deno.Kv,
  config: PhoneConfig,
  handle: string,
): Promise<PhoneView | null> {
  return await getPhoneView(kv, config, handle);
}

export async function unbind(kv: Deno.Kv, handle: string): Promise<void> {
  await unbindPhone(kv, handle);
  log("phone.unbound");
}

/** Turns the owner's findable switch on or off; the view after. */
export async function discoverable(
  kv: Deno.Kv,
  config: PhoneConfig,
  handle: string,
  on: boolean,
): Promise<Result<PhoneView, "no_phone">> {
  if (!(await setDiscoverable(kv, config, handle, on))) {
    return fail("no_phone");
  }
  const view = await getPhoneView(kv, config, handle);
  return view ? ok(view) : fail("no_phone");
}
