/**
 * A local stand-in for Twilio Verify v2's Create a Verification endpoint,
 * speaking the documented API:
 *
 *   POST {base}/v2/Services/{ServiceSid}/Verifications
 *   Authorization: Basic base64(AccountSid:AuthToken)
 *   Content-Type: application/x-www-form-urlencoded
 *   To=+15017122661&Channel=sms[&CustomCode=123456]
 *
 * answered with `201` and the Verification resource as JSON (`sid`, `status:
 * "pending"`, `to`, `channel`, ...), or with Twilio's error shape (`code`,
 * `message`, `more_info`, `status`). It records every request it gets, and
 * can be told to fail (401, 429, 500, a 201 in an unexpected shape, or to
 * hang until the caller gives up).
 */

export const DOUBLE_ACCOUNT_SID = "AC" + "0123456789abcdef".repeat(2);
export const DOUBLE_AUTH_TOKEN = "test-twilio-auth-token-fedcba9876543210";
export const DOUBLE_SERVICE_SID = "VA" + "fedcba9876543210".repeat(2);

export type TwilioDoubleMode =
  | "ok"
  | "401"
  | "429"
  | "500"
  | "bad_shape"
  | "hang";

export interface RecordedTwilioRequest {
  method: string;
  path: string;
  authorization: string | null;
  contentType: string | null;
  body: string;
  /** The form fields, when the body was form-encoded. */
  form: Record<string, string>;
}

export interface TwilioDouble extends AsyncDisposable {
  /** The API base to configure (no /v2), e.g. http://127.0.0.1:PORT */
  apiBase: string;
  requests: RecordedTwilioRequest[];
  /** The Verifications the double created (its answers), in order. */
  created: { sid: string; to: string; customCode: string | null }[];
  mode: TwilioDoubleMode;
}

const hex = (bytes: number) =>
  crypto.getRandomValues(new Uint8Array(bytes)).toHex();

/** Twilio's documented error body. */
function twilioError(status: number, code: number, message: string) {
  return Response.json({
    code,
    message,
    more_info: `https://www.twilio.com/docs/errors/${code}`,
    status,
  }, { status });
}

export function startTwilioDouble(
  opts: { accountSid?: string; authToken?: string; serviceSid?: string } = {},
): TwilioDouble {
  const accountSid = opts.accountSid ?? DOUBLE_ACCOUNT_SID;
  const authToken = opts.authToken ?? DOUBLE_AUTH_TOKEN;
  const serviceSid = opts.serviceSid ?? DOUBLE_SERVICE_SID;
  const path = `/v2/Services/${serviceSid}/Verifications`;
  const expectedAuth = "Basic " +
    new TextEncoder().encode(`${accountSid}:${authToken}`).toBase64();
  // Hanging requests wait on this; disposing releases them.
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));

  const state: Omit<TwilioDouble, "apiBase" | typeof Symbol.asyncDispose> = {
    requests: [],
    created: [],
    mode: "ok",
  };

  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      const url = new URL(req.url);
      const body = await req.text();
      const contentType = req.headers.get("content-type");
      const isForm = /^application\/x-www-form-urlencoded\b/.test(
        contentType ?? "",
      );
      const form = isForm ? Object.fromEntries(new URLSearchParams(body)) : {};
      state.requests.push({
        method: req.method,
        path: url.pathname,
        authorization: req.headers.get("authorization"),
        contentType,
        body,
        form,
      });
      if (url.pathname !== path) {
        return twilioError(404, 20404, "The requested resource was not found");
      }
      if (req.method !== "POST") {
        return twilioError(405, 20004, "Method not allowed");
      }
      if (req.headers.get("authorization") !== expectedAuth) {
        return twilioError(401, 20003, "Authenticate");
      }
      if (!isForm) {
        return twilioError(400, 20001, "Send form-encoded parameters");
      }
      if (!/^\+[1-9][0-9]{6,14}$/.test(form.To ?? "")) {
        return twilioError(400, 60200, "Invalid parameter `To`");
      }
      if (!["sms", "call", "email", "whatsapp"].includes(form.Channel ?? "")) {
        return twilioError(400, 60200, "Invalid parameter `Channel`");
      }
      if (
        form.CustomCode !== undefined && !/^[0-9]{4,10}$/.test(form.CustomCode)
      ) {
        return twilioError(400, 60200, "Invalid parameter `CustomCode`");
      }
      switch (state.mode) {
        case "401":
          return twilioError(401, 20003, "Authenticate");
        case "429":
          return twilioError(429, 60203, "Max send attempts reached");
        case "500":
          return twilioError(500, 20500, "Internal Server Error");
        case "bad_shape":
          return Response.json({ status: "canceled" }, { status: 201 });
        case "hang":
          // Never answers in time: waits until the double is disposed.
          await released;
          return twilioError(500, 20500, "Too late");
      }
      const sid = "VE" + hex(16);
      const at = new Date().toISOString().replace(/\.\d+Z$/, "Z");
      state.created.push({
        sid,
        to: form.To,
        customCode: form.CustomCode ?? null,
      });
      return Response.json({
        sid,
        service_sid: serviceSid,
        account_sid: accountSid,
        to: form.To,
        channel: form.Channel,
        status: "pending",
        valid: false,
        lookup: {},
        amount: null,
        payee: null,
        send_code_attempts: [{
          attempt_sid: "VL" + hex(16),
          channel: form.Channel,
          time: at,
        }],
        date_created: at,
        date_updated: at,
        sna: null,
        url:
          `https://verify.twilio.com/v2/Services/${serviceSid}/Verifications/${sid}`,
      }, { status: 201 });
    },
  );
  const port = server.addr.port;
  return Object.assign(state, {
    apiBase: `http://127.0.0.1:${port}`,
    async [Symbol.asyncDispose]() {
      release();
      await server.shutdown();
    },
  });
}
