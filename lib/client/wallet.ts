/** A Solana wallet in the page (Phantom's injected provider, or compatible). */
import type { Signer } from "./browser_key.ts";

interface SolanaProvider {
  isPhantom?: boolean;
  connect(): Promise<{ publicKey: { toBytes(): Uint8Array } }>;
  signMessage(
    message: Uint8Array,
    display?: "utf8",
  ): Promise<{ signature: Uint8Array }>;
}

export function findWallet(): SolanaProvider | null {
  const w = globalThis as {
    phantom?: { solana?: SolanaProvider };
    solana?: SolanaProvider;
  };
  const p = w.phantom?.solana ?? w.solana;
  return p && typeof p.signMessage === "function" ? p : null;
}

export async function walletSigner(provider: SolanaProvider): Promise<Signer> {
  const { publicKey } = await provider.connect();
  return {
    publicKey: publicKey.toBytes(),
    sign: async (data) => (await provider.signMessage(data, "utf8")).signature,
  };
}
