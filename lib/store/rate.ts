/**
 * Abuse limits shared by every isolate through KV.
 *
 * `hitRate` is a fixed-window counter per (scope, subject, window): the check
 * and the increment are one atomic operation (a compare-and-set on the
 * counter, retried on a parallel write), every write sets the expiry, and a
 * refused request is not counted. So N concurrent requests against a limit L
 * let exactly min(N, L) through, and no counter outlives its window.
 *
 * `takeSlot` caps things held at once (e.g. open sockets per address): a
 * subject has `limit` numbered slots; taking one is an atomic "this slot is
 * free" check and set, with a lease that its holder renews. A holder that
 * dies without releasing frees its slot when the lease expires.
 *
 * Subjects are opaque: callers pass keyed hashes, never addresses.
 */
import { keys } from "./keys.ts";

export interface RateVerdict {
  ok: boolean;
  /** When the window ends (refused: when to try again). */
  retryAfterMs: number;
}

/**
 * How long a hit may keep losing compare-and-set races before it is refused.
 * Every round lets at least one contender through, so N concurrent hits on
 * one counter all finish; only a flood far beyond that gives up.
 */
const MAX_CONTENTION_MS = 10_000;

export async function hitRate(
  kv: Deno.Kv,
  scope: string,
  subject: string,
  limit: number,
  windowMs: number,
  now = Date.now(),
  cost = 1,
): Promise<RateVerdict> {
  const window = Math.floor(now / windowMs);
  const key = keys.rate(scope, subject, window);
  const retryAfterMs = (window + 1) * windowMs - now;
  // The counter lives until its window is over (plus a second of slack).
  const expireIn = retryAfterMs + 1000;
  const started = Date.now();
  for (let round = 0; Date.now() - started < MAX_CONTENTION_MS; round++) {
    const entry = await kv.get<number>(key);
    const count = entry.value ?? 0;
    if (count + cost > limit) return { ok: false, retryAfterMs };
    const res = await kv.atomic().check(entry)
      .set(key, count + cost, { expireIn }).commit();
    if (res.ok) return { ok: true, retryAfterMs };
    // Someone else counted first: let them finish, then read again.
    await backoff(round);
  }
  // Contention this heavy is itself a flood: refuse rather than guess.
  return { ok: false, retryAfterMs: Math.min(retryAfterMs, 1000) };
}

/** How many of the subject's window is used (tests and diagnostics). */
export async function rateCount(
  kv: Deno.Kv,
  scope: string,
  subject: string,
  windowMs: number,
  now = Date.now(),
): Promise<number> {
  const key = keys.rate(scope, subject, Math.floor(now / windowMs));
  return (await kv.get<number>(key)).value ?? 0;
}

export interface Slot {
  key: Deno.KvKey;
  /** Proves this holder still owns the slot when it renews or releases it. */
  holder: string;
}

/**
 * Takes one of `limit` slots of (scope, subject) for `leaseMs`, or returns
 * null when all are held. Renew with `renewSlots` before the lease ends.
 */
export async function takeSlot(
  kv: Deno.Kv,
  scope: string,
  subject: string,
  limit: number,
  leaseMs: number,
): Promise<Slot | null> {
  const holder = crypto.randomUUID();
  // Start at a random slot, so that takers rarely race for the same one and
  // a free slot is usually in the first batch read, however large the limit.
  const start = Math.floor(Math.random() * limit);
  for (let at = 0; at < limit; at += 10) {
    const batch = [];
    for (let i = at; i < Math.min(limit, at + 10); i++) {
      batch.push(keys.slot(scope, subject, (start + i) % limit));
    }
    const entries = await kv.getMany<string[]>(batch);
    for (const entry of entries) {
      if (entry.versionstamp !== null) continue;
      const res = await kv.atomic()
        .check({ key: entry.key, versionstamp: null })
        .set(entry.key, holder, { expireIn: leaseMs }).commit();
      if (res.ok) return { key: entry.key, holder };
    }
  }
  return null;
}

/** Extends the leases of slots this isolate holds (batched). */
export async function renewSlots(
  kv: Deno.Kv,
  slots: Slot[],
  leaseMs: number,
): Promise<void> {
  for (let at = 0; at < slots.length; at += 100) {
    const op = kv.atomic();
    for (const s of slots.slice(at, at + 100)) {
      op.set(s.key, s.holder, { expireIn: leaseMs });
    }
    await op.commit();
  }
}

/** Gives a slot back, if it is still this holder's. */
export async function releaseSlot(kv: Deno.Kv, slot: Slot): Promise<void> {
  const entry = await kv.get<string>(slot.key);
  if (entry.value !== slot.holder) return;
  await kv.atomic().check(entry).delete(slot.key).commit();
}

/** Exponential backoff with full jitter: contenders spread out instead of colliding again. */
function backoff(round: number): Promise<void> {
  const ms = Math.random() * Math.min(100, 2 ** Math.min(round, 7));
  return new Promise((resolve) => setTimeout(resolve, ms));
}
