/** Contact discovery in tests: the browser's side over a TestClient, and KV checks. */
import assert from "node:assert/strict";
import type { Fetch } from "@/lib/client/discovery.ts";
import { oprfInput, toB64u, voprf } from "@/lib/phone/oprf.ts";
import { entryCount } from "@/lib/store/discovery.ts";
import { keys } from "@/lib/store/keys.ts";
import type { PhoneRecord } from "@/lib/store/phones.ts";
import type { TestClient } from "./app.ts";

/** lib/client/discovery.ts's fetch, through the real handler as `c`. */
export function through(c: TestClient): Fetch {
  return (path, init) =>
    c.request(path, {
      method: init?.method,
      body: init?.body as string | undefined,
      headers: init?.headers,
    });
}

/** `n` valid blinded elements (of throw-away inputs), base64url. */
export function blinded(n: number): string[] {
  return Array.from(
    { length: n },
    (_, i) => toB64u(voprf.blind(oprfInput(`+4479110${i}`)).blinded),
  );
}

export function evaluate(
  c: TestClient,
  body: { keyId: string; blinded: string[] } | Record<string, unknown>,
) {
  return c.json<Record<string, unknown>>("/api/me/discover/evaluate", {
    method: "POST",
    body,
  });
}

/**
 * The directory and the phone records agree: every findable record points
 * at its entry under `kid`, nothing else has an entry, and the count is the
 * number of entries. Returns the handles in the directory.
 */
export async function assertDirectoryConsistent(
  kv: Deno.Kv,
  kid: string,
): Promise<string[]> {
  const records = new Map<string, PhoneRecord>();
  for await (
    const e of kv.list<PhoneRecord>({ prefix: keys.phonePrefix() })
  ) records.set(e.key[1] as string, e.value);
  const listed: string[] = [];
  for await (const e of kv.list<Uint8Array>({ prefix: ["discovery_entry"] })) {
    const [, k, tag, handle] = e.key as [string, string, Uint8Array, string];
    const rec = records.get(handle);
    assert.ok(rec, `an entry for ${handle}, who has no number`);
    assert.ok(rec.discoverable, `an entry for ${handle}, who is hidden`);
    assert.equal(rec.dir?.kid, k, `${handle}'s record points elsewhere`);
    assert.deepEqual(rec.dir?.tag, tag, `${handle}'s record points elsewhere`);
    if (k === kid) listed.push(handle);
  }
  for (const [handle, rec] of records) {
    assert.equal(
      rec.discoverable,
      rec.dir !== undefined,
      `${handle}: findable ${rec.discoverable} but entry ${!!rec.dir}`,
    );
  }
  assert.equal(await entryCount(kv, kid), listed.length, "the count");
  return listed.sort();
}
