/**
 * A per-key token bucket, kept in memory for this isolate only: the
 * signaling hub's per-socket flood limit (abuse limits shared across
 * isolates live in KV: lib/store/rate.ts).
 *
 * Each key (for example a client's address) has a bucket of `capacity`
 * tokens that refills at `refillPerSecond`; a request takes one token or is
 * refused with how long to wait. Memory is bounded: beyond `maxKeys` the
 * least recently used keys are forgotten (a forgotten key starts again with a
 * full bucket, which only ever errs towards letting a request through). Keys
 * are never logged or stored anywhere else.
 */

export interface TokenBucketOptions {
  /** Most tokens a bucket holds: the burst a fresh key may spend at once. */
  capacity: number;
  /** Tokens added back per second, up to `capacity`. */
  refillPerSecond: number;
  /** Most keys remembered; the least recently used beyond this are evicted. */
  maxKeys: number;
}

export type TakeResult =
  | { ok: true }
  | { ok: false; retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date, in ms since the epoch. */
  at: number;
}

export class TokenBucketLimiter {
  readonly capacity: number;
  readonly refillPerSecond: number;
  readonly maxKeys: number;
  /** Insertion order is recency order: the first entry is the oldest. */
  #buckets = new Map<string, Bucket>();

  constructor(opts: TokenBucketOptions) {
    if (!(opts.capacity >= 1)) throw new RangeError("capacity must be >= 1");
    if (!(opts.refillPerSecond > 0)) {
      throw new RangeError("refillPerSecond must be > 0");
    }
    if (!(opts.maxKeys >= 1)) throw new RangeError("maxKeys must be >= 1");
    this.capacity = opts.capacity;
    this.refillPerSecond = opts.refillPerSecond;
    this.maxKeys = Math.floor(opts.maxKeys);
  }

  /** Takes `cost` tokens (default one) for `key` at time `now` (ms since the epoch). */
  take(key: string, now: number = Date.now(), cost = 1): TakeResult {
    const prev = this.#buckets.get(key);
    let tokens = this.capacity;
    if (prev) {
      const elapsed = Math.max(0, now - prev.at) / 1000;
      tokens = Math.min(
        this.capacity,
        prev.tokens + elapsed * this.refillPerSecond,
      );
      // Re-inserting moves the key to the young end of the map.
      this.#buckets.delete(key);
    }
    let result: TakeResult;
    if (tokens >= cost) {
      tokens -= cost;
      result = { ok: true };
    } else {
      result = {
        ok: false,
        retryAfterSeconds: Math.max(
          1,
          Math.ceil(
            (Math.min(cost, this.capacity) - tokens) / this.refillPerSecond,
          ),
        ),
      };
    }
    this.#buckets.set(key, { tokens, at: now });
    while (this.#buckets.size > this.maxKeys) {
      const oldest = this.#buckets.keys().next().value as string;
      this.#buckets.delete(oldest);
    }
    return result;
  }

  /** How many keys are remembered now. */
  get size(): number {
    return this.#buckets.size;
  }

  /** Whether `key` is remembered (tests and diagnostics). */
  has(key: string): boolean {
    return this.#buckets.has(key);
  }

  /** Forgets one key (its next take starts with a full bucket). */
  forget(key: string): void {
    this.#buckets.delete(key);
  }

  /** Forgets every key. */
  clear(): void {
    this.#buckets.clear();
  }
}

/**
 * The rate-limit key for a client address: an IPv4 address as it is, an
 * IPv6 address by its /64 prefix (one subscriber usually holds a whole /64,
 * so keying by full address would let them rotate past the limit). An
 * IPv4-mapped IPv6 address counts as its IPv4 address.
 */
export function clientKey(hostname: string): string {
  const host = hostname.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  if (!host.includes(":")) return host;
  const mapped = /^(?:0{0,4}:){0,5}:?ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host);
  if (mapped) return mapped[1];
  const [head, tail] = host.split("::", 2);
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = host.includes("::")
    ? [
      ...left,
      ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"),
      ...right,
    ]
    : left;
  return groups.slice(0, 4).map((g) => (parseInt(g, 16) || 0).toString(16))
    .join(":") + "::/64";
}
