/**
 * Checking a request against the abuse limits of lib/limits.ts, and the 429
 * answer when one says no.
 *
 * Every limit counts in KV (lib/store/rate.ts `hitRate`), under the limit's
 * own name as the scope, for a subject the client cannot choose: its address
 * (as `addressSubject`'s keyed hash, never the address), a handle that exists,
 * or "all" for a global cap.
 */
import { type Failure, failureResponse, retryAfterSeconds } from "./http.ts";
import { type LimitName, LIMITS, type Limits } from "./limits.ts";
import { log } from "./log.ts";
import { hitRate } from "./store/rate.ts";

/** One count against one limit. */
export interface Charge {
  limit: LimitName;
  subject: string;
}

export type SpendResult =
  | { ok: true }
  | {
    ok: false;
    /** The limit that said no. */
    limit: LimitName;
    /** Its value (config.limits[limit]). */
    max: number;
    retryAfterMs: number;
  };

/**
 * Counts `cost` against each charge in turn and stops at the first refusal.
 * Order charges from the requester's own (its address, its handle) to the
 * shared ones (a global cap): a request refused by its own budget never
 * spends a shared one. (One refused by a later charge keeps the earlier,
 * own, counts: counters are never decremented.)
 */
export async function spend(
  kv: Deno.Kv,
  limits: Limits,
  charges: Charge[],
  opts: { cost?: number; now?: number } = {},
): Promise<SpendResult> {
  const now = opts.now ?? Date.now();
  for (const { limit, subject } of charges) {
    const r = await hitRate(
      kv,
      limit,
      subject,
      limits[limit],
      LIMITS[limit].windowMs,
      now,
      opts.cost ?? 1,
    );
    if (!r.ok) {
      log("rate_limited", { kind: limit });
      return {
        ok: false,
        limit,
        max: limits[limit],
        retryAfterMs: r.retryAfterMs,
      };
    }
  }
  return { ok: true };
}

export { retryAfterSeconds };

/** "in 40 seconds", "in 12 minutes", "in 3 hours": when to try again. */
export function retryIn(ms: number): string {
  const s = retryAfterSeconds(ms);
  if (s < 120) return `in ${s} second${s === 1 ? "" : "s"}`;
  const m = Math.ceil(s / 60);
  if (m < 120) return `in ${m} minutes`;
  return `in ${Math.ceil(m / 60)} hours`;
}

/**
 * "at most 3 a day", "at most 30 every 10 minutes": a limit's value and
 * window in words.
 */
export function atMost(limits: Limits, limit: LimitName): string {
  const ms: number = LIMITS[limit].windowMs;
  const per = ms === 60_000
    ? "a minute"
    : ms === 3600_000
    ? "an hour"
    : ms === 86_400_000
    ? "a day"
    : ms % 3600_000 === 0
    ? `every ${ms / 3600_000} hours`
    : `every ${Math.round(ms / 60_000)} minutes`;
  return `at most ${limits[limit]} ${per}`;
}

/**
 * The failure a refused limit is: `rate_limited`, whose message is `what`
 * (what was limited) followed by when to try again, and Retry-After.
 */
export function rateLimitFailure(
  what: string,
  retryAfterMs: number,
): Failure<"rate_limited"> {
  return {
    ok: false,
    code: "rate_limited",
    message: `${what} Try again ${retryIn(retryAfterMs)}.`,
    retryAfterMs,
  };
}

/**
 * The 429 answer: `{error: "rate_limited", message}` with Retry-After in
 * seconds. `message` says what was limited; this adds when to retry.
 */
export function rateLimited(message: string, retryAfterMs: number): Response {
  return failureResponse(rateLimitFailure(message, retryAfterMs));
}
