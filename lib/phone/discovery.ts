/**
 * Contact discovery: a signed-in person with a handle asks which of up to
 * 500 numbers belong to owners who chose to be findable. Server-mediated: the
 * numbers are seen while answering, hashed for the lookup, and neither stored
 * nor logged.
 *
 * Limits, in KV so every isolate shares them (lib/limits.ts): numbers looked
 * up per client address (discoveryPerAddress), per handle
 * (discoveryPerHandle) and by everyone together (discoveryGlobal). A request
 * costs one per number asked, valid or not; the requester's own budgets are
 * counted first, the global one last.
 */
import type { Config } from "../config.ts";
import { fail, ok, type Result } from "../http.ts";
import { atMost, retryIn, spend, type SpendResult } from "../limit_check.ts";
import { log } from "../log.ts";
import { lookupDiscoverable } from "../store/phones.ts";
import { normalizePhone } from "./normalize.ts";

export const DISCOVERY_MAX_PER_REQUEST = 500;

/** The subject of the global cap. */
const EVERYONE = "all";

function refusal(
  config: Pick<Config, "limits">,
  r: Extract<SpendResult, { ok: false }>,
  asked: number,
): string {
  const words = atMost(config.limits, r.limit);
  if (asked > r.max) {
    return `This asks about ${asked} numbers, more than the limit allows at once (${words}); ask about fewer.`;
  }
  const when = `Try again ${retryIn(r.retryAfterMs)}.`;
  switch (r.limit) {
    case "discoveryPerHandle":
      return `Your handle has looked up too many numbers (${words}). ${when}`;
    case "discoveryGlobal":
      return `Reach is answering too many number lookups right now (${words} for everyone together). ${when}`;
    default:
      return `Too many numbers looked up from your network (${words}). ${when}`;
  }
}

export async function discover(
  kv: Deno.Kv,
  config: Pick<Config, "phonePeppers" | "limits">,
  who: { handle: string; address: string },
  phones: string[],
  now = Date.now(),
): Promise<
  Result<{ matches: { phone: string; handle: string }[] }, "rate_limited">
> {
  const allowed = await spend(kv, config.limits, [
    { limit: "discoveryPerAddress", subject: who.address },
    { limit: "discoveryPerHandle", subject: who.handle },
    { limit: "discoveryGlobal", subject: EVERYONE },
  ], { cost: phones.length, now });
  if (!allowed.ok) {
    return fail("rate_limited", {
      message: refusal(config, allowed, phones.length),
      retryAfterMs: allowed.retryAfterMs,
    });
  }
  const wanted = new Set<string>();
  for (const p of phones) {
    const n = normalizePhone(p);
    if (n.ok) wanted.add(n.e164);
  }
  const found = await lookupDiscoverable(kv, config.phonePeppers, [...wanted]);
  const matches = [...found].map(([phone, handle]) => ({ phone, handle }));
  log("discover", { count: phones.length });
  return ok({ matches });
}
