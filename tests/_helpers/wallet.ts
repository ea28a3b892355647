/** A test wallet: a real Ed25519 key that signs SIWS messages like a wallet does. */
import * as ed from "@noble/ed25519";
import { base58 } from "@scure/base";
import {
  formatSiwsMessage,
  type SiwsFields,
} from "@/lib/identity/siws_message.ts";
import "@/lib/identity/siws.ts"; // installs the sha512 hook noble needs

export interface TestWallet {
  secret: Uint8Array;
  publicKey: Uint8Array;
  address: string;
  sign(message: string): string;
}

export function newWallet(seed?: Uint8Array): TestWallet {
  const secret = seed ?? ed.utils.randomSecretKey();
  const publicKey = ed.getPublicKey(secret);
  return {
    secret,
    publicKey,
    address: base58.encode(publicKey),
    sign: (message) =>
      base58.encode(ed.sign(new TextEncoder().encode(message), secret)),
  };
}

/** Builds and signs the SIWS message for a nonce offer, as the sign-in island does. */
export function signOffer(
  wallet: TestWallet,
  offer: Omit<SiwsFields, "address">,
): { message: string; signature: string; publicKey: string } {
  const message = formatSiwsMessage({ ...offer, address: wallet.address });
  return {
    message,
    signature: wallet.sign(message),
    publicKey: wallet.address,
  };
}
