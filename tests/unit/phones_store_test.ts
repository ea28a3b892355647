import assert from "node:assert/strict";
import { keys } from "@/lib/store/keys.ts";
import {
  bindPhone,
  getPhoneNumber,
  getPhoneRecord,
  getPhoneView,
  lookupDiscoverable,
  maskPhone,
  type PhoneSecrets,
  setDiscoverable,
  unbindPhone,
} from "@/lib/store/phones.ts";
import { phoneHmac } from "@/lib/crypto/phone_hash.ts";
import { withKv } from "../_helpers/kv.ts";

const rnd = () => crypto.getRandomValues(new Uint8Array(32));
const d1 = { kid: "d1", key: rnd() };
const d2 = { kid: "d2", key: rnd() };
const p1 = { kid: "p1", key: rnd() };
const p2 = { kid: "p2", key: rnd() };
const q1 = { kid: "q1", key: rnd() };
const S: PhoneSecrets = {
  dataKeys: [d1],
  phonePeppers: [p1],
  discoveryKeys: [q1],
};

const UK = "+447911123456";
const US = "+14155552671";

async function dump(kv: Deno.Kv) {
  const out: [Deno.KvKey, unknown][] = [];
  for await (const e of kv.list({ prefix: [] })) {
    // The directory's counters are KvU64s, which JSON cannot hold as such.
    const v = e.value instanceof Deno.KvU64 ? `u64:${e.value.value}` : e.value;
    out.push([e.key, v]);
  }
  return out;
}

Deno.test("phones: bind, view, discoverable, unbind", () =>
  withKv(async (kv) => {
    assert.equal(await getPhoneView(kv, S.dataKeys, "alice"), null);
    assert.deepEqual(await bindPhone(kv, S, "alice", UK, 1000), { ok: true });
    assert.deepEqual(await getPhoneView(kv, S.dataKeys, "alice"), {
      masked: "+44 ••• ••• ••56",
      discoverable: false,
    });
    assert.equal(await getPhoneNumber(kv, S.dataKeys, "alice"), UK);
    const rec = (await getPhoneRecord(kv, "alice"))!;
    assert.equal(rec.hmac, await phoneHmac(p1, UK));
    assert.equal(rec.pepperKid, "p1");
    assert.equal(rec.enc.kid, "d1");
    assert.equal(rec.boundAt, 1000);
    assert.equal((await kv.get(keys.phoneHmac(rec.hmac))).value, "alice");

    assert.equal(await setDiscoverable(kv, S, "alice", true), true);
    assert.equal(
      (await getPhoneView(kv, S.dataKeys, "alice"))?.discoverable,
      true,
    );
    assert.equal(await setDiscoverable(kv, S, "nobody", true), false);
    // Rebinding the same number (re-verified) keeps the choice.
    assert.deepEqual(await bindPhone(kv, S, "alice", UK, 2000), { ok: true });
    assert.equal((await getPhoneRecord(kv, "alice"))?.discoverable, true);

    // Nothing in KV holds the number in the clear.
    const all = JSON.stringify(await dump(kv));
    assert.ok(!all.includes("7911123456"));

    assert.equal(await unbindPhone(kv, "alice"), true);
    assert.equal(await unbindPhone(kv, "alice"), false);
    assert.equal(await getPhoneView(kv, S.dataKeys, "alice"), null);
    // Only the directory's counters stay: they version it (ETags).
    assert.deepEqual(
      (await dump(kv)).filter(([k]) =>
        k[0] !== "discovery_count" && k[0] !== "discovery_rev"
      ),
      [],
      "no index key or directory entry left behind",
    );
  }));

Deno.test("phones: a bound number is refused to a second handle, without naming the holder", () =>
  withKv(async (kv) => {
    assert.deepEqual(await bindPhone(kv, S, "alice", UK), { ok: true });
    const taken = await bindPhone(kv, S, "bob", UK);
    assert.deepEqual(taken, { ok: false, code: "number_taken" });
    assert.ok(!JSON.stringify(taken).includes("alice"));
    assert.equal(await getPhoneRecord(kv, "bob"), null);
    assert.equal(await getPhoneNumber(kv, S.dataKeys, "alice"), UK);
    // Once alice lets go, bob may have it.
    await unbindPhone(kv, "alice");
    assert.deepEqual(await bindPhone(kv, S, "bob", UK), { ok: true });
  }));

Deno.test("phones: simultaneous binds of one number: exactly one handle wins", () =>
  withKv(async (kv) => {
    const handles = ["h0", "h1", "h2", "h3", "h4", "h5"];
    const results = await Promise.all(
      handles.map((h) => bindPhone(kv, S, h, UK)),
    );
    assert.equal(results.filter((r) => r.ok).length, 1);
    const winner = handles[results.findIndex((r) => r.ok)];
    const index = await kv.get(keys.phoneHmac(await phoneHmac(p1, UK)));
    assert.equal(index.value, winner);
    const records = await Promise.all(
      handles.map((h) => getPhoneRecord(kv, h)),
    );
    assert.equal(records.filter(Boolean).length, 1);
  }));

Deno.test("phones: a new number replaces the old one and frees its index key", () =>
  withKv(async (kv) => {
    await bindPhone(kv, S, "alice", UK);
    await setDiscoverable(kv, S, "alice", true);
    assert.deepEqual(await bindPhone(kv, S, "alice", US), { ok: true });
    assert.deepEqual(await getPhoneView(kv, S.dataKeys, "alice"), {
      masked: "+1 ••• ••• ••71",
      discoverable: false,
    });
    assert.equal(
      (await kv.get(keys.phoneHmac(await phoneHmac(p1, UK)))).value,
      null,
    );
    const index = (await dump(kv)).filter(([k]) => k[0] === "phone_hmac");
    assert.equal(index.length, 1);
    assert.deepEqual(await bindPhone(kv, S, "bob", UK), { ok: true });
  }));

Deno.test("phones: the mask shows the country calling code and the last two digits only", () => {
  assert.equal(maskPhone("+447911123456"), "+44 ••• ••• ••56");
  assert.equal(maskPhone("+14155552671"), "+1 ••• ••• ••71");
  assert.equal(maskPhone("+819012345678"), "+81 ••• ••• ••78");
  assert.equal(maskPhone("+35312345678"), "+353 ••• ••• ••78");
  // One shape whatever the length.
  assert.equal(
    maskPhone("+4915112345678").length,
    maskPhone("+4930123456").length,
  );
});

Deno.test("phones: lookup finds discoverable numbers only, under an old pepper during rotation", () =>
  withKv(async (kv) => {
    await bindPhone(kv, S, "alice", UK);
    await setDiscoverable(kv, S, "alice", true);
    await bindPhone(kv, S, "bob", US);
    const list = [UK, US, "+819012345678", "not a number", UK];
    assert.deepEqual(
      await lookupDiscoverable(kv, [p1], list),
      new Map([[UK, "alice"]]),
    );
    // A new pepper goes first; the index keys are still under p1.
    const rotating: PhoneSecrets = {
      dataKeys: [d2, d1],
      phonePeppers: [p2, p1],
      discoveryKeys: [q1],
    };
    assert.deepEqual(
      await lookupDiscoverable(kv, rotating.phonePeppers, list),
      new Map([[UK, "alice"]]),
    );
    // Only the new pepper: the old index keys are not found (rotation moves them).
    assert.deepEqual(await lookupDiscoverable(kv, [p2], list), new Map());
    // Binding under the new ring still sees the p1 index key.
    assert.deepEqual(await bindPhone(kv, rotating, "carol", UK), {
      ok: false,
      code: "number_taken",
    });
    // Alice re-verifying moves her own index key to p2 and drops the p1 one.
    assert.deepEqual(await bindPhone(kv, rotating, "alice", UK), { ok: true });
    assert.equal(
      (await kv.get(keys.phoneHmac(await phoneHmac(p1, UK)))).value,
      null,
    );
    assert.deepEqual(
      await lookupDiscoverable(kv, [p2], [UK]),
      new Map([[UK, "alice"]]),
    );
    assert.equal(await getPhoneNumber(kv, rotating.dataKeys, "alice"), UK);
    // Turning discoverable off hides it at once.
    await setDiscoverable(kv, rotating, "alice", false);
    assert.deepEqual(await lookupDiscoverable(kv, [p2, p1], [UK]), new Map());
  }));

Deno.test("phones: a stale index key (record points elsewhere) is not a match", () =>
  withKv(async (kv) => {
    await bindPhone(kv, S, "alice", UK);
    await setDiscoverable(kv, S, "alice", true);
    // An index key naming alice for a number her record does not carry.
    await kv.set(keys.phoneHmac(await phoneHmac(p1, US)), "alice");
    assert.deepEqual(
      await lookupDiscoverable(kv, [p1], [UK, US]),
      new Map([[UK, "alice"]]),
    );
  }));

Deno.test("phones: lookup of 500 numbers in batches", () =>
  withKv(async (kv) => {
    const n = 500;
    const numbers = Array.from(
      { length: n },
      (_, i) => `+4479${String(i).padStart(8, "0")}`,
    );
    const ring: PhoneSecrets = {
      dataKeys: [d1],
      phonePeppers: [p2, p1],
      discoveryKeys: [q1],
    };
    // Half bound (under p1, as before a rotation), a third of those discoverable.
    for (let i = 0; i < n; i += 2) {
      assert.ok((await bindPhone(kv, S, `u${i}`, numbers[i])).ok);
      if (i % 3 === 0) await setDiscoverable(kv, S, `u${i}`, true);
    }
    const t0 = performance.now();
    const found = await lookupDiscoverable(kv, ring.phonePeppers, numbers);
    const ms = performance.now() - t0;
    const want = new Map(
      numbers.flatMap((e, i) =>
        i % 2 === 0 && i % 3 === 0 ? [[e, `u${i}`]] : []
      ),
    );
    assert.deepEqual(found, want);
    console.log(
      `lookupDiscoverable: ${n} numbers x 2 peppers in ${ms.toFixed(1)} ms`,
    );
  }));

Deno.test("phones: views take the keyring or a config holding it", () =>
  withKv(async (kv) => {
    await bindPhone(kv, S, "alice", UK);
    assert.deepEqual(
      await getPhoneView(kv, S, "alice"),
      await getPhoneView(kv, S.dataKeys, "alice"),
    );
    assert.equal(await getPhoneNumber(kv, S, "alice"), UK);
  }));
