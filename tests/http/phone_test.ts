import assert from "node:assert/strict";
import { findByPhone } from "@/lib/client/discovery.ts";
import { memoryStore } from "@/lib/client/oprf_cache.ts";
import { loadConfig, setConfig } from "@/lib/config.ts";
import { setLogSink } from "@/lib/log.ts";
import { owner, TEST_ENV, testApp, type TestClient } from "../_helpers/app.ts";
import { through } from "../_helpers/discovery.ts";

/** Collects what the development SMS provider prints (the code's only way out). */
function captureConsole(): { lines: string[]; restore(): void } {
  const lines: string[] = [];
  const orig = console.log;
  console.log = (...args: unknown[]) => lines.push(args.map(String).join(" "));
  return { lines, restore: () => (console.log = orig) };
}

function lastCode(lines: string[]): string {
  const line = lines.findLast((l) => l.startsWith("[reach dev sms]"));
  assert.ok(line, "the dev provider printed a code");
  return /(\d{6})\s*$/.exec(line)![1];
}

async function bind(c: TestClient, phone: string, out: string[]) {
  const start = await c.json("/api/me/phone/start", {
    method: "POST",
    body: { phone },
  });
  assert.equal(start.status, 200, JSON.stringify(start.body));
  return await c.json<{ phone: { masked: string; discoverable: boolean } }>(
    "/api/me/phone/verify",
    { method: "POST", body: { phone, code: lastCode(out) } },
  );
}

Deno.test("phone: bind with a code, stay hidden until opted in, then be found; unbind", async () => {
  await using app = await testApp();
  const out = captureConsole();
  const logs: string[] = [];
  setLogSink((l) => logs.push(l));
  try {
    const ann = await owner(app, "ann_phone");
    const start = await ann.json("/api/me/phone/start", {
      method: "POST",
      body: { phone: "+44 7911 123456" },
    });
    assert.equal(start.status, 200);
    const devLine = out.lines.findLast((l) => l.startsWith("[reach dev sms]"))!;
    assert.ok(
      !devLine.includes("7911123456"),
      "the number is not printed in full",
    );
    const code = lastCode(out.lines);
    const wrong = code === "000000" ? "111111" : "000000";
    const bad = await ann.json("/api/me/phone/verify", {
      method: "POST",
      body: { phone: "+447911123456", code: wrong },
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error, "wrong_code");
    assert.match(String(bad.body.message), /4 tries left/);
    const ok = await ann.json<
      { phone: { masked: string; discoverable: boolean } }
    >(
      "/api/me/phone/verify",
      { method: "POST", body: { phone: "+447911123456", code } },
    );
    assert.equal(ok.status, 200);
    assert.match(ok.body.phone.masked, /^\+44 .*56$/);
    assert.ok(!ok.body.phone.masked.includes("7911"), "masked");
    assert.equal(ok.body.phone.discoverable, false, "off by default");
    const again = await ann.json("/api/me/phone/verify", {
      method: "POST",
      body: { phone: "+447911123456", code },
    });
    assert.equal(again.status, 400, "a code works once");

    const pub = await app.client().request("/handles/ann_phone");
    assert.ok(
      !(await pub.text()).includes("7911"),
      "no number on the public profile",
    );

    const bob = await owner(app, "bob_finder");
    const store = memoryStore();
    const ask = async () =>
      (await findByPhone(
        ["+44 7911 123456", "+33 6 12 34 56 78", "nonsense"],
        { fetch: through(bob), store },
      )).matches;
    assert.deepEqual(await ask(), []);
    const on = await ann.json("/api/me/phone", {
      method: "PATCH",
      body: { discoverable: true },
    });
    assert.equal(on.status, 200);
    assert.deepEqual(await ask(), [
      { phone: "+447911123456", handle: "ann_phone" },
    ]);
    assert.equal(
      (await ann.json("/api/me/phone", { method: "DELETE" })).status,
      200,
    );
    assert.deepEqual(await ask(), []);
    assert.deepEqual((await ann.json("/api/me/phone")).body, { phone: null });

    for (const line of logs) {
      assert.ok(
        !/7911|123456|447911/.test(line),
        `a log line holds the number: ${line}`,
      );
      assert.ok(!line.includes(code), "no code in the logs");
    }
    assert.ok(logs.some((l) => l.includes('"phone.bound"')));
  } finally {
    out.restore();
  }
});

Deno.test("phone: one handle per number, without saying whose", async () => {
  await using app = await testApp();
  const out = captureConsole();
  try {
    const a = await owner(app, "first_phone");
    assert.equal((await bind(a, "+33612345678", out.lines)).status, 200);
    const b = await owner(app, "second_phone");
    const res = await bind(b, "+33 6 12 34 56 78", out.lines);
    assert.equal(res.status, 409);
    assert.equal(
      (res.body as unknown as { error: string }).error,
      "number_taken",
    );
    assert.ok(!JSON.stringify(res.body).includes("first_phone"));
  } finally {
    out.restore();
  }
});

Deno.test("phone: bad numbers, resend cool-down, and no provider are clear refusals", async () => {
  await using app = await testApp();
  const out = captureConsole();
  try {
    const c = await owner(app, "carl_phone");
    for (
      const phone of [
        "",
        "07911 123456",
        "+44 20 7946 0958",
        "+1 555",
        "x".repeat(50),
      ]
    ) {
      const r = await c.json("/api/me/phone/start", {
        method: "POST",
        body: { phone },
      });
      assert.equal(r.status, phone.length > 40 ? 400 : 400, phone);
      assert.ok(
        ["invalid_phone", "invalid_request"].includes(String(r.body.error)),
        phone,
      );
      assert.ok(String(r.body.message).length > 5);
    }
    const first = await c.json("/api/me/phone/start", {
      method: "POST",
      body: { phone: "+4915123456789" },
    });
    assert.equal(first.status, 200);
    const second = await c.json("/api/me/phone/start", {
      method: "POST",
      body: { phone: "+4915123456789" },
    });
    assert.equal(second.status, 429);
    assert.equal(second.body.error, "cooldown");
    assert.ok(Number(second.res.headers.get("retry-after")) > 0);
    const badCode = await c.json("/api/me/phone/verify", {
      method: "POST",
      body: { phone: "+4915123456789", code: "12ab" },
    });
    assert.equal(badCode.status, 400);

    setConfig(loadConfig({ ...TEST_ENV, REACH_SMS_PROVIDER: "none" }));
    const none = await c.json("/api/me/phone/start", {
      method: "POST",
      body: { phone: "+4915123456789" },
    });
    assert.equal(none.status, 503);
    assert.equal(none.body.error, "sms_unavailable");
    const page = await (await c.request("/me")).text();
    assert.ok(page.includes("Phone binding is not available"));
    assert.throws(
      () =>
        loadConfig({
          ...TEST_ENV,
          REACH_ENV: "production",
          REACH_ORIGIN: "https://r.example",
          REACH_SMS_PROVIDER: "dev",
        }),
      /refused in production/,
    );
  } finally {
    out.restore();
  }
});
