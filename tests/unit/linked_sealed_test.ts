/** linkedSealed: the sealed identity an Answer link carries in its fragment. */
import assert from "node:assert/strict";
import { linkedSealed } from "@/lib/client/receiver.ts";

Deno.test("linked sealed: read from #sealed=<base64url JSON>; anything else is none", () => {
  const box = { v: 1, callId: "c", handle: "bob", ct: "x/+y" };
  const enc = new TextEncoder().encode(JSON.stringify(box))
    .toBase64({ alphabet: "base64url", omitPadding: true });
  assert.deepEqual(linkedSealed(`#sealed=${enc}`), box);
  assert.deepEqual(linkedSealed(`#x=1&sealed=${enc}`), box);
  for (
    const bad of [
      "",
      "#other=1",
      "#sealed=",
      "#sealed=%%%",
      `#sealed=${btoa("not json")}`.replaceAll("=", ""),
      "#xsealed=e30",
    ]
  ) {
    assert.equal(linkedSealed(bad), undefined, bad);
  }
});
