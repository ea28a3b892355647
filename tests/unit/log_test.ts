import assert from "node:assert/strict";
import { formatLogLine } from "@/lib/log.ts";

Deno.test("log: only allow-listed fields are written", () => {
  const line = JSON.parse(formatLogLine("http", {
    method: "POST",
    status: 401,
    ip: "203.0.113.9",
    cookie: "__Host-reach_session=abc",
    signature: "3xYz",
    body: "{}",
    phone: "+15551234567",
  }, new Date(0)));
  assert.deepEqual(line, {
    t: "1970-01-01T00:00:00.000Z",
    event: "http",
    method: "POST",
    status: 401,
  });
});

Deno.test("log: long strings are cut and objects are never serialised", () => {
  const line = JSON.parse(formatLogLine("x", {
    reason: "r".repeat(500),
    code: { nested: "secret" } as unknown as string,
  }));
  assert.equal(line.reason.length, 80);
  assert.equal("code" in line, false);
});
