import assert from "node:assert/strict";
import { loadConfig, setConfig } from "../../lib/config.ts";
import { setLogSink } from "../../lib/log.ts";
import { owner, TEST_ENV, testApp, type TestClient } from "../_helpers/app.ts";
import { inOneWindow } from "../_helpers/limit_window.ts";
import { newWallet } from "../_helpers/wallet.ts";

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
    const ask = {
      method: "POST",
      body: { phones: ["+44 7911 123456", "+33 6 12 34 56 78", "nonsense"] },
    };
    assert.deepEqual((await bob.json("/api/discover", ask)).body, {
      matches: [],
    });
    const on = await ann.json("/api/me/phone", {
      method: "PATCH",
      body: { discoverable: true },
    });
    assert.equal(on.status, 200);
    assert.deepEqual((await bob.json("/api/discover", ask)).body, {
      matches: [{ phone: "+447911123456", handle: "ann_phone" }],
    });
    assert.equal(
      (await ann.json("/api/me/phone", { method: "DELETE" })).status,
      200,
    );
    assert.deepEqual((await bob.json("/api/discover", ask)).body, {
      matches: [],
    });
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

Deno.test("discovery: signed in with a handle only, 500 numbers a request, a budget per address in KV", () =>
  // The budget is counted in hourly windows: see inOneWindow.
  inOneWindow(3600_000, async () => {
    await using app = await testApp({
      REACH_LIMIT_DISCOVERY_PER_ADDRESS: "1000",
    });
    const anon = await app.client().json("/api/discover", {
      method: "POST",
      body: { phones: ["+447911123456"] },
    });
    assert.equal(anon.status, 401);
    const noHandle = app.client();
    await noHandle.signIn(newWallet());
    const refused = await noHandle.json("/api/discover", {
      method: "POST",
      body: { phones: ["+447911123456"] },
    });
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error, "no_handle");
    const c = await owner(app, "disc_asker");
    const many = Array.from(
      { length: 500 },
      (_, i) => `+4479110${String(i).padStart(5, "0")}`,
    );
    const tooMany = await c.json("/api/discover", {
      method: "POST",
      body: { phones: [...many, "+447911199999"] },
    });
    assert.equal(tooMany.status, 400);
    assert.equal(
      (await c.json("/api/discover", {
        method: "POST",
        body: { phones: many },
      }))
        .status,
      200,
    );
    assert.equal(
      (await c.json("/api/discover", {
        method: "POST",
        body: { phones: many },
      }))
        .status,
      200,
    );
    const spent = await c.json("/api/discover", {
      method: "POST",
      body: { phones: many },
    });
    assert.equal(spent.status, 429);
    assert.equal(spent.body.error, "rate_limited");
    assert.ok(Number(spent.res.headers.get("retry-after")) > 0);
    // Another account from the same address shares the address's budget.
    const d = await owner(app, "disc_asker_2");
    assert.equal(
      (await d.json("/api/discover", {
        method: "POST",
        body: { phones: many },
      }))
        .status,
      429,
    );
  }));
