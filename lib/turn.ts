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
import type { Result } from "./http.ts";
import { log } from "./log.ts";
import {
  callUpstream,
  UpstreamError,
  type UpstreamFailure,
} from "./upstream.ts";

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

export type TurnFailure = Exclude<UpstreamFailure, "invalid_input">;

/**
 * The TURN provider could not give credentials: lib/upstream.ts's one error
 * class, under the name callers know. The message never contains the API
 * token, the response body or any credential.
 */
export const TurnUnavailableError = UpstreamError;
export type TurnUnavailableError = UpstreamError;

/**
 * The ICE servers for one call, or the failure `turn_unavailable` when the
 * provider cannot give credentials (logged by its reason and status, never
 * its body).
 */
export async function iceServers(
  config: IceConfig,
  opts: IceOptions = {},
): Promise<Result<IceAnswer, "turn_unavailable">> {
  try {
    return { ok: true, data: await iceServersFor(config, opts) };
  } catch (e) {
    if (!(e instanceof UpstreamError)) throw e;
    log("ice.turn_unavailable", {
      kind: config.provider,
      reason: e.reason,
      code: e.status,
    });
    return { ok: false, code: "turn_unavailable" };
  }
}

/** As `iceServers`, but throws TurnUnavailableError. */
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
  const url = `${config.apiBase}/turn/keys/${
    encodeURIComponent(config.keyId)
  }/credentials/generate-ice-servers`;
  const answer = await callUpstream(
    "Cloudflare TURN",
    new Request(url, {
      method: "POST",
      headers: {
        authorization: `Bearer ${config.apiToken}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({ ttl: config.ttlSeconds }),
    }),
    {
      timeoutMs: opts.timeoutMs ?? CLOUDFLARE_TIMEOUT_MS,
      schema: CloudflareAnswer,
      fetch: opts.fetch,
    },
  );
  const servers: IceServer[] = answer.iceServers.map((s) => ({
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
