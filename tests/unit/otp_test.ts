import assert from "node:assert/strict";
import { addressSubject } from "@/lib/client_address.ts";
import { defaultLimits, LIMITS } from "@/lib/limits.ts";
import {
  checkVerification,
  CODE_TTL_MS,
  generateCode,
  MAX_ATTEMPTS,
  OTP_PER_HANDLE,
  RESEND_COOLDOWN_MS,
  startVerification,
} from "@/lib/phone/otp.ts";
import { withKv } from "../_helpers/kv.ts";

/** The code limits at their defaults: 5 per (handle, number), 20 per number, 10 per address. */
const LIMITS_NOW = defaultLimits();
const SECRETS = { hmacKey: new Uint8Array(32).fill(7), limits: LIMITS_NOW };
const PER_HANDLE_NUMBER = LIMITS_NOW.otpPerHandleNumber;
const PER_NUMBER = LIMITS_NOW.otpPerNumber;
const PER_ADDRESS = LIMITS_NOW.otpPerAddress;
const RATE_WINDOW_MS = LIMITS.otpPerNumber.windowMs;
/** The start of an hour, so every fixed rate window starts fresh here. */
const T0 = Date.UTC(2026, 10, 5, 12, 0, 0);
const NUMBER = "+447700900123";
const HANDLE = "nora";
const CLIENT_IP = "203.0.113.7";
/** What routes pass: the keyed hash of the client's address. */
const CLIENT = await addressSubject(SECRETS, CLIENT_IP);

async function start(
  kv: Deno.Kv,
  o: { handle?: string; e164?: string; address?: string; now?: number } = {},
) {
  return await startVerification(kv, SECRETS, {
    handle: o.handle ?? HANDLE,
    e164: o.e164 ?? NUMBER,
    address: o.address ?? CLIENT,
    now: o.now ?? T0,
  });
}

async function started(kv: Deno.Kv, o: Parameters<typeof start>[1] = {}) {
  const r = await start(kv, o);
  assert.ok(r.ok, `start refused: ${JSON.stringify(r)}`);
  return r;
}

function check(
  kv: Deno.Kv,
  code: string,
  o: { handle?: string; e164?: string; now?: number } = {},
) {
  return checkVerification(kv, SECRETS, {
    handle: o.handle ?? HANDLE,
    e164: o.e164 ?? NUMBER,
    code,
    now: o.now ?? T0 + 1000,
  });
}

/** A six-digit code that is not `code`. */
const other = (code: string) =>
  String((Number(code) + 1) % 1_000_000).padStart(6, "0");

Deno.test("otp: 10 000 codes are all six digits, with leading zeros and even digits", () => {
  const first = new Array(10).fill(0);
  const last = new Array(10).fill(0);
  const seen = new Set<string>();
  for (let i = 0; i < 10_000; i++) {
    const c = generateCode();
    assert.match(c, /^[0-9]{6}$/);
    first[Number(c[0])]++;
    last[Number(c[5])]++;
    seen.add(c);
  }
  assert.ok(first[0] > 0, "some codes start with 0");
  // Each digit should appear ~1000 times (sd ~30); 800..1200 is > 6 sd.
  for (const counts of [first, last]) {
    for (const n of counts) assert.ok(n > 800 && n < 1200, `${counts}`);
  }
  // Birthday bound: ~50 collisions expected in 10 000 draws from 10^6.
  assert.ok(seen.size > 9_800, `only ${seen.size} distinct codes`);
});

Deno.test("otp: draws at or above the largest multiple of 10^6 are redrawn (no modulo bias)", () => {
  const draws = [0xffffffff, 4_294_000_000, 4_293_999_999, 123];
  let i = 0;
  const fill = (b: Uint32Array) => {
    b[0] = draws[i++];
    return b;
  };
  // 4 294 000 000 = 4294 * 10^6 is the first rejected value.
  assert.equal(generateCode(fill), "999999");
  assert.equal(i, 3);
  assert.equal(generateCode(fill), "000123");
});

Deno.test("otp: a right code succeeds once only", () =>
  withKv(async (kv) => {
    const s = await started(kv);
    assert.equal(s.resendAfterMs, RESEND_COOLDOWN_MS);
    assert.equal(s.expiresAt, T0 + CODE_TTL_MS);
    assert.deepEqual(await check(kv, s.code), { ok: true });
    assert.deepEqual(await check(kv, s.code), { ok: false, code: "no_code" });
  }));

Deno.test("otp: the code is bound to its handle and its number", () =>
  withKv(async (kv) => {
    const s = await started(kv);
    assert.deepEqual(await check(kv, s.code, { handle: "mallory" }), {
      ok: false,
      code: "no_code",
    });
    assert.deepEqual(await check(kv, s.code, { e164: "+447700900124" }), {
      ok: false,
      code: "no_code",
    });
    assert.deepEqual(await check(kv, s.code), { ok: true });
  }));

Deno.test("otp: no code before one is asked for", () =>
  withKv(async (kv) => {
    assert.deepEqual(await check(kv, "123456"), {
      ok: false,
      code: "no_code",
    });
  }));

Deno.test("otp: a code expires after 10 minutes", () =>
  withKv(async (kv) => {
    const s = await started(kv);
    assert.deepEqual(
      await check(kv, s.code, { now: T0 + CODE_TTL_MS }),
      { ok: false, code: "expired" },
    );
    // Just before the expiry it still works.
    assert.deepEqual(
      await check(kv, s.code, { now: T0 + CODE_TTL_MS - 1 }),
      { ok: true },
    );
  }));

Deno.test("otp: five wrong codes burn it; then even the right one fails", () =>
  withKv(async (kv) => {
    const s = await started(kv);
    const wrong = other(s.code);
    for (let left = MAX_ATTEMPTS - 1; left >= 1; left--) {
      assert.deepEqual(await check(kv, wrong), {
        ok: false,
        code: "wrong_code",
        attemptsLeft: left,
      });
    }
    assert.deepEqual(await check(kv, wrong), {
      ok: false,
      code: "too_many_attempts",
      attemptsLeft: 0,
    });
    assert.deepEqual(await check(kv, s.code), {
      ok: false,
      code: "too_many_attempts",
      attemptsLeft: 0,
    });
    // A new code (after the cool-down) starts afresh.
    const again = await started(kv, { now: T0 + RESEND_COOLDOWN_MS });
    assert.deepEqual(
      await check(kv, again.code, { now: T0 + RESEND_COOLDOWN_MS + 1 }),
      { ok: true },
    );
  }));

Deno.test("otp: malformed input counts as a wrong attempt", () =>
  withKv(async (kv) => {
    const s = await started(kv);
    for (const bad of ["", "12345", "1234567", ` ${s.code}`, "abcdef"]) {
      const r = await check(kv, bad);
      assert.equal(r.ok, false);
    }
    assert.deepEqual(await check(kv, s.code), {
      ok: false,
      code: "too_many_attempts",
      attemptsLeft: 0,
    });
  }));

Deno.test("otp: concurrent wrong guesses each spend an attempt", () =>
  withKv(async (kv) => {
    const s = await started(kv);
    const wrong = other(s.code);
    const results = await Promise.all(
      Array.from({ length: 8 }, () => check(kv, wrong)),
    );
    const left = results.filter((r) => !r.ok && r.code === "wrong_code");
    assert.equal(left.length, MAX_ATTEMPTS - 1);
    assert.deepEqual(await check(kv, s.code), {
      ok: false,
      code: "too_many_attempts",
      attemptsLeft: 0,
    });
  }));

Deno.test("otp: concurrent right codes succeed exactly once", () =>
  withKv(async (kv) => {
    const s = await started(kv);
    const results = await Promise.all(
      Array.from({ length: 6 }, () => check(kv, s.code)),
    );
    assert.equal(results.filter((r) => r.ok).length, 1);
  }));

Deno.test("otp: resend is refused for 60 s, then allowed with a new code", () =>
  withKv(async (kv) => {
    const first = await started(kv);
    assert.deepEqual(await start(kv, { now: T0 + 15_000 }), {
      ok: false,
      code: "cooldown",
      retryAfterMs: RESEND_COOLDOWN_MS - 15_000,
    });
    assert.deepEqual(
      await start(kv, { now: T0 + RESEND_COOLDOWN_MS - 1 }),
      { ok: false, code: "cooldown", retryAfterMs: 1 },
    );
    const second = await started(kv, { now: T0 + RESEND_COOLDOWN_MS });
    assert.equal(second.expiresAt, T0 + RESEND_COOLDOWN_MS + CODE_TTL_MS);
    const at = T0 + RESEND_COOLDOWN_MS + 1;
    if (first.code !== second.code) {
      // The old code was replaced.
      assert.deepEqual(await check(kv, first.code, { now: at }), {
        ok: false,
        code: "wrong_code",
        attemptsLeft: MAX_ATTEMPTS - 1,
      });
    }
    assert.deepEqual(await check(kv, second.code, { now: at }), { ok: true });
  }));

Deno.test("otp: cool-downs refused do not spend rate-limit budget", () =>
  withKv(async (kv) => {
    await started(kv);
    for (let i = 1; i <= 30; i++) {
      const r = await start(kv, { now: T0 + i });
      assert.equal(r.ok ? "ok" : r.code, "cooldown");
    }
    // 4 more sends (one a minute) fit this (handle, number)'s hourly budget of 5.
    for (let i = 1; i < PER_HANDLE_NUMBER; i++) {
      await started(kv, { now: T0 + i * RESEND_COOLDOWN_MS });
    }
  }));

Deno.test("otp: at most 5 codes per (handle, number) per hour; its other numbers are unaffected", () =>
  withKv(async (kv) => {
    for (let i = 0; i < PER_HANDLE_NUMBER; i++) {
      await started(kv, { now: T0 + i * RESEND_COOLDOWN_MS });
    }
    const at = T0 + PER_HANDLE_NUMBER * RESEND_COOLDOWN_MS;
    assert.deepEqual(await start(kv, { now: at }), {
      ok: false,
      code: "rate_limited",
      retryAfterMs: RATE_WINDOW_MS - (at - T0),
      limit: "otpPerHandleNumber",
      max: PER_HANDLE_NUMBER,
    });
    await started(kv, { e164: "+447700900124", now: at });
    await started(kv, { now: T0 + RATE_WINDOW_MS });
  }));

Deno.test("otp: strangers asking for the owner's number spend their own budgets, not the owner's", () =>
  withKv(async (kv) => {
    // Three other handles, each from its own address, ask for the owner's
    // number until their own (handle, number) budgets are spent.
    for (let s = 0; s < 3; s++) {
      const handle = `stranger${s}`;
      const address = `stranger-address-${s}`;
      for (let i = 0; i < PER_HANDLE_NUMBER; i++) {
        await started(kv, {
          handle,
          address,
          now: T0 + i * RESEND_COOLDOWN_MS,
        });
      }
      const r = await start(kv, {
        handle,
        address,
        now: T0 + PER_HANDLE_NUMBER * RESEND_COOLDOWN_MS,
      });
      assert.equal(
        r.ok ? "ok" : r.code === "rate_limited" && r.limit,
        "otpPerHandleNumber",
      );
    }
    // 15 codes were sent to the number; the owner still gets one.
    await started(kv, { now: T0 + 10 * RESEND_COOLDOWN_MS });
  }));

Deno.test("otp: at most 20 codes per number per hour, whoever asks", () =>
  withKv(async (kv) => {
    const handles = PER_NUMBER / PER_HANDLE_NUMBER;
    for (let h = 0; h < handles; h++) {
      for (let i = 0; i < PER_HANDLE_NUMBER; i++) {
        await started(kv, {
          handle: `h${h}`,
          address: `c${h}`,
          now: T0 + i * RESEND_COOLDOWN_MS,
        });
      }
    }
    const at = T0 + PER_HANDLE_NUMBER * RESEND_COOLDOWN_MS;
    assert.deepEqual(
      await start(kv, { handle: "fresh", address: "fresh", now: at }),
      {
        ok: false,
        code: "rate_limited",
        retryAfterMs: RATE_WINDOW_MS - (at - T0),
        limit: "otpPerNumber",
        max: PER_NUMBER,
      },
    );
    // Another number is unaffected; the next hour the number may try again.
    await started(kv, { handle: "fresh2", e164: "+447700900999", now: at });
    await started(kv, {
      handle: "fresh3",
      address: "fresh",
      now: T0 + RATE_WINDOW_MS,
    });
  }));

Deno.test("otp: at most 10 codes per handle per hour, across its numbers", () =>
  withKv(async (kv) => {
    for (let i = 0; i < OTP_PER_HANDLE; i++) {
      await started(kv, {
        e164: `+4477009001${String(i).padStart(2, "0")}`,
        address: `c${i}`,
      });
    }
    const r = await start(kv, { e164: "+447700900199", address: "fresh" });
    assert.equal(
      r.ok ? "ok" : r.code === "rate_limited" && r.limit,
      "otpPerHandle",
    );
    await started(kv, {
      handle: "other",
      e164: "+447700900199",
      address: "fresh",
    });
  }));

Deno.test("otp: at most 10 codes per client address per hour", () =>
  withKv(async (kv) => {
    for (let i = 0; i < PER_ADDRESS; i++) {
      await started(kv, {
        handle: `h${i}`,
        e164: `+4477009002${String(i).padStart(2, "0")}`,
      });
    }
    const r = await start(kv, { handle: "fresh", e164: "+447700900299" });
    assert.equal(
      r.ok ? "ok" : r.code === "rate_limited" && r.limit,
      "otpPerAddress",
    );
    await started(kv, {
      handle: "fresh",
      e164: "+447700900299",
      address: "another-client",
    });
  }));

Deno.test("otp: a request refused by its own budgets spends none of the number's shared cap", () =>
  withKv(async (kv) => {
    const limits = { ...LIMITS_NOW, otpPerAddress: 1, otpPerNumber: 2 };
    const go = (handle: string, address: string) =>
      startVerification(kv, { ...SECRETS, limits }, {
        handle,
        e164: NUMBER,
        address,
        now: T0,
      });
    assert.ok((await go("a", "busy")).ok);
    for (let i = 0; i < 5; i++) {
      const r = await go(`x${i}`, "busy");
      assert.equal(
        r.ok ? "ok" : r.code === "rate_limited" && r.limit,
        "otpPerAddress",
      );
    }
    assert.ok((await go("b", "quiet")).ok, "the number's second code");
  }));

Deno.test("otp: KV holds neither the number nor the code (nor the client address) in clear", () =>
  withKv(async (kv) => {
    const codes: string[] = [];
    const s = await started(kv);
    codes.push(s.code);
    const s2 = await started(kv, { handle: "bob", e164: "+15005550006" });
    codes.push(s2.code);
    await check(kv, other(s2.code), { handle: "bob", e164: "+15005550006" });
    const dump: string[] = [];
    for await (const e of kv.list({ prefix: [] })) {
      dump.push(JSON.stringify(
        { key: e.key, value: e.value },
        (_k, v) => typeof v === "bigint" ? v.toString() : v,
      ));
    }
    const all = dump.join("\n");
    // 2 records; counters: 1 address, 2 (handle, number), 2 handles, 2 numbers.
    assert.equal(dump.length, 9, all);
    for (
      const secret of [
        NUMBER,
        NUMBER.slice(1),
        NUMBER.slice(-7),
        "+15005550006",
        "5005550006",
        CLIENT_IP,
      ]
    ) {
      assert.ok(!all.includes(secret), `KV holds ${secret}:\n${all}`);
    }
    // A code in clear would be a token of its own (a hash may hold its
    // digits by chance, as a substring of a longer hex run).
    const tokens = new Set(all.split(/[^0-9A-Za-z]+/));
    for (const code of codes) {
      for (const form of [code, String(Number(code))]) {
        assert.ok(!tokens.has(form), `KV holds code ${code}:\n${all}`);
      }
    }
  }));
