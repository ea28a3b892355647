/**
 * Who is asking, as far as abuse limits are concerned: the client's address.
 *
 * The address is the connection's own, unless the operator said Reach sits
 * behind a proxy (REACH_PROXY_HEADER): then it is that header, which the
 * proxy sets. For X-Forwarded-For the last entry is taken (the one the
 * nearest proxy appended; whatever a client writes there itself comes
 * earlier). Without the setting the header is ignored, so a client cannot
 * pick its own address.
 *
 * An IPv6 address counts by its /64 (lib/rate_limit.ts `clientKey`). The
 * address is never logged or stored: limits key on `addressSubject`, a keyed
 * hash of it.
 */
import type { Config } from "./config.ts";
import { hmacHex } from "./crypto/hash.ts";
import { clientKey } from "./rate_limit.ts";

export function clientAddress(
  req: Request,
  remote: { hostname?: string } | undefined,
  config: Pick<Config, "proxyHeader">,
): string {
  if (config.proxyHeader) {
    const raw = req.headers.get(config.proxyHeader);
    const last = raw?.split(",").map((s) => s.trim()).filter(Boolean).at(-1);
    // "1.2.3.4:5678" (some proxies add the port) counts as 1.2.3.4.
    if (last) return clientKey(/^([\d.]+):\d+$/.exec(last)?.[1] ?? last);
  }
  return clientKey(remote?.hostname ?? "unknown");
}

/** The keyed hash that limits count under (never the address itself). */
export function addressSubject(
  config: Pick<Config, "hmacKey">,
  address: string,
): Promise<string> {
  return hmacHex(config.hmacKey, "client-address", address).then((h) =>
    h.slice(0, 32)
  );
}

/** The keyed hash of this request's client address (the subject to count). */
export function requestAddress(
  req: Request,
  remote: { hostname?: string } | undefined,
  config: Pick<Config, "proxyHeader" | "hmacKey">,
): Promise<string> {
  return addressSubject(config, clientAddress(req, remote, config));
}
