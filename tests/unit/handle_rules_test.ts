import assert from "node:assert/strict";
import { checkHandle, impersonates } from "@/lib/identity/handles.ts";
import { hasVisibleCharacter } from "@/lib/identity/profile.ts";

Deno.test("handles: names that pass for the service or its staff are reserved", () => {
  for (
    const h of [
      "reach",
      "reach_support",
      "reachofficial",
      "realreach",
      "b_reach", // an innocent word split apart is not innocent
      "bre_ach",
      "breach_reach",
      "admin1",
      "the_admin",
      "badminton_admin",
      "sysadmin",
      "support_team",
      "security_team",
      "help_desk",
      "helpdesk",
      "staff_2",
      "ops_1",
      "root",
      "system_",
      "official_reach",
      "trust_and_safety",
    ]
  ) {
    assert.equal(impersonates(h), true, h);
    const r = checkHandle(h);
    assert.equal(r.ok, false, h);
    if (!r.ok) {
      assert.equal(r.code, "reserved_handle", h);
      assert.match(r.message, /reserved/, h);
    }
  }
  for (
    const h of [
      "bob",
      "nora_e2e",
      "breach",
      "breach_fan",
      "preacher",
      "badminton_club",
      "alice_1",
      "team_rocket_fan",
      "systematic",
      "rooted",
    ]
  ) {
    assert.equal(impersonates(h), false, h);
    assert.deepEqual(checkHandle(h), { ok: true, handle: h });
  }
});

Deno.test("display names: visible means at least one character a reader can see", () => {
  for (
    const s of ["", " ", "\u3164", "\u2800\u2800", "\u200B\u00A0", "\u0301"]
  ) {
    assert.equal(hasVisibleCharacter(s), false, JSON.stringify(s));
  }
  for (const s of ["a", " a ", "\u3164x", "❤️", "한", "·", "1"]) {
    assert.equal(hasVisibleCharacter(s), true, JSON.stringify(s));
  }
});
