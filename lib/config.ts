/**
 * One typed, validated view of the environment.
 *
 * Every variable Reach reads is listed here (and in the README). In production
 * (`REACH_ENV=production`) a missing or malformed secret stops start-up with a
 * message naming each variable; nothing falls back to a default secret. In
 * development, secrets come from the environment, else from the file
 * `.reach/dev-secrets.json` that `dev.ts` writes once, else they are generated
 * for this process only; either way a warning says so.
 */
import { hmac as hmacSha256 } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { z } from "zod";
import { type Limits, readLimits } from "./limits.ts";
import { DEFAULT_PUSH_HOSTS, parsePushHosts } from "./push/validate.ts";
import {
  generateVapidKeys,
  type VapidKeys,
  vapidKeysMatch,
  vapidPrivateKeyProblem,
  vapidPublicKeyProblem,
  vapidSubjectProblem,
} from "./push/vapid.ts";

export type ReachEnv = "development" | "production" | "test";

export interface Config {
  env: ReachEnv;
  /** Public origin, e.g. https://reach.example; SIWS domain and uri derive from it. */
  origin: string;
  /** The host part of `origin`: the SIWS domain. */
  domain: string;
  port: number;
  /** Deno KV path; undefined means `Deno.openKv()` with no path (Deno Deploy). */
  kvPath: string | undefined;
  siwsChainId: string;
  sessionTtlMs: number;
  nonceTtlMs: number;
  /** 32-byte key for HMAC-SHA-256 hashes (caller ids, phone lookup). */
  hmacKey: Uint8Array;
  /** AES-256-GCM keyring, newest first. */
  dataKeys: { kid: string; key: Uint8Array }[];
  /** Where secrets came from: "env", "dev-file" or "generated". */
  secretsSource: "env" | "dev-file" | "generated";
  /** Cookie name: `__Host-` prefixed whenever the browser will accept Secure. */
  sessionCookie: { name: string; secure: boolean };
  /** ICE servers handed to browsers (see lib/turn.ts). */
  ice: IceConfig;
  /** How long a call rings before it counts as missed. */
  ringMs: number;
  /** How long call-log records are kept. */
  callLogRetentionMs: number;
  /** How often sockets send heartbeats; 3 missed ones close a socket. */
  heartbeatMs: number;
  /** How long a call side whose socket dropped may take to resume. */
  resumeGraceMs: number;
  /** How often each instance sweeps calls past their deadlines. */
  sweepMs: number;
  /** Cross-isolate fan-out for signaling: BroadcastChannel or KV watch. */
  bus: "broadcast" | "kv";
  /** Voicemail limits: envelope size, recording length, retention. */
  voicemail: { maxBytes: number; maxSeconds: number; retentionMs: number };
  /** Wallet public keys (base58) allowed to see /ops. */
  operatorKeys: string[];
  /** Peppers for phone-number lookup hashes (HMAC-SHA-256), newest first. */
  phonePeppers: { kid: string; key: Uint8Array }[];
  /**
   * Contact discovery's OPRF keys (lib/phone/DISCOVERY.md): 32-byte seeds,
   * newest first; the newest evaluates and makes directory entries.
   */
  discoveryKeys: { kid: string; key: Uint8Array }[];
  /** Every abuse limit (lib/limits.ts), by name. */
  limits: Limits;
  /**
   * The request header a trusted front proxy sets to the client's address
   * (lowercase), or null: then the client address is the connection's.
   */
  proxyHeader: string | null;
  /** Web Push ("Ring anywhere"): VAPID keys and the push-service allowlist. */
  push: PushConfig;
  /** Who delivers phone verification codes; "none" refuses phone binding. */
  sms:
    | { provider: "none" }
    | { provider: "dev" }
    | {
      provider: "twilio";
      accountSid: string;
      authToken: string;
      serviceSid: string;
      apiBase: string;
    };
}

export type PushConfig =
  | {
    enabled: true;
    vapid: VapidKeys;
    /** Where the VAPID keys came from. */
    vapidSource: "env" | "dev-file" | "generated";
    /** Allowed push-service hosts: names, or `*.suffix` patterns. */
    hosts: string[];
    /** How long one push request may take before it is given up. */
    timeoutMs: number;
    /** Subscriptions one owner may hold. */
    maxPerOwner: number;
  }
  | {
    enabled: false;
    /** `off`: REACH_PUSH=off; `no_keys`: production without VAPID keys. */
    reason: "off" | "no_keys";
  };

/** Per push request: a hanging push service never holds anything longer. */
export const PUSH_TIMEOUT_MS = 10_000;
export const MAX_PUSH_SUBSCRIPTIONS = 10;

export type IceConfig =
  | { provider: "stun"; stunUrls: string[]; ttlSeconds: number }
  | {
    provider: "coturn";
    stunUrls: string[];
    turnUrls: string[];
    secret: string;
    ttlSeconds: number;
  }
  | {
    provider: "cloudflare";
    stunUrls: string[];
    keyId: string;
    apiToken: string;
    apiBase: string;
    ttlSeconds: number;
  };

export const DEV_SECRETS_FILE = ".reach/dev-secrets.json";
export const DEFAULT_KV_PATH = ".reach/reach.kv";

const base64Key = z.string().trim().refine((s) => {
  try {
    return Uint8Array.fromBase64(s).length === 32;
  } catch {
    return false;
  }
}, "must be 32 bytes encoded as base64");

const keyring = z.string().trim().refine((s) => parseKeyring(s) !== null, {
  message:
    "must be a comma-separated list of kid:base64 (32-byte keys, unique kids)",
});

const schema = z.object({
  REACH_ENV: z.enum(["development", "production", "test"]).default(
    "development",
  ),
  REACH_ORIGIN: z.url({ protocol: /^https?$/ }).optional(),
  PORT: z.coerce.number().int().min(0).max(65535).default(8000),
  REACH_KV_PATH: z.string().min(1).optional(),
  REACH_SIWS_CHAIN_ID: z.string().regex(/^[a-z0-9:_-]{1,64}$/).default(
    "mainnet",
  ),
  REACH_SESSION_TTL_HOURS: z.coerce.number().min(1).max(24 * 90).default(
    24 * 7,
  ),
  REACH_TURN_PROVIDER: z.enum(["stun", "coturn", "cloudflare"]).default(
    "stun",
  ),
  REACH_STUN_URLS: z.string().optional(),
  REACH_TURN_URLS: z.string().optional(),
  REACH_TURN_SECRET: z.string().min(16).optional(),
  REACH_CF_TURN_KEY_ID: z.string().min(1).optional(),
  REACH_CF_TURN_API_TOKEN: z.string().min(1).optional(),
  REACH_CF_TURN_API_BASE: z.url().default("https://rtc.live.cloudflare.com/v1"),
  REACH_TURN_TTL_SECONDS: z.coerce.number().int().min(60).max(86400).default(
    3600,
  ),
  REACH_RING_SECONDS: z.coerce.number().min(1).max(600).default(60),
  REACH_CALL_LOG_DAYS: z.coerce.number().min(1).max(3650).default(90),
  REACH_HEARTBEAT_SECONDS: z.coerce.number().min(0.1).max(120).default(15),
  REACH_RESUME_GRACE_SECONDS: z.coerce.number().min(0.1).max(600).default(60),
  REACH_SWEEP_SECONDS: z.coerce.number().min(0.05).max(300).default(5),
  REACH_BUS: z.enum(["broadcast", "kv"]).default("broadcast"),
  REACH_PHONE_PEPPERS: keyring.optional(),
  REACH_DISCOVERY_KEYS: keyring.optional(),
  REACH_VOICEMAIL_MAX_BYTES: z.coerce.number().int().min(16 * 1024).max(
    8 * 1024 * 1024,
  ).default(1024 * 1024),
  REACH_VOICEMAIL_SECONDS: z.coerce.number().int().min(5).max(600).default(60),
  REACH_VOICEMAIL_DAYS: z.coerce.number().min(1).max(3650).default(30),
  REACH_OPERATOR_KEYS: z.string().regex(
    /^\s*([1-9A-HJ-NP-Za-km-z]{32,44}\s*(,\s*[1-9A-HJ-NP-Za-km-z]{32,44}\s*)*)?$/,
    "must be a comma-separated list of base58 wallet public keys",
  ).optional(),
  REACH_SMS_PROVIDER: z.enum(["none", "dev", "twilio"]).optional(),
  TWILIO_ACCOUNT_SID: z.string().regex(/^AC[0-9a-fA-F]{32}$/).optional(),
  TWILIO_AUTH_TOKEN: z.string().min(16).optional(),
  TWILIO_VERIFY_SERVICE_SID: z.string().regex(/^VA[0-9a-fA-F]{32}$/).optional(),
  TWILIO_API_BASE: z.url().default("https://verify.twilio.com"),
  REACH_PROXY_HEADER: z.string().trim().toLowerCase().regex(
    /^[a-z0-9-]{1,64}$/,
    "must be a header name, e.g. x-forwarded-for or cf-connecting-ip",
  ).optional(),
  REACH_HMAC_KEY: base64Key.optional(),
  REACH_DATA_KEYS: keyring.optional(),
  REACH_PUSH: z.enum(["on", "off"]).optional(),
  REACH_VAPID_PUBLIC_KEY: z.string().trim().superRefine((s, ctx) => {
    const problem = vapidPublicKeyProblem(s);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  }).optional(),
  REACH_VAPID_PRIVATE_KEY: z.string().trim().superRefine((s, ctx) => {
    const problem = vapidPrivateKeyProblem(s);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  }).optional(),
  REACH_VAPID_SUBJECT: z.string().trim().superRefine((s, ctx) => {
    const problem = vapidSubjectProblem(s);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  }).optional(),
  REACH_PUSH_HOSTS: z.string().refine((s) => parsePushHosts(s) !== null, {
    message:
      "must be a comma-separated list of host names or *.suffix patterns (no IP addresses, ports or paths)",
  }).optional(),
});

/** The secrets production requires, with what each is for. */
export const REQUIRED_IN_PRODUCTION = {
  REACH_ORIGIN: "the public origin, e.g. https://reach.example",
  REACH_HMAC_KEY: "32 random bytes, base64 (HMAC-SHA-256 key)",
  REACH_DATA_KEYS: "kid:base64 list of 32-byte AES-256-GCM keys, newest first",
} as const;

export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(
      "Reach cannot start; fix these environment variables:\n" +
        problems.map((p) => `  - ${p}`).join("\n"),
    );
    this.name = "ConfigError";
  }
}

export function parseKeyring(
  s: string,
): { kid: string; key: Uint8Array }[] | null {
  const out: { kid: string; key: Uint8Array }[] = [];
  for (const part of s.split(",").map((p) => p.trim()).filter(Boolean)) {
    const m = /^([A-Za-z0-9_-]{1,32}):(.+)$/.exec(part);
    if (!m) return null;
    let key: Uint8Array;
    try {
      key = Uint8Array.fromBase64(m[2]);
    } catch {
      return null;
    }
    if (key.length !== 32 || out.some((k) => k.kid === m[1])) return null;
    out.push({ kid: m[1], key });
  }
  return out.length ? out : null;
}

export interface DevSecrets {
  REACH_HMAC_KEY: string;
  REACH_DATA_KEYS: string;
  /** Absent from dev files written before push existed (dev.ts adds them). */
  REACH_VAPID_PUBLIC_KEY?: string;
  REACH_VAPID_PRIVATE_KEY?: string;
}

export function generateDevSecrets(): Required<DevSecrets> {
  const rnd = () => crypto.getRandomValues(new Uint8Array(32)).toBase64();
  const vapid = generateVapidKeys();
  return {
    REACH_HMAC_KEY: rnd(),
    REACH_DATA_KEYS: `dev1:${rnd()}`,
    REACH_VAPID_PUBLIC_KEY: vapid.publicKey,
    REACH_VAPID_PRIVATE_KEY: vapid.privateKey,
  };
}

/**
 * Builds the config from an environment map. `devSecrets` is what the local
 * dev file holds (if any). Throws ConfigError listing every problem.
 */
export function loadConfig(
  env: Record<string, string | undefined>,
  devSecrets?: Partial<DevSecrets> | null,
): Config {
  // Treat empty strings as unset, so `FOO= deno task start` behaves.
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v !== undefined && v !== "") clean[k] = v;
  }
  const parsed = schema.safeParse(clean);
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      problems.push(`${issue.path.join(".")}: ${issue.message}`);
    }
    throw new ConfigError(problems);
  }
  const e = parsed.data;
  const production = e.REACH_ENV === "production";
  let secretsSource: Config["secretsSource"] = "env";
  let hmac = e.REACH_HMAC_KEY;
  let dataKeys = e.REACH_DATA_KEYS;
  if (production) {
    for (const [name, what] of Object.entries(REQUIRED_IN_PRODUCTION)) {
      if (!clean[name]) {
        problems.push(`${name} is required in production: ${what}`);
      }
    }
    if (problems.length) throw new ConfigError(problems);
  } else if (!hmac || !dataKeys) {
    const fromFile = devSecrets?.REACH_HMAC_KEY && devSecrets?.REACH_DATA_KEYS;
    const fallback = fromFile ? devSecrets as DevSecrets : generateDevSecrets();
    secretsSource = fromFile ? "dev-file" : "generated";
    hmac ??= fallback.REACH_HMAC_KEY;
    dataKeys ??= fallback.REACH_DATA_KEYS;
    if (!base64Key.safeParse(hmac).success || !parseKeyring(dataKeys)) {
      throw new ConfigError([
        `${DEV_SECRETS_FILE} holds malformed secrets; delete it to regenerate`,
      ]);
    }
  }
  const ice = iceConfig(e, production, problems);
  const push = pushConfig(e, production, devSecrets, problems);
  const sms = smsConfig(e, production, problems);
  if (production && sms.provider !== "none" && !e.REACH_DISCOVERY_KEYS) {
    problems.push(
      "REACH_DISCOVERY_KEYS is required in production when phone binding is on (REACH_SMS_PROVIDER): kid:base64 list of 32-byte contact-discovery key seeds, newest first",
    );
  }
  const limits = readLimits(clean, problems);
  if (problems.length) throw new ConfigError(problems);
  const origin = new URL(e.REACH_ORIGIN ?? `http://localhost:${e.PORT}`);
  if (production && origin.protocol !== "https:") {
    throw new ConfigError(["REACH_ORIGIN must be https in production"]);
  }
  const local = origin.hostname === "localhost" ||
    origin.hostname === "127.0.0.1" || origin.hostname === "[::1]";
  const secure = origin.protocol === "https:" || local;
  return {
    env: e.REACH_ENV,
    origin: origin.origin,
    domain: origin.host,
    port: e.PORT,
    kvPath: e.REACH_KV_PATH ?? (production ? undefined : DEFAULT_KV_PATH),
    siwsChainId: e.REACH_SIWS_CHAIN_ID,
    sessionTtlMs: e.REACH_SESSION_TTL_HOURS * 3600_000,
    nonceTtlMs: 5 * 60_000,
    hmacKey: Uint8Array.fromBase64(hmac!),
    dataKeys: parseKeyring(dataKeys!)!,
    secretsSource,
    // Browsers accept Secure cookies from https and from localhost; only a
    // plain-http LAN address in development needs an unprefixed cookie.
    sessionCookie: secure
      ? { name: "__Host-reach_session", secure: true }
      : { name: "reach_session", secure: false },
    ice,
    ringMs: e.REACH_RING_SECONDS * 1000,
    callLogRetentionMs: e.REACH_CALL_LOG_DAYS * 86400_000,
    heartbeatMs: Math.round(e.REACH_HEARTBEAT_SECONDS * 1000),
    resumeGraceMs: Math.round(e.REACH_RESUME_GRACE_SECONDS * 1000),
    sweepMs: Math.round(e.REACH_SWEEP_SECONDS * 1000),
    bus: e.REACH_BUS,
    voicemail: {
      maxBytes: e.REACH_VOICEMAIL_MAX_BYTES,
      maxSeconds: e.REACH_VOICEMAIL_SECONDS,
      retentionMs: e.REACH_VOICEMAIL_DAYS * 86400_000,
    },
    operatorKeys: (e.REACH_OPERATOR_KEYS ?? "").split(",").map((k) => k.trim())
      .filter(Boolean),
    phonePeppers: e.REACH_PHONE_PEPPERS
      ? parseKeyring(e.REACH_PHONE_PEPPERS)!
      : [{ kid: "h1", key: Uint8Array.fromBase64(hmac!) }],
    discoveryKeys: e.REACH_DISCOVERY_KEYS
      ? parseKeyring(e.REACH_DISCOVERY_KEYS)!
      : [{ kid: "h1", key: discoverySeedFrom(Uint8Array.fromBase64(hmac!)) }],
    sms,
    push,
    limits,
    proxyHeader: e.REACH_PROXY_HEADER ?? null,
  };
}

/**
 * Push is on unless `REACH_PUSH=off`. Its VAPID keys come from the
 * environment; in development from the dev file, else generated for this
 * process. In production without keys, push is off, unless `REACH_PUSH=on`
 * asks for it: then missing keys stop start-up. One key of the pair without
 * the other, a malformed key, or a pair that does not match always does.
 */
function pushConfig(
  e: z.infer<typeof schema>,
  production: boolean,
  devSecrets: Partial<DevSecrets> | null | undefined,
  problems: string[],
): PushConfig {
  if (e.REACH_PUSH === "off") return { enabled: false, reason: "off" };
  let publicKey = e.REACH_VAPID_PUBLIC_KEY;
  let privateKey = e.REACH_VAPID_PRIVATE_KEY;
  let vapidSource: "env" | "dev-file" | "generated" = "env";
  if (!publicKey !== !privateKey) {
    problems.push(
      "REACH_VAPID_PUBLIC_KEY and REACH_VAPID_PRIVATE_KEY are a pair: set both (deno task vapid-keys makes one)",
    );
    return { enabled: false, reason: "no_keys" };
  }
  if (!publicKey || !privateKey) {
    if (production) {
      if (e.REACH_PUSH === "on") {
        problems.push(
          "REACH_VAPID_PUBLIC_KEY and REACH_VAPID_PRIVATE_KEY are required when REACH_PUSH=on (deno task vapid-keys makes a pair)",
        );
      }
      return { enabled: false, reason: "no_keys" };
    }
    const fromFile = devSecrets?.REACH_VAPID_PUBLIC_KEY &&
      devSecrets?.REACH_VAPID_PRIVATE_KEY;
    if (fromFile) {
      publicKey = devSecrets.REACH_VAPID_PUBLIC_KEY!;
      privateKey = devSecrets.REACH_VAPID_PRIVATE_KEY!;
      vapidSource = "dev-file";
      if (
        vapidPublicKeyProblem(publicKey) || vapidPrivateKeyProblem(privateKey)
      ) {
        problems.push(
          `${DEV_SECRETS_FILE} holds malformed VAPID keys; delete it to regenerate`,
        );
        return { enabled: false, reason: "no_keys" };
      }
    } else {
      ({ publicKey, privateKey } = generateVapidKeys());
      vapidSource = "generated";
    }
  }
  if (!vapidKeysMatch(publicKey, privateKey)) {
    problems.push(
      "REACH_VAPID_PRIVATE_KEY is not the private key of REACH_VAPID_PUBLIC_KEY",
    );
    return { enabled: false, reason: "no_keys" };
  }
  // A push service may write to the subject about this server's pushes.
  const origin = e.REACH_ORIGIN ? new URL(e.REACH_ORIGIN) : null;
  const subject = e.REACH_VAPID_SUBJECT ??
    (origin?.protocol === "https:" ? origin.origin : "mailto:reach@localhost");
  return {
    enabled: true,
    vapid: {
      publicKey: publicKey.trim(),
      privateKey: privateKey.trim(),
      subject,
    },
    vapidSource,
    hosts: e.REACH_PUSH_HOSTS
      ? parsePushHosts(e.REACH_PUSH_HOSTS)!
      : [...DEFAULT_PUSH_HOSTS],
    timeoutMs: PUSH_TIMEOUT_MS,
    maxPerOwner: MAX_PUSH_SUBSCRIPTIONS,
  };
}

/**
 * The discovery key seed when REACH_DISCOVERY_KEYS is unset (development,
 * or production without phone binding): HMAC-SHA-256 of a label under the
 * HMAC key, so it is stable across restarts and unlike any other secret.
 */
function discoverySeedFrom(hmacKey: Uint8Array): Uint8Array {
  return hmacSha256(
    sha256,
    hmacKey,
    new TextEncoder().encode("reach discovery key seed"),
  );
}

function smsConfig(
  e: z.infer<typeof schema>,
  production: boolean,
  problems: string[],
): Config["sms"] {
  // The development provider prints codes to the console: never in production.
  const provider = e.REACH_SMS_PROVIDER ?? (production ? "none" : "dev");
  if (provider === "dev") {
    if (production) {
      problems.push(
        "REACH_SMS_PROVIDER=dev prints codes to the console and is refused in production",
      );
    }
    return { provider: "dev" };
  }
  if (provider === "twilio") {
    for (
      const name of [
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_VERIFY_SERVICE_SID",
      ] as const
    ) {
      if (!e[name]) {
        problems.push(`${name} is required when REACH_SMS_PROVIDER=twilio`);
      }
    }
    return {
      provider: "twilio",
      accountSid: e.TWILIO_ACCOUNT_SID ?? "",
      authToken: e.TWILIO_AUTH_TOKEN ?? "",
      serviceSid: e.TWILIO_VERIFY_SERVICE_SID ?? "",
      apiBase: e.TWILIO_API_BASE.replace(/\/$/, ""),
    };
  }
  return { provider: "none" };
}

const DEFAULT_PRODUCTION_STUN = "stun:stun.cloudflare.com:3478";

function urlList(s: string | undefined): string[] {
  return (s ?? "").split(",").map((u) => u.trim()).filter(Boolean);
}

function iceConfig(
  e: z.infer<typeof schema>,
  production: boolean,
  problems: string[],
): IceConfig {
  // Development and tests default to no STUN: host candidates need none.
  const stunUrls = e.REACH_STUN_URLS !== undefined
    ? urlList(e.REACH_STUN_URLS)
    : production
    ? [DEFAULT_PRODUCTION_STUN]
    : [];
  for (const u of stunUrls) {
    if (!/^stuns?:[^\s]+$/.test(u)) {
      problems.push(`REACH_STUN_URLS: ${u} is not a stun: or stuns: URL`);
    }
  }
  const ttlSeconds = e.REACH_TURN_TTL_SECONDS;
  if (e.REACH_TURN_PROVIDER === "coturn") {
    const turnUrls = urlList(e.REACH_TURN_URLS);
    if (!turnUrls.length) {
      problems.push(
        "REACH_TURN_URLS is required when REACH_TURN_PROVIDER=coturn",
      );
    }
    for (const u of turnUrls) {
      if (!/^turns?:[^\s]+$/.test(u)) {
        problems.push(`REACH_TURN_URLS: ${u} is not a turn: or turns: URL`);
      }
    }
    if (!e.REACH_TURN_SECRET) {
      problems.push(
        "REACH_TURN_SECRET is required when REACH_TURN_PROVIDER=coturn (coturn's static-auth-secret, at least 16 characters)",
      );
    }
    return {
      provider: "coturn",
      stunUrls,
      turnUrls,
      secret: e.REACH_TURN_SECRET ?? "",
      ttlSeconds,
    };
  }
  if (e.REACH_TURN_PROVIDER === "cloudflare") {
    if (!e.REACH_CF_TURN_KEY_ID) {
      problems.push(
        "REACH_CF_TURN_KEY_ID is required when REACH_TURN_PROVIDER=cloudflare",
      );
    }
    if (!e.REACH_CF_TURN_API_TOKEN) {
      problems.push(
        "REACH_CF_TURN_API_TOKEN is required when REACH_TURN_PROVIDER=cloudflare",
      );
    }
    return {
      provider: "cloudflare",
      stunUrls,
      keyId: e.REACH_CF_TURN_KEY_ID ?? "",
      apiToken: e.REACH_CF_TURN_API_TOKEN ?? "",
      apiBase: e.REACH_CF_TURN_API_BASE.replace(/\/$/, ""),
      ttlSeconds,
    };
  }
  return { provider: "stun", stunUrls, ttlSeconds };
}

function readDevSecrets(): Partial<DevSecrets> | null {
  try {
    return JSON.parse(Deno.readTextFileSync(DEV_SECRETS_FILE));
  } catch {
    return null;
  }
}

let current: Config | undefined;

/** The process-wide config, read once from Deno.env. */
export function getConfig(): Config {
  if (current) return current;
  const env = Deno.env.toObject();
  const dev = env.REACH_ENV === "production" ? null : readDevSecrets();
  current = loadConfig(env, dev);
  return current;
}

/** Replaces the process-wide config (tests). */
export function setConfig(config: Config): void {
  current = config;
}
