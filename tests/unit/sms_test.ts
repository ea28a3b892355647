import assert from "node:assert/strict";
import type { Config } from "@/lib/config.ts";
import {
  SmsDeliveryError,
  type SmsSender,
  smsSenderFor,
} from "@/lib/phone/sms.ts";
import {
  DOUBLE_ACCOUNT_SID,
  DOUBLE_AUTH_TOKEN,
  DOUBLE_SERVICE_SID,
  startTwilioDouble,
  type TwilioDouble,
  type TwilioDoubleMode,
} from "../_helpers/twilio_double.ts";

const NUMBER = "+447700900123";
const CODE = "048213";

function twilio(apiBase: string, overrides: Partial<Config["sms"]> = {}) {
  return {
    provider: "twilio",
    accountSid: DOUBLE_ACCOUNT_SID,
    authToken: DOUBLE_AUTH_TOKEN,
    serviceSid: DOUBLE_SERVICE_SID,
    apiBase,
    ...overrides,
  } as Config["sms"];
}

/** Asserts nothing secret or personal is in an error's message or name. */
function assertClean(err: Error) {
  const text = `${err.name} ${err.message} ${String(err.cause ?? "")}`;
  for (
    const secret of [
      NUMBER,
      NUMBER.slice(1),
      NUMBER.slice(-6),
      CODE,
      DOUBLE_AUTH_TOKEN,
      DOUBLE_ACCOUNT_SID,
      btoa(`${DOUBLE_ACCOUNT_SID}:${DOUBLE_AUTH_TOKEN}`),
    ]
  ) {
    assert.ok(!text.includes(secret), `error text leaks ${secret}: ${text}`);
  }
}

async function sendError(
  sender: SmsSender,
  e164 = NUMBER,
  code = CODE,
): Promise<SmsDeliveryError> {
  const err = await sender.send(e164, code).then(() => null, (e) => e);
  assert.ok(err instanceof SmsDeliveryError, `got ${err}`);
  assertClean(err);
  return err;
}

Deno.test("sms: provider none has no sender", () => {
  assert.equal(smsSenderFor({ provider: "none" }), null);
});

Deno.test("sms: twilio sends exactly the documented Create a Verification request", async () => {
  await using tw = startTwilioDouble();
  const sender = smsSenderFor(twilio(tw.apiBase))!;
  assert.equal(sender.name, "twilio");
  await sender.send(NUMBER, CODE);
  assert.equal(tw.requests.length, 1);
  const r = tw.requests[0];
  assert.equal(r.method, "POST");
  assert.equal(r.path, `/v2/Services/${DOUBLE_SERVICE_SID}/Verifications`);
  assert.equal(
    r.authorization,
    "Basic " + btoa(`${DOUBLE_ACCOUNT_SID}:${DOUBLE_AUTH_TOKEN}`),
  );
  assert.match(r.contentType ?? "", /^application\/x-www-form-urlencoded/);
  assert.deepEqual(r.form, { To: NUMBER, Channel: "sms", CustomCode: CODE });
  // The "+" of the number is percent-encoded, not sent as a space.
  assert.match(r.body, /(^|&)To=%2B447700900123(&|$)/);
  assert.equal(tw.created.length, 1);
  assert.deepEqual(
    { to: tw.created[0].to, customCode: tw.created[0].customCode },
    { to: NUMBER, customCode: CODE },
  );
});

Deno.test("sms: a trailing slash on the API base does not change the path", async () => {
  await using tw = startTwilioDouble();
  await smsSenderFor(twilio(tw.apiBase + "/"))!.send(NUMBER, CODE);
  assert.equal(
    tw.requests[0].path,
    `/v2/Services/${DOUBLE_SERVICE_SID}/Verifications`,
  );
});

for (
  const [mode, status] of [["401", 401], ["429", 429], ["500", 500]] as [
    TwilioDoubleMode,
    number,
  ][]
) {
  Deno.test(`sms: twilio ${status} is an SmsDeliveryError without secrets`, async () => {
    await using tw = startTwilioDouble();
    tw.mode = mode;
    const err = await sendError(smsSenderFor(twilio(tw.apiBase))!);
    assert.equal(err.reason, "status");
    assert.equal(err.status, status);
    assert.equal(tw.requests.length, 1);
  });
}

Deno.test("sms: wrong credentials are refused by the double and surface as 401", async () => {
  await using tw = startTwilioDouble();
  const err = await sendError(
    smsSenderFor(
      twilio(tw.apiBase, { authToken: "another-token-0123456789" }),
    )!,
  );
  assert.equal(err.status, 401);
  assert.equal(tw.created.length, 0);
});

Deno.test("sms: a 201 that is not a pending verification is an SmsDeliveryError", async () => {
  await using tw = startTwilioDouble();
  tw.mode = "bad_shape";
  const err = await sendError(smsSenderFor(twilio(tw.apiBase))!);
  assert.equal(err.reason, "bad_response");
});

Deno.test("sms: twilio timeout is an SmsDeliveryError (double hangs)", async () => {
  await using tw = startTwilioDouble();
  tw.mode = "hang";
  const started = performance.now();
  const err = await sendError(
    smsSenderFor(twilio(tw.apiBase), { timeoutMs: 200 })!,
  );
  assert.equal(err.reason, "timeout");
  assert.ok(performance.now() - started < 4000, "gave up at the timeout");
  assert.equal(tw.requests.length, 1);
});

Deno.test("sms: twilio network failure is an SmsDeliveryError", async () => {
  const sender = smsSenderFor(twilio("http://127.0.0.1:9"), {
    fetch: () => Promise.reject(new TypeError(`connection refused ${NUMBER}`)),
  })!;
  const err = await sendError(sender);
  assert.equal(err.reason, "network");
});

Deno.test("sms: malformed input is refused before any request", async () => {
  let calls = 0;
  const sender = smsSenderFor(twilio("http://127.0.0.1:9"), {
    fetch: () => {
      calls++;
      return Promise.resolve(new Response("{}", { status: 201 }));
    },
  })!;
  for (const [e164, code] of [["07700900123", CODE], [NUMBER, "12a456"]]) {
    const err = await sender.send(e164, code).then(() => null, (e) => e);
    assert.ok(err instanceof SmsDeliveryError);
    assert.equal(err.reason, "invalid_input");
    assert.ok(!err.message.includes(e164) && !err.message.includes(code));
  }
  assert.equal(calls, 0);
});

Deno.test("sms: dev provider writes one line with the code and only the last 2 digits", async () => {
  const lines: string[] = [];
  const sender = smsSenderFor({ provider: "dev" }, {
    log: (l) => lines.push(l),
  })!;
  assert.equal(sender.name, "dev");
  await sender.send(NUMBER, CODE);
  assert.deepEqual(lines, [`[reach dev sms] code for •••23: ${CODE}`]);
  assert.ok(!lines[0].includes(NUMBER.slice(0, -2)));
  assert.ok(!lines[0].includes("900123"));
});

Deno.test("sms: dev provider defaults to console.log", async () => {
  const lines: string[] = [];
  const original = console.log;
  console.log = (...args: unknown[]) => lines.push(args.join(" "));
  try {
    await smsSenderFor({ provider: "dev" })!.send("+15005550006", "000123");
  } finally {
    console.log = original;
  }
  assert.deepEqual(lines, ["[reach dev sms] code for •••06: 000123"]);
});

Deno.test("sms: the double answers the documented Verification shape", async () => {
  await using tw: TwilioDouble = startTwilioDouble();
  const res = await fetch(
    `${tw.apiBase}/v2/Services/${DOUBLE_SERVICE_SID}/Verifications`,
    {
      method: "POST",
      headers: {
        authorization: "Basic " +
          btoa(`${DOUBLE_ACCOUNT_SID}:${DOUBLE_AUTH_TOKEN}`),
        "content-type": "application/x-www-form-urlencoded",
      },
      body: new URLSearchParams({ To: NUMBER, Channel: "sms" }),
    },
  );
  assert.equal(res.status, 201);
  const body = await res.json();
  assert.match(body.sid, /^VE[0-9a-f]{32}$/);
  assert.equal(body.service_sid, DOUBLE_SERVICE_SID);
  assert.equal(body.account_sid, DOUBLE_ACCOUNT_SID);
  assert.equal(body.to, NUMBER);
  assert.equal(body.channel, "sms");
  assert.equal(body.status, "pending");
  assert.equal(body.valid, false);
});
