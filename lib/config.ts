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
import { z } from "zod";

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
}

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
  REACH_HMAC_KEY: base64Key.optional(),
  REACH_DATA_KEYS: keyring.optional(),
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
}

export function generateDevSecrets(): DevSecrets {
  const rnd = () => crypto.getRandomValues(new Uint8Array(32)).toBase64();
  return { REACH_HMAC_KEY: rnd(), REACH_DATA_KEYS: `dev1:${rnd()}` };
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
  };
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
