/**
 * What a browser's push subscription must look like before Reach stores it
 * or ever sends anything to it.
 *
 * The endpoint is a URL the server will POST to whenever the owner is rung,
 * so it is held to an allowlist of push-service hosts: otherwise a signed-in
 * owner could make the server send requests to any address (SSRF). It must be
 * `https:`, on the default port, with no user info, and its host must be one
 * of the allowlist's names exactly or, for a `*.` pattern, a name strictly
 * under that suffix. IP literals never match (no pattern may be one).
 *
 * The keys are RFC 8291's: `p256dh`, the browser's 65-byte uncompressed
 * P-256 public key (on the curve), and `auth`, a 16-byte secret; both
 * base64url as `PushSubscription.toJSON()` gives them.
 */
import { fromB64u, isUncompressedP256 } from "./vapid.ts";

/** Push services of the browsers people use (Chrome, Firefox, Edge, Safari). */
export const DEFAULT_PUSH_HOSTS: readonly string[] = [
  "fcm.googleapis.com",
  "updates.push.services.mozilla.com",
  "*.notify.windows.com",
  "*.push.apple.com",
  "web.push.apple.com",
];

/** The longest endpoint accepted (real ones are 150-500 characters). */
export const MAX_ENDPOINT_LENGTH = 2048;

const LABEL = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
const HOSTNAME = new RegExp(`^${LABEL}(?:\\.${LABEL})+$`);
const IPV4ISH = /^[0-9.]+$/;

/**
 * Parses `REACH_PUSH_HOSTS`: comma-separated host names or `*.suffix`
 * patterns (the suffix at least two labels). Lowercased. Null when any entry
 * is not one (an IP address, a port, a path, a bare `*`).
 */
export function parsePushHosts(s: string): string[] | null {
  const out: string[] = [];
  for (const raw of s.split(",").map((p) => p.trim().toLowerCase())) {
    if (!raw) continue;
    const name = raw.startsWith("*.") ? raw.slice(2) : raw;
    if (!HOSTNAME.test(name) || IPV4ISH.test(name)) return null;
    if (!out.includes(raw)) out.push(raw);
  }
  return out.length ? out : null;
}

/** Does `host` (a URL's lowercase hostname) match one of the patterns? */
export function hostAllowed(
  host: string,
  patterns: readonly string[],
): boolean {
  if (!HOSTNAME.test(host) || IPV4ISH.test(host)) return false;
  return patterns.some((p) =>
    p.startsWith("*.") ? host.endsWith(p.slice(1)) : host === p
  );
}

export type EndpointCheck =
  | { ok: true; url: URL }
  | { ok: false; message: string };

/** Is this endpoint one Reach may send pushes to? */
export function checkEndpoint(
  endpoint: string,
  patterns: readonly string[],
): EndpointCheck {
  const no = (message: string): EndpointCheck => ({ ok: false, message });
  if (typeof endpoint !== "string" || endpoint.length > MAX_ENDPOINT_LENGTH) {
    return no(
      `The endpoint must be a URL of at most ${MAX_ENDPOINT_LENGTH} characters.`,
    );
  }
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return no("The endpoint is not a URL.");
  }
  if (url.protocol !== "https:") return no("The endpoint must be https.");
  if (url.username || url.password) {
    return no("The endpoint must not carry a user name or password.");
  }
  if (url.port) return no("The endpoint must use the default https port.");
  if (!hostAllowed(url.hostname, patterns)) {
    return no(
      `Reach sends pushes only to known push services (${
        patterns.join(", ")
      }); ${url.hostname} is not one.`,
    );
  }
  return { ok: true, url };
}

export type KeysCheck =
  | { ok: true; p256dh: Uint8Array; auth: Uint8Array }
  | {
    ok: false;
    code: "push_key_invalid" | "push_auth_invalid";
    message: string;
  };

/** The subscription's keys, decoded and checked. */
export function checkSubscriptionKeys(
  p256dh: string,
  auth: string,
): KeysCheck {
  const key = fromB64u(p256dh);
  if (!key || key.length !== 65 || key[0] !== 0x04) {
    return {
      ok: false,
      code: "push_key_invalid",
      message:
        "keys.p256dh must be a 65-byte uncompressed P-256 public key, base64url.",
    };
  }
  if (!isUncompressedP256(key)) {
    return {
      ok: false,
      code: "push_key_invalid",
      message: "keys.p256dh is not a point on the P-256 curve.",
    };
  }
  const secret = fromB64u(auth);
  if (!secret || secret.length !== 16) {
    return {
      ok: false,
      code: "push_auth_invalid",
      message: "keys.auth must be a 16-byte secret, base64url.",
    };
  }
  return { ok: true, p256dh: key, auth: secret };
}
