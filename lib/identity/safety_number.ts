import { base58 } from "@scure/base";

/**
 * A safety number: a readable digest of a handle's wallet key that two
 * people can compare out of band (read aloud, or side by side). If both see
 * the same number, both pages name the same key.
 *
 * Format (v1): d = SHA-256("reach-safety-v1\0" + handle + "\0" + the raw
 * 32-byte key). Bytes 0-29 of d make six 40-bit big-endian numbers n; each
 * gives two 5-digit groups, n mod 100 000 and (n div 100 000) mod 100 000.
 * Twelve groups of five digits in all (about 199 bits). Browser-safe.
 */
export async function safetyNumber(
  handle: string,
  publicKey: Uint8Array,
): Promise<string> {
  const label = new TextEncoder().encode(`reach-safety-v1\0${handle}\0`);
  const input = new Uint8Array(label.length + publicKey.length);
  input.set(label);
  input.set(publicKey, label.length);
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", input));
  const groups: string[] = [];
  for (let g = 0; g < 6; g++) {
    // 5 bytes (40 bits) per pair of groups: 6 × 5 = 30 bytes of the digest.
    let n = 0n;
    for (let i = 0; i < 5; i++) n = (n << 8n) | BigInt(d[g * 5 + i]);
    groups.push(String(n % 100000n).padStart(5, "0"));
    groups.push(String((n / 100000n) % 100000n).padStart(5, "0"));
  }
  return groups.join(" ");
}

const memo = new Map<string, Promise<string>>();
const MEMO_MAX = 1000;

/**
 * {@link safetyNumber} of a base58 wallet key, as `/@handle` shows it on
 * every view: a pure function of its inputs, so computed once per (handle,
 * key) and kept (the last {@link MEMO_MAX} of them).
 */
export function safetyNumberOfWallet(
  handle: string,
  walletPubkey: string,
): Promise<string> {
  const id = `${handle}\0${walletPubkey}`;
  let out = memo.get(id);
  if (!out) {
    out = Promise.resolve().then(() =>
      safetyNumber(handle, base58.decode(walletPubkey))
    );
    out.catch(() => memo.delete(id));
    if (memo.size >= MEMO_MAX) memo.delete(memo.keys().next().value!);
    memo.set(id, out);
  }
  return out;
}
