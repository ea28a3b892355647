/**
 * Opt-in phone binding: at most one number per handle, one handle per
 * number, and the number itself never stored in the clear.
 *
 * KV layout (lib/store/keys.ts):
 * - `["phone", handle]` -> PhoneRecord: `hmac` (hex HMAC-SHA-256 of the E.164
 *   number under the pepper `pepperKid`, lib/crypto/phone_hash.ts), `enc`
 *   (the E.164 number sealed with AES-256-GCM under a data key, the handle as
 *   associated data, lib/crypto/envelope.ts), `discoverable` (the owner lets
 *   people who have the number find the handle), `boundAt` (ms).
 * - `["phone_hmac", hmac]` -> handle: the lookup index, written and deleted
 *   in the same atomic as its record, with versionstamp checks on both.
 * - A findable record's contact-discovery directory entry
 *   (lib/store/discovery.ts), pointed at by the record's `dir`: written
 *   and deleted in the same atomics as the record (bind, unbind, the
 *   findable switch, key rotation), so the directory never names a number
 *   that is unbound or hidden.
 *
 * During a pepper rotation a record's index key may be under an older pepper
 * until `deno task rotate-keys` (lib/store/rotation.ts) moves it, so binding
 * and lookup hash the number under every pepper of the ring.
 */
import { parsePhoneNumberFromString } from "libphonenumber-js/max";
import type { Config } from "../config.ts";
import {
  type DataKey,
  type Envelope,
  openString,
  sealString,
} from "../crypto/envelope.ts";
import { isE164, type Pepper, phoneHmac } from "../crypto/phone_hash.ts";
import {
  type DirectoryPointer,
  makeEntry,
  type NewEntry,
  replaceEntry,
} from "./discovery.ts";
import { keys } from "./keys.ts";

export interface PhoneRecord {
  /** Hex HMAC-SHA-256 of the E.164 number under the pepper `pepperKid`. */
  hmac: string;
  pepperKid: string;
  /** The E.164 number, sealed with the handle as associated data. */
  enc: Envelope;
  discoverable: boolean;
  boundAt: number;
  /**
   * The record's directory entry, under the discovery key `dir.kid`:
   * present exactly when the entry exists (only while `discoverable`).
   */
  dir?: DirectoryPointer;
}

/** The secrets phone records need: `Config` itself will do. */
export type PhoneSecrets = Pick<
  Config,
  "dataKeys" | "phonePeppers" | "discoveryKeys"
>;

export type BindResult = { ok: true } | { ok: false; code: "number_taken" };

const ATTEMPTS = 8;
/** Keys per `kv.getMany` (Deno KV allows at most 10). */
const GET_MANY = 10;

/** The number's hash under every pepper, newest first, without repeats. */
async function hashesUnder(
  peppers: readonly Pepper[],
  e164: string,
): Promise<{ kid: string; hmac: string }[]> {
  const all = await Promise.all(
    peppers.map(async (p) => ({ kid: p.kid, hmac: await phoneHmac(p, e164) })),
  );
  return all.filter((h, i) => all.findIndex((o) => o.hmac === h.hmac) === i);
}

/**
 * Binds a verified E.164 number to `handle` (the caller has checked that the
 * handle exists and that its owner proved the number). Replaces the handle's
 * previous number, whose index key goes in the same atomic. A number another
 * handle holds, under any pepper of the ring, is refused with
 * `number_taken`, which does not say who holds it. Rebinding the same number
 * keeps its discoverable setting (and its directory entry, remade under the
 * newest discovery key if need be); a new number starts not discoverable,
 * and the previous number's entry goes in the same atomic.
 */
export async function bindPhone(
  kv: Deno.Kv,
  secrets: PhoneSecrets,
  handle: string,
  e164: string,
  now: number = Date.now(),
): Promise<BindResult> {
  if (!isE164(e164)) throw new TypeError("bindPhone wants an E.164 number");
  const hashes = await hashesUnder(secrets.phonePeppers, e164);
  const newest = hashes[0];
  const enc = await sealString(secrets.dataKeys, e164, handle);
  const seed = secrets.discoveryKeys[0];
  let made: NewEntry | undefined;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const [rec, ...index] = await kv.getMany<[PhoneRecord, ...string[]]>([
      keys.phone(handle),
      ...hashes.map((h) => keys.phoneHmac(h.hmac)),
    ]);
    if (index.some((e) => e.value !== null && e.value !== handle)) {
      return { ok: false, code: "number_taken" };
    }
    const old = rec.value;
    const sameNumber = old !== null && hashes.some((h) => h.hmac === old.hmac);
    const op = kv.atomic().check(rec);
    for (const e of index) op.check(e);
    if (old && !sameNumber) {
      // The previous number's index key, if it is still this handle's.
      const prev = await kv.get<string>(keys.phoneHmac(old.hmac));
      op.check(prev);
      if (prev.value === handle) op.delete(prev.key);
    }
    // This number indexed to this handle under an older pepper.
    for (const e of index.slice(1)) if (e.value === handle) op.delete(e.key);
    const findable = sameNumber && old.discoverable;
    let dir = findable && old.dir?.kid === seed.kid ? old.dir : undefined;
    if (!dir && (findable || old?.dir)) {
      if (findable) made ??= await makeEntry(seed, e164, handle);
      dir = replaceEntry(op, handle, old?.dir, findable ? made! : null);
    }
    const record: PhoneRecord = {
      hmac: newest.hmac,
      pepperKid: newest.kid,
      enc,
      discoverable: findable,
      boundAt: now,
      ...(dir ? { dir } : {}),
    };
    op.set(keys.phone(handle), record);
    op.set(keys.phoneHmac(newest.hmac), handle);
    if ((await op.commit()).ok) return { ok: true };
  }
  throw new Error("phone binding kept conflicting");
}

/** Removes the handle's number and its index key; false when none was bound. */
export async function unbindPhone(
  kv: Deno.Kv,
  handle: string,
): Promise<boolean> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const rec = await kv.get<PhoneRecord>(keys.phone(handle));
    if (!rec.value) return false;
    const index = await kv.get<string>(keys.phoneHmac(rec.value.hmac));
    const op = kv.atomic().check(rec).check(index).delete(rec.key);
    if (index.value === handle) op.delete(index.key);
    replaceEntry(op, handle, rec.value.dir, null);
    if ((await op.commit()).ok) return true;
  }
  throw new Error("phone unbinding kept conflicting");
}

/**
 * Turns discoverability on or off, with the directory entry in the same
 * atomic; false when the handle has no number. Turning it on again also
 * remakes an entry that is missing or under an older discovery key.
 */
export async function setDiscoverable(
  kv: Deno.Kv,
  secrets: PhoneSecrets,
  handle: string,
  on: boolean,
): Promise<boolean> {
  const seed = secrets.discoveryKeys[0];
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const rec = await kv.get<PhoneRecord>(keys.phone(handle));
    if (!rec.value) return false;
    const { dir: old, ...rest } = rec.value;
    const done = on
      ? rest.discoverable && old?.kid === seed.kid
      : !rest.discoverable && !old;
    if (done) return true;
    const op = kv.atomic().check(rec);
    let dir: DirectoryPointer | undefined;
    if (on && old?.kid === seed.kid) dir = old;
    else if (on) {
      const e164 = await openString(secrets.dataKeys, rest.enc, handle);
      dir = replaceEntry(op, handle, old, await makeEntry(seed, e164, handle));
    } else replaceEntry(op, handle, old, null);
    const next: PhoneRecord = {
      ...rest,
      discoverable: on,
      ...(dir ? { dir } : {}),
    };
    const res = await op.set(rec.key, next).commit();
    if (res.ok) return true;
  }
  throw new Error("phone update kept conflicting");
}

export async function getPhoneRecord(
  kv: Deno.Kv,
  handle: string,
): Promise<PhoneRecord | null> {
  return (await kv.get<PhoneRecord>(keys.phone(handle))).value;
}

/** The data keyring, or anything holding it as `dataKeys` (`Config`). */
export type DataKeys = readonly DataKey[] | Pick<Config, "dataKeys">;

function ringOf(keys: DataKeys): readonly DataKey[] {
  return Array.isArray(keys)
    ? keys
    : (keys as Pick<Config, "dataKeys">).dataKeys;
}

/** The handle's number in E.164, decrypted; for its owner only. */
export async function getPhoneNumber(
  kv: Deno.Kv,
  dataKeys: DataKeys,
  handle: string,
): Promise<string | null> {
  const rec = await getPhoneRecord(kv, handle);
  return rec ? await openString(ringOf(dataKeys), rec.enc, handle) : null;
}

/**
 * "+44 ••• ••• ••56": the country calling code and the last two digits. The
 * mask has one fixed shape, so it does not tell the number's length either.
 */
export function maskPhone(e164: string): string {
  const cc = parsePhoneNumberFromString(e164)?.countryCallingCode;
  return `+${cc ?? "••"} ••• ••• ••${e164.slice(-2)}`;
}

export interface PhoneView {
  masked: string;
  discoverable: boolean;
}

/** What the owner's settings page shows; null when no number is bound. */
export async function getPhoneView(
  kv: Deno.Kv,
  dataKeys: DataKeys,
  handle: string,
): Promise<PhoneView | null> {
  const rec = await getPhoneRecord(kv, handle);
  if (!rec) return null;
  const e164 = await openString(ringOf(dataKeys), rec.enc, handle);
  return { masked: maskPhone(e164), discoverable: rec.discoverable };
}

async function getManyBatched<T>(
  kv: Deno.Kv,
  list: Deno.KvKey[],
): Promise<Deno.KvEntryMaybe<T>[]> {
  const batches: Promise<Deno.KvEntryMaybe<T>[]>[] = [];
  for (let i = 0; i < list.length; i += GET_MANY) {
    batches.push(kv.getMany<T[]>(list.slice(i, i + GET_MANY)));
  }
  return (await Promise.all(batches)).flat();
}

/**
 * Which of these E.164 numbers belong to a handle whose owner made the
 * number discoverable: a Map e164 -> handle. No route answers with it any
 * more (discovery is the OPRF directory, lib/phone/DISCOVERY.md: a server
 * that looks numbers up learns them); tests use it to check the index.
 * Numbers not bound, bound but not discoverable, or not E.164 are simply
 * absent. Each number is hashed under every pepper (newest first), so
 * lookups keep working while a pepper rotation is under way; an index hit
 * counts only when the handle's record still carries that same hash.
 */
export async function lookupDiscoverable(
  kv: Deno.Kv,
  peppers: readonly Pepper[],
  e164List: Iterable<string>,
): Promise<Map<string, string>> {
  const numbers = [...new Set(e164List)].filter(isE164);
  const hashed = await Promise.all(
    numbers.map(async (e164) => ({
      e164,
      hmacs: (await hashesUnder(peppers, e164)).map((h) => h.hmac),
    })),
  );
  const flat = hashed.flatMap((n) => n.hmacs);
  const index = await getManyBatched<string>(
    kv,
    flat.map((h) => keys.phoneHmac(h)),
  );
  const owner = new Map(flat.map((h, i) => [h, index[i].value]));
  const hits: { e164: string; hmac: string; handle: string }[] = [];
  for (const n of hashed) {
    const hmac = n.hmacs.find((h) => owner.get(h));
    if (hmac) hits.push({ e164: n.e164, hmac, handle: owner.get(hmac)! });
  }
  const handles = [...new Set(hits.map((h) => h.handle))];
  const records = await getManyBatched<PhoneRecord>(
    kv,
    handles.map((h) => keys.phone(h)),
  );
  const recordOf = new Map(handles.map((h, i) => [h, records[i].value]));
  const found = new Map<string, string>();
  for (const hit of hits) {
    const rec = recordOf.get(hit.handle);
    if (rec?.discoverable && rec.hmac === hit.hmac) {
      found.set(hit.e164, hit.handle);
    }
  }
  return found;
}
