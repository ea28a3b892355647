/**
 * Opt-in phone binding, end to end on the server: normalise the number, send
 * a one-time code through the configured SMS provider, check it, then store
 * the number only as a lookup hash plus ciphertext (lib/store/phones.ts).
 * Nothing here logs or returns a number in clear, except the owner's own
 * masked view.
 */
import type { Config } from "../config.ts";
import { atMost, retryAfterSeconds, retryIn } from "../limit_check.ts";
import { log } from "../log.ts";
import {
  bindPhone,
  getPhoneView,
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
  "sms" | "hmacKey" | "dataKeys" | "phonePeppers" | "limits"
>;

export type Outcome<T> =
  | { ok: true; data: T }
  | {
    ok: false;
    status: number;
    error: string;
    message: string;
    retryAfterSeconds?: number;
  };

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

const UNAVAILABLE: Outcome<never> = {
  ok: false,
  status: 503,
  error: "sms_unavailable",
  message:
    "Phone binding is not available on this Reach server: no SMS provider is configured.",
};

function invalidPhone(message: string): Outcome<never> {
  return { ok: false, status: 400, error: "invalid_phone", message };
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

/**
 * Sends a code for the owner's handle and number. `input.address` is the
 * requester's `addressSubject` (lib/client_address.ts).
 */
export async function startBinding(
  kv: Deno.Kv,
  config: PhoneConfig,
  input: { handle: string; phone: string; address: string },
  now = Date.now(),
): Promise<Outcome<{ resendAfterSeconds: number; expiresAt: string }>> {
  const sender = senderFor(config);
  if (!sender) return UNAVAILABLE;
  const n = normalizePhone(input.phone);
  if (!n.ok) return invalidPhone(n.message);
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
    const seconds = retryAfterSeconds(started.retryAfterMs);
    return {
      ok: false,
      status: 429,
      error: started.code,
      message: started.code === "cooldown"
        ? `A code was just sent. You can ask for another in ${seconds} seconds.`
        : `${otpLimitMessage(config, started.limit)} Try again ${
          retryIn(started.retryAfterMs)
        }.`,
      retryAfterSeconds: seconds,
    };
  }
  try {
    await sender.send(n.e164, started.code);
  } catch {
    log("phone.sms_failed", { kind: sender.name });
    return {
      ok: false,
      status: 502,
      error: "sms_failed",
      message:
        "The text message could not be sent. Please try again in a minute.",
    };
  }
  log("phone.code_sent", { kind: sender.name });
  return {
    ok: true,
    data: {
      resendAfterSeconds: Math.ceil(started.resendAfterMs / 1000),
      expiresAt: new Date(started.expiresAt).toISOString(),
    },
  };
}

export async function finishBinding(
  kv: Deno.Kv,
  config: PhoneConfig,
  input: { handle: string; phone: string; code: string },
  now = Date.now(),
): Promise<Outcome<{ masked: string; discoverable: boolean }>> {
  if (!senderFor(config)) return UNAVAILABLE;
  const n = normalizePhone(input.phone);
  if (!n.ok) return invalidPhone(n.message);
  const checked = await checkVerification(kv, { hmacKey: config.hmacKey }, {
    handle: input.handle,
    e164: n.e164,
    code: input.code,
    now,
  });
  if (!checked.ok) {
    const messages: Record<string, string> = {
      no_code: "Ask for a code first (or ask again: that one was used up).",
      expired: "That code has expired. Ask for a new one.",
      wrong_code: "That code is not right.",
      too_many_attempts: "Too many wrong codes. Ask for a new one.",
    };
    const left = checked.attemptsLeft;
    return {
      ok: false,
      status: 400,
      error: checked.code,
      message: messages[checked.code] +
        (checked.code === "wrong_code" && left !== undefined
          ? ` ${left} ${left === 1 ? "try" : "tries"} left.`
          : ""),
    };
  }
  const bound = await bindPhone(kv, config, input.handle, n.e164, now);
  if (!bound.ok) {
    log("phone.bind_refused", { code: bound.code });
    return {
      ok: false,
      status: 409,
      error: "number_taken",
      message: "This number cannot be bound to your handle.",
    };
  }
  log("phone.bound");
  return { ok: true, data: (await getPhoneView(kv, config, input.handle))! };
}

export async function phoneView(
  kv: Deno.Kv,
  config: PhoneConfig,
  handle: string,
) {
  return await getPhoneView(kv, config, handle);
}

export async function unbind(kv: Deno.Kv, handle: string): Promise<void> {
  await unbindPhone(kv, handle);
  log("phone.unbound");
}

export async function discoverable(
  kv: Deno.Kv,
  handle: string,
  on: boolean,
): Promise<boolean> {
  return await setDiscoverable(kv, handle, on);
}
