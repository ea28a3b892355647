import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { safetyNumber } from "@/lib/identity/safety_number.ts";

/** The same format computed independently, with node:crypto and plain maths. */
function reference(handle: string, key: Uint8Array): string {
  const d = createHash("sha256").update(`reach-safety-v1\0${handle}\0`)
    .update(key).digest();
  const out: string[] = [];
  for (let g = 0; g < 6; g++) {
    const n = Number(d.readUIntBE(g * 5, 5));
    out.push(String(n % 100000).padStart(5, "0"));
    out.push(String(Math.floor(n / 100000) % 100000).padStart(5, "0"));
  }
  return out.join(" ");
}

Deno.test("safety number: 12 groups of 5 digits, matching an independent computation", async () => {
  const key = new Uint8Array(32).map((_, i) => i + 1);
  const n = await safetyNumber("bob", key);
  assert.match(n, /^(\d{5} ){11}\d{5}$/);
  assert.equal(n, reference("bob", key));
});

Deno.test("safety number: any change of key or handle changes it", async () => {
  const key = new Uint8Array(32).fill(7);
  const base = await safetyNumber("bob", key);
  const other = key.slice();
  other[31] ^= 1;
  assert.notEqual(await safetyNumber("bob", other), base);
  assert.notEqual(await safetyNumber("bobb", key), base);
  assert.equal(await safetyNumber("bob", key), base, "stable");
});
