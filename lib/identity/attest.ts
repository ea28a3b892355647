/**
 * The server's side of handle attestations (lib/identity/handle_attestation.ts):
 * its key, derived from the server's HMAC key, and the attestation it gives
 * a signed-in owner for their own handle. A caller's browser fetches its
 * attestation on /me, long before any call, and seals it into its rings, so
 * the callee's browser can check "@alice is wallet W" without asking the
 * server (asking would tell the server who called).
 */
import type { Config } from "../config.ts";
import {
  attestationPublicKey,
  attestationSeed,
  signAttestation,
} from "./handle_attestation.ts";

const seeds = new WeakMap<
  Uint8Array,
  Promise<{ seed: Uint8Array; publicKey: string }>
>();

function keyOf(hmacKey: Uint8Array) {
  let k = seeds.get(hmacKey);
  if (!k) {
    k = attestationSeed(hmacKey).then(async (seed) => ({
      seed,
      publicKey: await attestationPublicKey(seed),
    }));
    seeds.set(hmacKey, k);
  }
  return k;
}

/** The attestation public key (base58) callee pages check sealed callers with. */
export async function attestationKey(
  config: Pick<Config, "hmacKey">,
): Promise<string> {
  return (await keyOf(config.hmacKey)).publicKey;
}

/** The owner's attestation: `handle` belongs to `wallet`, for 30 days from `now`. */
export async function attestOwner(
  config: Pick<Config, "hmacKey">,
  owner: { handle: string; wallet: string },
  now = new Date(),
): Promise<{ text: string; sig: string; publicKey: string }> {
  const { seed, publicKey } = await keyOf(config.hmacKey);
  const signed = await signAttestation(seed, { ...owner, issued: now });
  return { ...signed, publicKey };
}
