/**
 * Contact discovery: a signed-in person asks which of up to 500 numbers
 * belong to owners who chose to be findable. Server-mediated: the numbers are
 * seen while answering, hashed for the lookup, and neither stored nor logged.
 *
 * Limits, per account and per isolate: a bucket of 1 000 numbers, refilled
 * at 1 000 numbers an hour; a request costs one token per number asked.
 */
import type { Config } from "../config.ts";
import { log } from "../log.ts";
import { TokenBucketLimiter } from "../rate_limit.ts";
import { lookupDiscoverable } from "../store/phones.ts";
import type { Outcome } from "./binding.ts";
import { normalizePhone } from "./normalize.ts";

export const DISCOVERY_MAX_PER_REQUEST = 500;
export const DISCOVERY_BUCKET = 1000;
export const DISCOVERY_REFILL_PER_HOUR = 1000;

export const discoveryLimiter = new TokenBucketLimiter({
  capacity: DISCOVERY_BUCKET,
  refillPerSecond: DISCOVERY_REFILL_PER_HOUR / 3600,
  maxKeys: 50_000,
});

export async function discover(
  kv: Deno.Kv,
  config: Pick<Config, "phonePeppers">,
  account: string,
  phones: string[],
  now = Date.now(),
): Promise<Outcome<{ matches: { phone: string; handle: string }[] }>> {
  const take = discoveryLimiter.take(account, now, phones.length);
  if (!take.ok) {
    return {
      ok: false,
      status: 429,
      error: "rate_limited",
      message:
        `You have looked up many numbers recently. Try again in ${take.retryAfterSeconds} seconds.`,
      retryAfterSeconds: take.retryAfterSeconds,
    };
  }
  const wanted = new Set<string>();
  for (const p of phones) {
    const n = normalizePhone(p);
    if (n.ok) wanted.add(n.e164);
  }
  const found = await lookupDiscoverable(kv, config.phonePeppers, [...wanted]);
  const matches = [...found].map(([phone, handle]) => ({ phone, handle }));
  log("discover", { count: phones.length });
  return { ok: true, data: { matches } };
}
