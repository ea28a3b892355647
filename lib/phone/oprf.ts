/**
 * The OPRF of contact discovery (lib/phone/DISCOVERY.md): RFC 9497,
 * suite ristretto255-SHA512, verifiable mode (VOPRF), as @noble/curves
 * implements it. Runs in the server and, loaded lazily, in the browser.
 *
 * @noble/curves 2.4.0 declares no `evaluate` (the non-interactive
 * evaluation the server uses to build directory entries) on its `oprf` and
 * `voprf` types although both have it at run time: {@link Mode} is the
 * shape we rely on, checked once here, so a library without it fails at
 * import rather than on the first bind.
 */
import { ristretto255, ristretto255_oprf } from "@noble/curves/ed25519.js";

export const SUITE = "ristretto255-SHA512";
export const MODE = "voprf";
/** Bytes of a serialised element (point), scalar, proof and output. */
export const ELEMENT_BYTES = 32;
export const SCALAR_BYTES = 32;
export const PROOF_BYTES = 64;
export const OUTPUT_BYTES = 64;

/** DeriveKeyPair's `info` for the server's discovery keys. */
export const KEY_INFO: Uint8Array = new TextEncoder().encode(
  "reach discovery v1",
);

export interface KeyPair {
  secretKey: Uint8Array;
  publicKey: Uint8Array;
}

export interface FinalizeItem {
  input: Uint8Array;
  blind: Uint8Array;
  evaluated: Uint8Array;
  blinded: Uint8Array;
}

/** Where random bytes come from (tests pass fixed ones for the RFC vectors). */
export type Rng = (n?: number) => Uint8Array;

/** The base mode (0x00), for the RFC vectors only. */
export interface BaseMode {
  deriveKeyPair(seed: Uint8Array, keyInfo: Uint8Array): KeyPair;
  blind(
    input: Uint8Array,
    rng?: Rng,
  ): { blind: Uint8Array; blinded: Uint8Array };
  blindEvaluate(secretKey: Uint8Array, blinded: Uint8Array): Uint8Array;
  finalize(
    input: Uint8Array,
    blind: Uint8Array,
    evaluated: Uint8Array,
  ): Uint8Array;
  evaluate(secretKey: Uint8Array, input: Uint8Array): Uint8Array;
}

/** The verifiable mode (0x01) Reach uses. */
export interface Mode {
  deriveKeyPair(seed: Uint8Array, keyInfo: Uint8Array): KeyPair;
  blind(
    input: Uint8Array,
    rng?: Rng,
  ): { blind: Uint8Array; blinded: Uint8Array };
  blindEvaluateBatch(
    secretKey: Uint8Array,
    publicKey: Uint8Array,
    blinded: Uint8Array[],
    rng?: Rng,
  ): { evaluated: Uint8Array[]; proof: Uint8Array };
  /** Verifies the batch proof, then unblinds; throws when it does not verify. */
  finalizeBatch(
    items: FinalizeItem[],
    publicKey: Uint8Array,
    proof: Uint8Array,
  ): Uint8Array[];
  /** The output for `input` straight from the secret key (server only). */
  evaluate(secretKey: Uint8Array, input: Uint8Array): Uint8Array;
}

function narrow<T>(mode: unknown, name: string): T {
  if (typeof (mode as { evaluate?: unknown })?.evaluate !== "function") {
    throw new Error(`@noble/curves ${name} has no evaluate()`);
  }
  return mode as T;
}

export const voprf: Mode = narrow<Mode>(ristretto255_oprf.voprf, "voprf");
export const baseOprf: BaseMode = narrow<BaseMode>(
  ristretto255_oprf.oprf,
  "oprf",
);

/** One key of the server's discovery keyring (REACH_DISCOVERY_KEYS): a seed. */
export interface DiscoverySeed {
  kid: string;
  /** 32 bytes: DeriveKeyPair's seed. */
  key: Uint8Array;
}

export interface DiscoveryKey extends KeyPair {
  kid: string;
}

const derived = new WeakMap<Uint8Array, KeyPair>();

/** The VOPRF key pair of a keyring entry (DeriveKeyPair, info KEY_INFO). */
export function discoveryKey(seed: DiscoverySeed): DiscoveryKey {
  let pair = derived.get(seed.key);
  if (!pair) {
    pair = voprf.deriveKeyPair(seed.key, KEY_INFO);
    derived.set(seed.key, pair);
  }
  return { kid: seed.kid, ...pair };
}

/** The OPRF input for a number: its E.164 form's UTF-8 bytes. */
export function oprfInput(e164: string): Uint8Array {
  return new TextEncoder().encode(e164);
}

/**
 * Whether `bytes` is a canonical ristretto255 encoding of an element other
 * than the identity: what evaluation accepts as a blinded element.
 */
export function isElement(bytes: Uint8Array): boolean {
  if (bytes.length !== ELEMENT_BYTES) return false;
  try {
    return !ristretto255.Point.fromBytes(bytes).equals(
      ristretto255.Point.ZERO,
    );
  } catch {
    return false;
  }
}

// ------------------------------------------------------- base64url

const B64URL = /^[A-Za-z0-9_-]*$/;

/** base64url without padding (RFC 4648 §5). */
export function toB64u(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/**
 * The bytes of unpadded base64url text, or null when it is not that (wrong
 * alphabet, padding, impossible length, or a non-canonical last character).
 */
export function fromB64u(text: string): Uint8Array | null {
  if (!B64URL.test(text) || text.length % 4 === 1) return null;
  let bin: string;
  try {
    bin = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  } catch {
    return null;
  }
  const out = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  // One encoding per byte string: refuse stray low bits in the last character.
  return toB64u(out) === text ? out : null;
}
