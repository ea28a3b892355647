/**
 * ICE servers for browsers: STUN only, coturn with short-lived TURN REST
 * credentials, or Cloudflare Realtime TURN credentials minted per call.
 *
 * Every call makes fresh credentials; nothing is cached. Credentials carry
 * nothing that identifies the caller: a coturn username is an expiry time and
 * 16 random bytes. Neither the shared secret, the Cloudflare API token nor
 * any credential handed out is ever logged.
 */
import { z } from "zod";
import type { IceConfig } from "./config.ts";

/** The RTCIceServer fields Reach hands out. */
export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

export interface IceAnswer {
  iceServers: IceServer[];
  /** Seconds the credentials stay valid. */
  ttl: number;
}

export interface IceOptions {
  /** The current time (tests). */
  now?: Date;
  /** The fetch to call Cloudflare with (tests). */
  fetch?: typeof fetch;
  /** How long to wait for Cloudflare; 5 s unless a test says otherwise. */
  timeoutMs?: number;
}

/** TURN REST credentials never live longer than a day. */
export const MAX_REST_TTL_SECONDS = 86400;

/** How long Reach waits for Cloudflare before giving up. */
export const CLOUDFLARE_TIMEOUT_MS = 5000;

export type TurnFailure = "status" | "timeout" | "network" | "bad_response";

/**
 * The TURN provider could not give credentials. The message never contains
 * the API token, the response body or any credential.
 */
export class TurnUnavailableError extends Error {
  constructor(
    /** What went wrong, as a short token safe to log. */
    public readonly reason: TurnFailure,
    message: string,
    /** The upstream HTTP status, when there was one. */
    public readonly status?: number,
  ) {
    super(message);
    this.name = "TurnUnavailableError";
  }
}

export async function iceServersFor(
  config: IceConfig,
  opts: IceOptions = {},
): Promise<IceAnswer> {
  const stun: IceServer[] = config.stunUrls.length
    ? [{ urls: [...config.stunUrls] }]
    : [];
  switch (config.provider) {
    case "stun":
      return { iceServers: stun, ttl: config.ttlSeconds };
    case "coturn": {
      const cred = await turnRestCredential(
        config.secret,
        config.ttlSeconds,
        opts.now,
      );
      return {
        iceServers: [...stun, {
          urls: [...config.turnUrls],
          username: cred.username,
          credential: cred.credential,
        }],
        ttl: cred.ttl,
      };
    }
    case "cloudflare":
      return await cloudflareIceServers(config, opts);
  }
}

/**
 * A TURN REST credential as coturn's `use-auth-secret` checks it: the
 * username is `<unix expiry>:<16 random bytes, hex>`, the password is
 * base64(HMAC-SHA1(secret, username)). The ttl is capped at a day.
 */
export async function turnRestCredential(
  secret: string,
  ttlSeconds: number,
  now: Date = new Date(),
): Promise<{ username: string; credential: string; ttl: number }> {
  const ttl = Math.max(
    1,
    Math.min(Math.floor(ttlSeconds), MAX_REST_TTL_SECONDS),
  );
  const expiry = Math.floor(now.getTime() / 1000) + ttl;
  const nonce = crypto.getRandomValues(new Uint8Array(16)).toHex();
  const username = `${expiry}:${nonce}`;
  return { username, credential: await hmacSha1Base64(secret, username), ttl };
}

/** base64(HMAC-SHA1(secret, message)), both as UTF-8. */
export async function hmacSha1Base64(
  secret: string,
  message: string,
): Promise<string> {
  const enc = new TextEncoder();
  const key = await crypto.subtle.importKey(
    "raw",
    enc.encode(secret),
    { name: "HMAC", hash: "SHA-1" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign("HMAC", key, enc.encode(message));
  return new Uint8Array(mac).toBase64();
}

const iceUrl = z.string().regex(
  /^(stun|stuns|turn|turns):\S+$/,
  "not a stun:, stuns:, turn: or turns: URL",
);

/** The documented `generate-ice-servers` answer; unknown fields are dropped. */
const CloudflareAnswer = z.object({
  iceServers: z.array(z.object({
    urls: z.union([iceUrl, z.array(iceUrl).min(1)]),
    username: z.string().min(1).optional(),
    credential: z.string().min(1).optional(),
  })).min(1),
});

type CloudflareConfig = Extract<IceConfig, { provider: "cloudflare" }>;

async function cloudflareIceServers(
  config: CloudflareConfig,
  opts: IceOptions,
): Promise<IceAnswer> {
  const doFetch = opts.fetch ?? fetch;
  const url = `${config.apiBase}/turn/keys/${
    encodeURIComponent(config.keyId)
  }/credentials/generate-ice-servers`;
  const signal = AbortSignal.timeout(opts.timeoutMs ?? CLOUDFLARE_TIMEOUT_MS);
  let res: Response;
  try {
    res = await doFetch(url, {
      method: "POST",
      headers: {
        authorization: `Bearer ${config.apiToken}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({ ttl: config.ttlSeconds }),
      signal,
    });
  } catch (e) {
    throw aborted(e, signal) ? timeout() : new TurnUnavailableError(
      "network",
      "Cloudflare TURN could not be reached.",
    );
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => {});
    throw new TurnUnavailableError(
      "status",
      `Cloudflare TURN answered ${res.status}.`,
      res.status,
    );
  }
  let raw: unknown;
  try {
    raw = await res.json();
  } catch (e) {
    if (aborted(e, signal)) throw timeout();
    throw new TurnUnavailableError(
      "bad_response",
      "Cloudflare TURN answered with something that is not JSON.",
    );
  }
  const parsed = CloudflareAnswer.safeParse(raw);
  if (!parsed.success) {
    throw new TurnUnavailableError(
      "bad_response",
      "Cloudflare TURN answered in an unexpected shape.",
    );
  }
  const servers: IceServer[] = parsed.data.iceServers.map((s) => ({
    urls: s.urls,
    ...(s.username !== undefined ? { username: s.username } : {}),
    ...(s.credential !== undefined ? { credential: s.credential } : {}),
  }));
  // Configured STUN servers come first, less any Cloudflare already lists.
  const listed = new Set(servers.flatMap((s) => [s.urls].flat()));
  const extra = config.stunUrls.filter((u) => !listed.has(u));
  return {
    iceServers: extra.length ? [{ urls: extra }, ...servers] : servers,
    ttl: config.ttlSeconds,
  };
}

function aborted(e: unknown, signal: AbortSignal): boolean {
  return signal.aborted ||
    (e instanceof DOMException &&
      (e.name === "TimeoutError" || e.name === "AbortError"));
}

function timeout(): TurnUnavailableError {
  return new TurnUnavailableError(
    "timeout",
    "Cloudflare TURN did not answer in time.",
  );
}
