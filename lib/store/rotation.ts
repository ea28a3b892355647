/**
 * Key rotation for phone records (`deno task rotate-keys`): reseals every
 * `["phone", handle]` record whose envelope is not under the newest data key,
 * and rehashes under the newest pepper every record whose `pepperKid` is not
 * the newest, moving its `["phone_hmac", …]` index key. A findable record's
 * contact-discovery directory entry is remade under the newest discovery key
 * (REACH_DISCOVERY_KEYS; lib/store/discovery.ts) in the same atomic: the
 * server opens the number to do so, as the OPRF output needs it.
 *
 * Each record changes in its own atomic, checked against the record and both
 * index keys as read, so an interruption (abort, crash, deploy) leaves every
 * record either wholly old or wholly new, and a rerun skips what is done and
 * finishes the rest. No cursor is kept: a rerun reads records already
 * rotated once more and leaves them alone, which costs one read each and
 * cannot miss a record a stale cursor would skip. A write that loses to a
 * parallel bind, unbind or discoverable change is retried on the fresh
 * record; a record deleted meanwhile is skipped.
 *
 * Nothing here logs or returns a phone number: only counts.
 */
import { EnvelopeError, openString, sealString } from "../crypto/envelope.ts";
import { phoneHmac } from "../crypto/phone_hash.ts";
import { makeEntry, replaceEntry } from "./discovery.ts";
import { keys } from "./keys.ts";
import type { PhoneRecord, PhoneSecrets } from "./phones.ts";

export interface RotationProgress {
  /** Records counted before the walk began. */
  total: number;
  /** Records visited so far (done, current, gone, failed or conflicting). */
  scanned: number;
  reEncrypted: number;
  reHashed: number;
  /**
   * Directory entries remade under the newest discovery key (or removed
   * from a record that is not findable).
   */
  rebuilt: number;
  /** Already under the newest key, pepper and discovery key. */
  current: number;
  /** Could not be opened: its data key is not in the ring, or tampered. */
  failed: number;
  /**
   * Its number's new hash is another handle's index key (two handles with
   * one number: should not happen); left unchanged.
   */
  conflicts: number;
}

export interface RotationResult extends RotationProgress {
  /** The signal stopped the walk before every record was visited. */
  aborted: boolean;
  dataKid: string;
  pepperKid: string;
  discoveryKid: string;
  ms: number;
}

export interface RotationOptions {
  /** Called after every record. */
  onProgress?: (p: Readonly<RotationProgress>) => void;
  /** Records per `kv.list` page (default 100). */
  batchSize?: number;
  /** Stops before the next record; records already written stay written. */
  signal?: AbortSignal;
}

const ATTEMPTS = 8;

type Outcome =
  | {
    kind: "rotated";
    reEncrypted: boolean;
    reHashed: boolean;
    rebuilt: boolean;
  }
  | { kind: "current" | "gone" | "failed" | "conflict" };

async function rotateOne(
  kv: Deno.Kv,
  secrets: PhoneSecrets,
  first: Deno.KvEntry<PhoneRecord>,
): Promise<Outcome> {
  const dataKey = secrets.dataKeys[0];
  const pepper = secrets.phonePeppers[0];
  const seed = secrets.discoveryKeys[0];
  const handle = first.key[1] as string;
  let entry: Deno.KvEntryMaybe<PhoneRecord> = first;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const rec = entry.value;
    if (!rec) return { kind: "gone" };
    const reEncrypted = rec.enc.kid !== dataKey.kid;
    const reHashed = rec.pepperKid !== pepper.kid;
    const rebuilt = rec.discoverable
      ? rec.dir?.kid !== seed.kid
      : rec.dir !== undefined;
    if (!reEncrypted && !reHashed && !rebuilt) return { kind: "current" };
    let e164: string;
    try {
      e164 = await openString(secrets.dataKeys, rec.enc, handle);
    } catch (e) {
      if (e instanceof EnvelopeError) return { kind: "failed" };
      throw e;
    }
    const next: PhoneRecord = { ...rec };
    if (reEncrypted) {
      next.enc = await sealString(secrets.dataKeys, e164, handle);
    }
    const op = kv.atomic().check(entry);
    if (rebuilt) {
      const made = rec.discoverable
        ? await makeEntry(seed, e164, handle)
        : null;
      const dir = replaceEntry(op, handle, rec.dir, made);
      if (dir) next.dir = dir;
      else delete next.dir;
    }
    if (reHashed) {
      const hmac = await phoneHmac(pepper, e164);
      const [oldIndex, newIndex] = await kv.getMany<[string, string]>([
        keys.phoneHmac(rec.hmac),
        keys.phoneHmac(hmac),
      ]);
      if (newIndex.value !== null && newIndex.value !== handle) {
        return { kind: "conflict" };
      }
      op.check(oldIndex).check(newIndex);
      if (oldIndex.value === handle && rec.hmac !== hmac) {
        op.delete(oldIndex.key);
      }
      op.set(newIndex.key, handle);
      next.hmac = hmac;
      next.pepperKid = pepper.kid;
    }
    op.set(entry.key, next);
    if ((await op.commit()).ok) {
      return { kind: "rotated", reEncrypted, reHashed, rebuilt };
    }
    entry = await kv.get<PhoneRecord>(entry.key);
  }
  throw new Error("a phone record kept changing during rotation");
}

/** Counts the phone records (keys only matter; values come along). */
async function countRecords(kv: Deno.Kv, batchSize: number): Promise<number> {
  let n = 0;
  for await (
    const _ of kv.list({ prefix: keys.phonePrefix() }, { batchSize })
  ) {
    n++;
  }
  return n;
}

/** Rotates every phone record to the newest data key and pepper. */
export async function rotateKeys(
  kv: Deno.Kv,
  secrets: PhoneSecrets,
  opts: RotationOptions = {},
): Promise<RotationResult> {
  const started = performance.now();
  const batchSize = Math.max(1, Math.min(1000, opts.batchSize ?? 100));
  if (
    !secrets.dataKeys[0] || !secrets.phonePeppers[0] ||
    !secrets.discoveryKeys[0]
  ) {
    throw new TypeError(
      "the data keyring, the pepper ring and the discovery keyring need a key each",
    );
  }
  const p: RotationProgress = {
    total: await countRecords(kv, batchSize),
    scanned: 0,
    reEncrypted: 0,
    reHashed: 0,
    rebuilt: 0,
    current: 0,
    failed: 0,
    conflicts: 0,
  };
  let aborted = false;
  const iter = kv.list<PhoneRecord>({ prefix: keys.phonePrefix() }, {
    batchSize,
  });
  for await (const entry of iter) {
    if (opts.signal?.aborted) {
      aborted = true;
      break;
    }
    const out = await rotateOne(kv, secrets, entry);
    p.scanned++;
    if (out.kind === "rotated") {
      if (out.reEncrypted) p.reEncrypted++;
      if (out.reHashed) p.reHashed++;
      if (out.rebuilt) p.rebuilt++;
    } else if (out.kind === "current") p.current++;
    else if (out.kind === "failed") p.failed++;
    else if (out.kind === "conflict") p.conflicts++;
    opts.onProgress?.({ ...p });
  }
  return {
    ...p,
    aborted,
    dataKid: secrets.dataKeys[0].kid,
    pepperKid: secrets.phonePeppers[0].kid,
    discoveryKid: secrets.discoveryKeys[0].kid,
    ms: performance.now() - started,
  };
}
