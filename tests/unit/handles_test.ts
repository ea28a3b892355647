import assert from "node:assert/strict";
import { checkHandle, RESERVED_HANDLES } from "@/lib/identity/handles.ts";
import { contrastRatio, textOn } from "@/lib/color.ts";

Deno.test("handles: valid ones are case-folded and @-stripped", () => {
  assert.deepEqual(checkHandle(" @Bob_42 "), { ok: true, handle: "bob_42" });
  assert.deepEqual(checkHandle("abc"), { ok: true, handle: "abc" });
  assert.equal(checkHandle("a".repeat(30)).ok, true);
});

Deno.test("handles: each rule has its own message", () => {
  const cases: [string, string, RegExp][] = [
    ["ab", "invalid_handle", /3 to 30/],
    ["a".repeat(31), "invalid_handle", /3 to 30/],
    ["bob.smith", "invalid_handle", /a-z/],
    ["bob smith", "invalid_handle", /a-z/],
    ["bоb", "invalid_handle", /a-z/], // Cyrillic o: no look-alikes
    ["admin", "reserved_handle", /reserved/],
    ["Admin", "reserved_handle", /reserved/],
  ];
  for (const [input, code, msg] of cases) {
    const r = checkHandle(input);
    assert.equal(r.ok, false, input);
    if (!r.ok) {
      assert.equal(r.code, code, input);
      assert.match(r.message, msg, input);
    }
  }
  for (
    const route of [
      "api",
      "ops",
      "me",
      "security",
      "admin",
      "www",
      "help",
      "support",
    ]
  ) {
    assert.ok(RESERVED_HANDLES.has(route), route);
  }
});

Deno.test("colour: text on the accent always reaches WCAG AA for large text", () => {
  for (
    const accent of [
      "#000000",
      "#ffffff",
      "#2563eb",
      "#ffff00",
      "#777777",
      "#ff5500",
    ]
  ) {
    assert.ok(contrastRatio(accent, textOn(accent)) >= 3, accent);
  }
  assert.equal(textOn("#ffff00"), "#000000");
  assert.equal(textOn("#1e3a8a"), "#ffffff");
  assert.equal(Math.round(contrastRatio("#000000", "#ffffff")), 21);
});
