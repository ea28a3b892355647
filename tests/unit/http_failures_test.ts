/**
 * The one error convention (lib/http.ts): the failure table, the answer a
 * failure becomes, the bounded body readers, and the rule that services
 * return failures, never Responses.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import {
  decodeJson,
  fail,
  type Failure,
  type FailureCode,
  failureResponse,
  FAILURES,
  readBody,
  readJsonBody,
  statusOf,
} from "@/lib/http.ts";
import { rateLimited, rateLimitFailure } from "@/lib/limit_check.ts";

const ROOT = new URL("../../", import.meta.url);

Deno.test("failures: the statuses clients and tests rely on", () => {
  const statuses = Object.fromEntries(
    Object.entries(FAILURES).map(([code, spec]) => [code, spec.status]),
  );
  assert.deepEqual(statuses, {
    invalid_request: 400,
    invalid_json: 400,
    not_signed_in: 401,
    cross_origin: 403,
    not_found: 404,
    method_not_allowed: 405,
    no_handle: 409,
    payload_too_large: 413,
    unsupported_media_type: 415,
    rate_limited: 429,
    server_error: 500,
    push_disabled: 404,
    push_endpoint_not_allowed: 400,
    push_key_invalid: 400,
    push_auth_invalid: 400,
    too_many_push_devices: 409,
    no_such_call: 404,
    not_your_call: 403,
    not_eligible: 409,
    invalid_envelope: 400,
    wrong_call: 400,
    voicemail_exists: 409,
    upload_in_progress: 409,
    no_inbox_keys: 422,
    inbox_full: 507,
    too_many_keys: 409,
    key_id_taken: 409,
    sms_unavailable: 503,
    invalid_phone: 400,
    cooldown: 429,
    sms_failed: 502,
    no_code: 400,
    expired: 400,
    wrong_code: 400,
    too_many_attempts: 400,
    number_taken: 409,
    no_phone: 404,
    discovery_moved: 410,
    key_rotated: 409,
    invalid_point: 400,
    turn_unavailable: 503,
  });
});

Deno.test("failures: every code is snake_case with an error status and a sentence", () => {
  for (const [code, spec] of Object.entries(FAILURES)) {
    assert.match(code, /^[a-z]+(_[a-z]+)*$/, code);
    assert.ok(spec.status >= 400 && spec.status <= 599, code);
    assert.equal(statusOf(code as FailureCode), spec.status);
    assert.match(spec.message, /^[A-Z].{10,}[.)]$/, code);
  }
});

Deno.test("failures: a code outside the table does not compile", () => {
  // Checked by `deno test`'s type check: each line below must be an error.
  // @ts-expect-error "teapot" is not a FailureCode
  const a: Failure = { ok: false, code: "teapot" };
  // @ts-expect-error nor here
  const b = fail("teapot");
  // @ts-expect-error nor as a status lookup
  const c = () => statusOf("teapot");
  assert.ok(a && b && c);
});

Deno.test("failures: the answer is the table's status and {error, message}, no-store", async () => {
  const res = failureResponse(fail("inbox_full"));
  assert.equal(res.status, 507);
  assert.match(res.headers.get("content-type")!, /^application\/json/);
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.equal(res.headers.get("retry-after"), null);
  assert.deepEqual(await res.json(), {
    error: "inbox_full",
    message: FAILURES.inbox_full.message,
  });
});

Deno.test("failures: a failure's own message replaces the default; other details are not sent", async () => {
  const failure = {
    ...fail("wrong_code", { message: "That code is not right. 4 tries left." }),
    attemptsLeft: 4,
  };
  const res = failureResponse(failure);
  assert.equal(res.status, 400);
  assert.deepEqual(await res.json(), {
    error: "wrong_code",
    message: "That code is not right. 4 tries left.",
  });
});

Deno.test("failures: retryAfterMs becomes Retry-After in whole seconds, at least one", () => {
  for (
    const [ms, s] of [[0, "1"], [1, "1"], [999, "1"], [1000, "1"], [
      1001,
      "2",
    ], [3_600_000, "3600"]] as const
  ) {
    const res = failureResponse(fail("cooldown", { retryAfterMs: ms }));
    assert.equal(res.status, 429);
    assert.equal(res.headers.get("retry-after"), s, `${ms} ms`);
  }
});

Deno.test("failures: a rate limit says what was limited and when to retry, through the table", async () => {
  const f = rateLimitFailure("Too many lookups (at most 3 a minute).", 40_000);
  assert.deepEqual(f, {
    ok: false,
    code: "rate_limited",
    message: "Too many lookups (at most 3 a minute). Try again in 40 seconds.",
    retryAfterMs: 40_000,
  });
  const res = rateLimited("Too many lookups.", 125_000);
  assert.equal(res.status, 429);
  assert.equal(res.headers.get("retry-after"), "125");
  assert.deepEqual(await res.json(), {
    error: "rate_limited",
    message: "Too many lookups. Try again in 3 minutes.",
  });
});

// ------------------------------------------------------------ bodies

function req(
  body: BodyInit | null,
  headers: Record<string, string> = { "content-type": "application/json" },
) {
  return new Request("http://x/", { method: "POST", body, headers });
}

/** A body streamed in `n` chunks of `size` bytes, with no Content-Length. */
function streamed(n: number, size: number): ReadableStream<Uint8Array> & {
  pulled: () => number;
} {
  let sent = 0;
  const s = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent === n) return c.close();
      sent++;
      c.enqueue(new Uint8Array(size).fill(0x20));
    },
  }, { highWaterMark: 0 }); // nothing is pulled before someone reads
  return Object.assign(s, { pulled: () => sent });
}

Deno.test("readBody: the exact bytes up to the cap, JSON with or without parameters", async () => {
  for (const type of ["application/json", "application/json; charset=utf-8"]) {
    const r = await readBody(req('{"a":1}', { "content-type": type }), {
      maxBytes: 7,
    });
    assert.ok(r.ok, type);
    assert.equal(new TextDecoder().decode(r.data), '{"a":1}');
  }
  const empty = await readBody(req(null), { maxBytes: 10 });
  assert.ok(empty.ok);
  assert.equal(empty.data.length, 0);
});

Deno.test("readBody: another type is unsupported_media_type", async () => {
  for (
    const type of [
      "text/plain",
      "application/jsonx",
      "multipart/form-data",
      "",
    ]
  ) {
    const headers: Record<string, string> = type
      ? { "content-type": type }
      : {};
    const r = await readBody(req("{}", headers), { maxBytes: 100 });
    assert.ok(!r.ok);
    assert.equal(r.code, "unsupported_media_type", type);
    assert.equal(statusOf(r.code), 415);
  }
  const form = await readBody(
    req("a=1", { "content-type": "application/x-www-form-urlencoded" }),
    { maxBytes: 100, type: "application/x-www-form-urlencoded" },
  );
  assert.ok(form.ok);
});

Deno.test("readBody: a declared length over the cap is refused before reading", async () => {
  const body = streamed(10, 10);
  const r = await readBody(
    req(body, {
      "content-type": "application/json",
      "content-length": "999999",
    }),
    { maxBytes: 50 },
  );
  assert.ok(!r.ok);
  assert.equal(r.code, "payload_too_large");
  assert.match(r.message!, /larger than 50 bytes/);
  assert.equal(body.pulled(), 0, "nothing was read");
});

Deno.test("readBody: a stream that passes the cap stops being read there", async () => {
  const body = streamed(1000, 10);
  const r = await readBody(req(body), { maxBytes: 55 });
  assert.ok(!r.ok);
  assert.equal(r.code, "payload_too_large");
  assert.ok(body.pulled() < 10, `read ${body.pulled()} chunks`);
  const exact = await readBody(req(streamed(5, 11)), { maxBytes: 55 });
  assert.ok(exact.ok);
  assert.equal(exact.data.length, 55);
});

Deno.test("decodeJson: strict UTF-8 JSON or invalid_json", () => {
  assert.deepEqual(decodeJson(new TextEncoder().encode('{"a":[1]}')), {
    ok: true,
    data: { a: [1] },
  });
  for (
    const bad of [
      new TextEncoder().encode("{not json"),
      new Uint8Array([0x22, 0xff, 0x22]), // a string with a byte that is not UTF-8
    ]
  ) {
    assert.deepEqual(decodeJson(bad), { ok: false, code: "invalid_json" });
  }
});

Deno.test("readJsonBody: the data, or invalid_json / invalid_request saying where", async () => {
  const Schema = z.strictObject({ phone: z.string().max(5) });
  const good = await readJsonBody(req('{"phone":"+44"}'), Schema);
  assert.deepEqual(good, { ok: true, data: { phone: "+44" } });
  const notJson = await readJsonBody(req("{"), Schema);
  assert.ok(!notJson.ok);
  assert.equal(notJson.code, "invalid_json");
  const wrong = await readJsonBody(req('{"phone":"+447911"}'), Schema);
  assert.ok(!wrong.ok);
  assert.equal(wrong.code, "invalid_request");
  assert.match(wrong.message!, /^phone: /);
  const big = await readJsonBody(
    req(`{"phone":"${"x".repeat(100)}"}`),
    Schema,
    64,
  );
  assert.ok(!big.ok);
  assert.equal(big.code, "payload_too_large");
});

// ------------------------------------------------------------ conventions

async function* files(dir: URL): AsyncGenerator<URL> {
  for await (const e of Deno.readDir(dir)) {
    const url = new URL(e.name + (e.isDirectory ? "/" : ""), dir);
    if (e.isDirectory) {
      if (e.name !== "fresh") yield* files(url);
    } else if (/\.tsx?$/.test(e.name)) yield url;
  }
}

const rel = (u: URL) => u.pathname.slice(ROOT.pathname.length);

Deno.test("failures: services return data or failures, never a Response or a status", async () => {
  const services = [
    "lib/voicemail/",
    "lib/phone/",
    "lib/store/",
    "lib/turn.ts",
    "lib/upstream.ts",
  ];
  // Building an answer: the Response constructor, or lib/http.ts's builders.
  const answer =
    /\bnew Response\(|(?<![.\w])(?:json|jsonError|failureResponse|rateLimited)\(|\bstatus:\s*\d{3}\b/;
  const offenders: string[] = [];
  for (const s of services) {
    const urls = s.endsWith("/")
      ? await Array.fromAsync(files(new URL(s, ROOT)))
      : [new URL(s, ROOT)];
    for (const u of urls) {
      (await Deno.readTextFile(u)).split("\n").forEach((line, i) => {
        if (/^\s*(\*|\/\/)/.test(line)) return;
        if (answer.test(line)) offenders.push(`${rel(u)}:${i + 1}: ${line}`);
      });
    }
  }
  assert.deepEqual(offenders, []);
});

Deno.test("failures: a status written by hand beside a known code agrees with the table", async () => {
  // jsonError(409, "no_handle", ...) elsewhere must say what FAILURES says.
  const call = /jsonError\(\s*(\d{3}),\s*"([a-z_]+)"/g;
  const wrong: string[] = [];
  for (const dir of ["lib/", "routes/", "signaling/"]) {
    for await (const u of files(new URL(dir, ROOT))) {
      const text = await Deno.readTextFile(u);
      for (const [, status, code] of text.matchAll(call)) {
        const spec = (FAILURES as Record<string, { status: number }>)[code];
        if (spec && spec.status !== Number(status)) {
          wrong.push(`${rel(u)}: ${code} is ${spec.status}, not ${status}`);
        }
      }
    }
  }
  assert.deepEqual(wrong, []);
});
