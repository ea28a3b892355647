import assert from "node:assert/strict";
import { type DataKey, openString } from "@/lib/crypto/envelope.ts";
import { phoneHmac } from "@/lib/crypto/phone_hash.ts";
import { keys } from "@/lib/store/keys.ts";
import {
  bindPhone,
  lookupDiscoverable,
  type PhoneRecord,
  type PhoneSecrets,
  setDiscoverable,
  unbindPhone,
} from "@/lib/store/phones.ts";
import { rotateKeys, type RotationProgress } from "@/lib/store/rotation.ts";

const ROOT = new URL("../../", import.meta.url);

async function withDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function withKv(fn: (kv: Deno.Kv) => Promise<void>) {
  await withDir(async (dir) => {
    const kv = await Deno.openKv(`${dir}/kv.sqlite3`);
    try {
      await fn(kv);
    } finally {
      kv.close();
    }
  });
}

const rnd = () => crypto.getRandomValues(new Uint8Array(32));
const d1: DataKey = { kid: "d1", key: rnd() };
const d2: DataKey = { kid: "d2", key: rnd() };
const p1 = { kid: "p1", key: rnd() };
const p2 = { kid: "p2", key: rnd() };
const q1 = { kid: "q1", key: rnd() };
const OLD: PhoneSecrets = {
  dataKeys: [d1],
  phonePeppers: [p1],
  discoveryKeys: [q1],
};
const NEW: PhoneSecrets = {
  dataKeys: [d2, d1],
  phonePeppers: [p2, p1],
  discoveryKeys: [q1],
};

const number = (i: number) => `+4479${String(i).padStart(8, "0")}`;
const handle = (i: number) => `user_${String(i).padStart(4, "0")}`;

/** Binds n numbers under `secrets`; every third discoverable. */
async function seed(kv: Deno.Kv, secrets: PhoneSecrets, n: number) {
  const owners = new Map<string, string>();
  for (let i = 0; i < n; i++) {
    assert.ok((await bindPhone(kv, secrets, handle(i), number(i))).ok);
    if (i % 3 === 0) await setDiscoverable(kv, secrets, handle(i), true);
    owners.set(handle(i), number(i));
  }
  return owners;
}

/**
 * Every record decrypts to its owner's number, is wholly old or wholly new,
 * and has exactly one index key, which names it; no other index keys exist.
 */
async function checkConsistent(
  kv: Deno.Kv,
  owners: Map<string, string>,
): Promise<{ old: number; new: number }> {
  const counts = { old: 0, new: 0 };
  const hmacs = new Set<string>();
  for await (
    const e of kv.list<PhoneRecord>({ prefix: keys.phonePrefix() })
  ) {
    const h = e.key[1] as string;
    const rec = e.value;
    const e164 = await openString(NEW.dataKeys, rec.enc, h);
    assert.equal(e164, owners.get(h), h);
    const isNew = rec.enc.kid === "d2" && rec.pepperKid === "p2";
    const isOld = rec.enc.kid === "d1" && rec.pepperKid === "p1";
    assert.ok(isNew || isOld, `${h} is half rotated`);
    counts[isNew ? "new" : "old"]++;
    const pepper = isNew ? p2 : p1;
    assert.equal(rec.hmac, await phoneHmac(pepper, e164));
    assert.equal((await kv.get(keys.phoneHmac(rec.hmac))).value, h);
    hmacs.add(rec.hmac);
  }
  assert.equal(counts.old + counts.new, owners.size);
  let indexKeys = 0;
  for await (const e of kv.list({ prefix: ["phone_hmac"] })) {
    indexKeys++;
    assert.ok(hmacs.has(e.key[1] as string), "dangling index key");
  }
  assert.equal(indexKeys, owners.size);
  return counts;
}

async function discoverableFound(
  kv: Deno.Kv,
  peppers: PhoneSecrets["phonePeppers"],
  owners: Map<string, string>,
) {
  const found = await lookupDiscoverable(kv, peppers, owners.values());
  for (const [h, e164] of owners) {
    const i = Number(h.slice(5));
    assert.equal(found.get(e164), i % 3 === 0 ? h : undefined, h);
  }
}

Deno.test("rotation: 1000 records, interrupted halfway, resumed: all under the newest key and pepper", () =>
  withKv(async (kv) => {
    const n = 1000;
    const owners = await seed(kv, OLD, n);

    const abort = new AbortController();
    const seen: RotationProgress[] = [];
    const t0 = performance.now();
    const first = await rotateKeys(kv, NEW, {
      batchSize: 64,
      signal: abort.signal,
      onProgress: (p) => {
        seen.push(p);
        if (p.scanned >= 500) abort.abort();
      },
    });
    const firstMs = performance.now() - t0;
    assert.equal(first.aborted, true);
    assert.equal(first.total, n);
    assert.equal(first.scanned, 500);
    assert.equal(first.reEncrypted, 500);
    assert.equal(first.reHashed, 500);
    assert.deepEqual(seen.map((p) => p.scanned), seen.map((_, i) => i + 1));

    // Interrupted: each record wholly old or wholly new, lookups still work.
    assert.deepEqual(await checkConsistent(kv, owners), { old: 500, new: 500 });
    await discoverableFound(kv, NEW.phonePeppers, owners);

    // Between the runs the app keeps working: a number changes hands.
    await unbindPhone(kv, handle(999));
    assert.ok((await bindPhone(kv, NEW, "newcomer", number(999))).ok);
    owners.delete(handle(999));
    owners.set("newcomer", number(999));
    // "newcomer" sorts before "user_…" and is already current.

    const t1 = performance.now();
    const second = await rotateKeys(kv, NEW, { batchSize: 64 });
    const secondMs = performance.now() - t1;
    assert.equal(second.aborted, false);
    assert.equal(second.total, n);
    assert.equal(second.scanned, n);
    assert.equal(second.reEncrypted, 499);
    assert.equal(second.reHashed, 499);
    assert.equal(second.current, 501);
    assert.equal(second.failed + second.conflicts, 0);

    assert.deepEqual(await checkConsistent(kv, owners), { old: 0, new: n });
    // The old pepper is no longer needed for lookups.
    const stillFound = await lookupDiscoverable(kv, [p2], [number(0)]);
    assert.equal(stillFound.get(number(0)), handle(0));
    assert.equal((await lookupDiscoverable(kv, [p1], [number(0)])).size, 0);
    // And the old data key is no longer needed to open them.
    for await (
      const e of kv.list<PhoneRecord>({ prefix: keys.phonePrefix() })
    ) {
      const h = e.key[1] as string;
      assert.equal(await openString([d2], e.value.enc, h), owners.get(h));
    }

    const third = await rotateKeys(kv, NEW);
    assert.equal(third.current, n);
    assert.equal(third.reEncrypted + third.reHashed, 0);
    console.log(
      `rotation of ${n} records: ${first.scanned} in ${
        firstMs.toFixed(0)
      } ms, ` +
        `resumed ${second.reEncrypted} (+${second.current} current) in ${
          secondMs.toFixed(0)
        } ms; all-current pass ${third.ms.toFixed(0)} ms`,
    );
  }));

Deno.test("rotation: an uninterrupted run over 1000 records, timed", () =>
  withKv(async (kv) => {
    const owners = await seed(kv, OLD, 1000);
    const r = await rotateKeys(kv, NEW);
    assert.equal(r.reEncrypted, 1000);
    assert.equal(r.reHashed, 1000);
    assert.deepEqual(await checkConsistent(kv, owners), { old: 0, new: 1000 });
    console.log(`rotation of 1000 records in one run: ${r.ms.toFixed(0)} ms`);
  }));

Deno.test("rotation: only the data key, or only the pepper, changed", () =>
  withKv(async (kv) => {
    const owners = await seed(kv, OLD, 20);
    const keyOnly = await rotateKeys(kv, {
      dataKeys: [d2, d1],
      phonePeppers: [p1],
      discoveryKeys: [q1],
    });
    assert.equal(keyOnly.reEncrypted, 20);
    assert.equal(keyOnly.reHashed, 0);
    const pepperOnly = await rotateKeys(kv, NEW);
    assert.equal(pepperOnly.reEncrypted, 0);
    assert.equal(pepperOnly.reHashed, 20);
    assert.deepEqual(await checkConsistent(kv, owners), { old: 0, new: 20 });
  }));

Deno.test("rotation: a record whose key left the ring is counted, not fatal", () =>
  withKv(async (kv) => {
    const d0 = { kid: "d0", key: rnd() };
    await seed(kv, OLD, 5);
    assert.ok(
      (await bindPhone(
        kv,
        { dataKeys: [d0], phonePeppers: [p1], discoveryKeys: [q1] },
        "orphan",
        "+447700900123",
      )).ok,
    );
    const r = await rotateKeys(kv, NEW);
    assert.equal(r.failed, 1);
    assert.equal(r.reEncrypted, 5);
    const orphan = (await kv.get<PhoneRecord>(keys.phone("orphan"))).value!;
    assert.equal(orphan.enc.kid, "d0", "left as it was");
  }));

Deno.test("rotate-keys script: rotates a KV file, prints progress and counts but no phone number", () =>
  withDir(async (dir) => {
    const path = `${dir}/reach.kv`;
    const kv = await Deno.openKv(path);
    let owners: Map<string, string>;
    try {
      owners = await seed(kv, OLD, 40);
    } finally {
      kv.close();
    }
    const ring = (ks: { kid: string; key: Uint8Array }[]) =>
      ks.map((k) => `${k.kid}:${k.key.toBase64()}`).join(",");
    const res = await new Deno.Command(Deno.execPath(), {
      args: ["task", "rotate-keys"],
      cwd: ROOT,
      clearEnv: true,
      env: {
        NO_COLOR: "1",
        REACH_ENV: "test",
        REACH_KV_PATH: path,
        REACH_HMAC_KEY: rnd().toBase64(),
        REACH_DATA_KEYS: ring(NEW.dataKeys),
        REACH_PHONE_PEPPERS: ring(NEW.phonePeppers),
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(res.stdout);
    const stderr = new TextDecoder().decode(res.stderr);
    const all = stdout + stderr;
    assert.equal(res.code, 0, all);
    assert.match(
      stderr,
      /\[#{30}\] 40\/40 re-encrypted 40 re-hashed 40\n/,
    );
    assert.match(
      stdout,
      /40\/40 phone records visited, 40 re-encrypted to d2, 40 re-hashed to p2, 0 already current, 0 failed, 0 conflicts/,
    );
    for (const e164 of owners.values()) {
      assert.ok(!all.includes(e164), "a number was printed");
      assert.ok(!all.includes(e164.slice(1)), "a number's digits were printed");
      assert.ok(!all.includes(e164.slice(3)), "a national number was printed");
    }
    const after = await Deno.openKv(path);
    try {
      assert.deepEqual(await checkConsistent(after, owners), {
        old: 0,
        new: 40,
      });
    } finally {
      after.close();
    }
  }));
