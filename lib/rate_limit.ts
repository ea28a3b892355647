/**
 * Token buckets kept in memory for this isolate only (abuse limits shared
 * across isolates live in KV: lib/store/rate.ts): `TokenBucket`, one bucket
 * (the signaling hub keeps one on each socket for its flood limit), and
 * `TokenBucketLimiter`, one bucket per key.
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

/**
 * One token bucket: `capacity` tokens, refilled at `refillPerSecond` up to
 * `capacity`; a take spends one token or is refused. For a limit with one
 * bucket per object (a socket's flood limit, kept on the socket itself): no
 * map lookup and nothing allocated per take.
 */
export class TokenBucket {
  /** Tokens left as of `at`. */
  tokens: number;
  /** When `tokens` was last brought up to date, in ms since the epoch. */
  at: number;

  constructor(
    readonly capacity: number,
    readonly refillPerSecond: number,
    now: number = Date.now(),
  ) {
    if (!(capacity >= 1)) throw new RangeError("capacity must be >= 1");
    if (!(refillPerSecond > 0)) {
      throw new RangeError("refillPerSecond must be > 0");
    }
    this.tokens = capacity;
    this.at = now;
  }

  /** Brings the bucket up to `now` (a clock that went back refills nothing). */
  refill(now: number): void {
    const elapsed = now - this.at;
    if (elapsed <= 0) return;
    this.tokens = Math.min(
      this.capacity,
      this.tokens + (elapsed / 1000) * this.refillPerSecond,
    );
    this.at = now;
  }

  /** Takes `cost` tokens (default one) at `now`; false when there are not enough. */
  take(now: number = Date.now(), cost = 1): boolean {
    this.refill(now);
    if (this.tokens < cost) return false;
    this.tokens -= cost;
    return true;
  }
}

const OK: TakeResult = Object.freeze({ ok: true });

export class TokenBucketLimiter {
  readonly capacity: number;
  readonly refillPerSecond: number;
  readonly maxKeys: number;
  /** Insertion order is recency order: the first entry is the oldest. */
  #buckets = new Map<string, TokenBucket>();

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
    let bucket = this.#buckets.get(key);
    if (bucket) {
      // Re-inserting moves the key to the young end of the map.
      this.#buckets.delete(key);
    } else {
      bucket = new TokenBucket(this.capacity, this.refillPerSecond, now);
    }
    this.#buckets.set(key, bucket);
    while (this.#buckets.size > this.maxKeys) {
      const oldest = this.#buckets.keys().next().value as string;
      this.#buckets.delete(oldest);
    }
    if (bucket.take(now, cost)) return OK;
    return {
      ok: false,
      retryAfterSeconds: Math.max(
        1,
        Math.ceil(
          (Math.min(cost, this.capacity) - bucket.tokens) /
            this.refillPerSecond,
        ),
      ),
    };
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
