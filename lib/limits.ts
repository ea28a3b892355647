/**
 * Every abuse limit Reach enforces, in one table: its setting, its safe
 * default, its window and what it keys on. Config reads each setting from the
 * environment (lib/config.ts); the README lists them all.
 *
 * Keys are always something the client cannot choose: its address (an IPv4
 * address, or an IPv6 /64; see lib/client_address.ts), its signed-in wallet,
 * or a handle that exists. Counters live in KV (lib/store/rate.ts), so every
 * isolate shares them, and expire with their window.
 */

export interface LimitSpec {
  /** The environment variable that overrides the default. */
  env: string;
  default: number;
  /** Counting window in ms; 0 for a cap on things held at once. */
  windowMs: number;
  /** What is counted, per what: one line for the README and /security. */
  what: string;
}

const MIN = 60_000;
const HOUR = 3600_000;
const DAY = 24 * HOUR;

export const LIMITS = {
  socketsPerAddress: {
    env: "REACH_LIMIT_SOCKETS_PER_ADDRESS",
    default: 16,
    windowMs: 0,
    what: "signaling sockets open at once per client address",
  },
  ringsPerAddress: {
    env: "REACH_LIMIT_RINGS_PER_ADDRESS",
    default: 10,
    windowMs: MIN,
    what: "rings per minute from one address (every caller is anonymous)",
  },
  ringsPerAddressToHandle: {
    env: "REACH_LIMIT_RINGS_PER_ADDRESS_TO_HANDLE",
    default: 5,
    windowMs: MIN,
    what: "rings per minute from one address to one handle",
  },
  anonymousRingsPerHandle: {
    env: "REACH_LIMIT_ANONYMOUS_RINGS_PER_HANDLE",
    default: 60,
    windowMs: MIN,
    what: "rings per minute to one handle, from all addresses together",
  },
  voicemailsPerAddress: {
    env: "REACH_LIMIT_VOICEMAILS_PER_ADDRESS",
    default: 5,
    windowMs: HOUR,
    what: "voicemails per hour left by anonymous callers from one address",
  },
  voicemailsPerWallet: {
    env: "REACH_LIMIT_VOICEMAILS_PER_WALLET",
    default: 5,
    windowMs: HOUR,
    what: "voicemails per hour left by one signed-in wallet",
  },
  voicemailQuotaCount: {
    env: "REACH_VOICEMAIL_QUOTA_COUNT",
    default: 50,
    windowMs: 0,
    what: "voicemails a handle's inbox holds at once",
  },
  voicemailQuotaBytes: {
    env: "REACH_VOICEMAIL_QUOTA_BYTES",
    default: 20 * 1024 * 1024,
    windowMs: 0,
    what: "bytes of voicemail a handle's inbox holds at once",
  },
  noncesPerAddress: {
    env: "REACH_LIMIT_NONCES_PER_ADDRESS",
    default: 30,
    windowMs: 10 * MIN,
    what: "sign-in nonces issued per 10 minutes to one address",
  },
  signInsPerAddress: {
    env: "REACH_LIMIT_SIGNINS_PER_ADDRESS",
    default: 10,
    windowMs: HOUR,
    what: "sessions created per hour from one address",
  },
  claimsPerAddress: {
    env: "REACH_LIMIT_CLAIMS_PER_ADDRESS",
    default: 3,
    windowMs: DAY,
    what: "handles claimed per day from one address",
  },
  discoveryPerAddress: {
    env: "REACH_LIMIT_DISCOVERY_PER_ADDRESS",
    default: 5000,
    windowMs: DAY,
    what:
      "phone numbers evaluated for contact discovery (blinded OPRF elements) per day from one address",
  },
  discoveryPerHandle: {
    env: "REACH_LIMIT_DISCOVERY_PER_HANDLE",
    default: 2000,
    windowMs: DAY,
    what: "phone numbers evaluated for contact discovery per day by one handle",
  },
  discoveryGlobal: {
    env: "REACH_LIMIT_DISCOVERY_GLOBAL",
    default: 200_000,
    windowMs: DAY,
    what:
      "phone numbers evaluated for contact discovery per day by everyone together",
  },
  otpPerHandleNumber: {
    env: "REACH_LIMIT_OTP_PER_HANDLE_NUMBER",
    default: 5,
    windowMs: HOUR,
    what: "verification codes sent per hour for one (handle, number) pair",
  },
  otpPerNumber: {
    env: "REACH_LIMIT_OTP_PER_NUMBER",
    default: 20,
    windowMs: HOUR,
    what: "verification codes sent per hour to one number, by all handles",
  },
  otpPerAddress: {
    env: "REACH_LIMIT_OTP_PER_ADDRESS",
    default: 10,
    windowMs: HOUR,
    what: "verification codes requested per hour from one address",
  },
  iceRequestsPerAddress: {
    env: "REACH_LIMIT_ICE_PER_ADDRESS",
    default: 30,
    windowMs: MIN,
    what: "ICE/TURN credential requests per minute from one address",
  },
} as const satisfies Record<string, LimitSpec>;

export type LimitName = keyof typeof LIMITS;
export type Limits = Record<LimitName, number>;

/** The defaults, as a Limits value (tests and config). */
export function defaultLimits(): Limits {
  const out = {} as Limits;
  for (const [name, spec] of Object.entries(LIMITS)) {
    out[name as LimitName] = spec.default;
  }
  return out;
}

/**
 * Reads every limit from `env`: a whole number from 1 to 10^9, else the
 * default. Malformed values are returned as problems naming the variable.
 */
export function readLimits(
  env: Record<string, string>,
  problems: string[],
): Limits {
  const out = defaultLimits();
  for (const [name, spec] of Object.entries(LIMITS)) {
    const raw = env[spec.env];
    if (raw === undefined) continue;
    const n = Number(raw.trim());
    if (!Number.isInteger(n) || n < 1 || n > 1e9) {
      problems.push(
        `${spec.env}: must be a whole number from 1 to 1000000000 (${spec.what})`,
      );
      continue;
    }
    out[name as LimitName] = n;
  }
  return out;
}
