/**
 * Delivery of phone verification codes. Reach makes and checks the codes
 * itself (lib/phone/otp.ts); a sender only carries one to a number.
 *
 * - "twilio": Twilio Verify v2, Create a Verification with our own code
 *   (`POST {apiBase}/v2/Services/{ServiceSid}/Verifications`, form-encoded
 *   `To`, `Channel=sms`, `CustomCode`; HTTP Basic AccountSid:AuthToken).
 * - "dev": prints the code on one console line for the developer, with only
 *   the last two digits of the number (config refuses it in production).
 * - "none": no sender at all; callers refuse phone binding.
 *
 * No error message, log line or console line carries a full number, a code
 * or a credential.
 */
import { z } from "zod";
import type { Config } from "../config.ts";
import {
  callUpstream,
  UpstreamError,
  type UpstreamFailure,
} from "../upstream.ts";

export interface SmsSender {
  /** The provider's name, a short token safe to log ("twilio", "dev"). */
  readonly name: string;
  /** Delivers `code` to `e164`; throws SmsDeliveryError when it cannot. */
  send(e164: string, code: string): Promise<void>;
}

export interface SmsOptions {
  /** The fetch to call the provider with (tests). */
  fetch?: typeof fetch;
  /** Where the dev provider writes its line; console.log unless given. */
  log?: (line: string) => void;
  /** How long to wait for the provider; 5 s unless a test says otherwise. */
  timeoutMs?: number;
}

/** How long Reach waits for Twilio before giving up. */
export const SMS_TIMEOUT_MS = 5000;

export type SmsFailure = UpstreamFailure;

/**
 * The code could not be handed to the provider: lib/upstream.ts's one error
 * class, under the name callers know. The message never contains the number,
 * the code, the credentials or the provider's response body.
 */
export const SmsDeliveryError = UpstreamError;
export type SmsDeliveryError = UpstreamError;

const E164 = /^\+[1-9][0-9]{6,14}$/;
const CODE = /^[0-9]{4,10}$/;

/** The sender for the configured provider, or null when there is none. */
export function smsSenderFor(
  config: Config["sms"],
  opts: SmsOptions = {},
): SmsSender | null {
  switch (config.provider) {
    case "none":
      return null;
    case "dev":
      return devSender(opts.log ?? ((line) => console.log(line)));
    case "twilio":
      return twilioSender(config, opts);
  }
}

function checkInput(provider: string, e164: string, code: string): void {
  if (!E164.test(e164)) {
    throw new UpstreamError(
      provider,
      "invalid_input",
      "The number is not in E.164 form.",
    );
  }
  if (!CODE.test(code)) {
    throw new UpstreamError(
      provider,
      "invalid_input",
      "The code must be 4 to 10 digits.",
    );
  }
}

function devSender(write: (line: string) => void): SmsSender {
  return {
    name: "dev",
    send(e164, code) {
      checkInput("dev", e164, code);
      write(`[reach dev sms] code for •••${e164.slice(-2)}: ${code}`);
      return Promise.resolve();
    },
  };
}

type TwilioConfig = Extract<Config["sms"], { provider: "twilio" }>;

/** A new Verification is documented to come back "pending". */
const PendingVerification = z.object({ status: z.literal("pending") });

function twilioSender(config: TwilioConfig, opts: SmsOptions): SmsSender {
  const url = `${config.apiBase.replace(/\/$/, "")}/v2/Services/${
    encodeURIComponent(config.serviceSid)
  }/Verifications`;
  const authorization = "Basic " +
    new TextEncoder().encode(`${config.accountSid}:${config.authToken}`)
      .toBase64();
  return {
    name: "twilio",
    async send(e164, code) {
      checkInput("Twilio Verify", e164, code);
      await callUpstream(
        "Twilio Verify",
        new Request(url, {
          method: "POST",
          headers: {
            authorization,
            "content-type": "application/x-www-form-urlencoded",
            accept: "application/json",
          },
          body: new URLSearchParams({
            To: e164,
            Channel: "sms",
            CustomCode: code,
          }).toString(),
        }),
        {
          timeoutMs: opts.timeoutMs ?? SMS_TIMEOUT_MS,
          schema: PendingVerification,
          fetch: opts.fetch,
        },
      );
    },
  };
}
