/**
 * This browser's device identity for verified calls: an Ed25519 device key
 * (non-extractable, IndexedDB), a persistent DTLS certificate for the calls
 * it receives (so the fingerprint is stable across calls), and a device
 * certificate signed by the owner's wallet key (lib/identity/device_cert.ts).
 * A browser-key account signs it silently; a wallet account signs once in
 * the wallet. The same certificate and key sign this browser's sealed
 * caller identity (lib/client/caller_identity.ts).
 */
import { base58 } from "@scure/base";
import { certText, type DeviceCert } from "../identity/device_cert.ts";
import { keystoreGet, keystorePut } from "./keystore.ts";
import { persistentDtlsCert } from "./dtls_cert.ts";
import { loadOrCreateBrowserKey } from "./browser_key.ts";
import { findWallet, walletSigner } from "./wallet.ts";

const CERT_DAYS = 90;

/** A certified device key: what signs this device's statements. */
export interface DeviceSigner {
  /** The device certificate's text, and the wallet's signature over it. */
  cert: string;
  certSig: string;
  sign(text: string): Promise<string>;
}

/** A receiving device's identity: its signer and its persistent DTLS key. */
export interface DeviceIdentity extends DeviceSigner {
  dtls: RTCCertificate;
}

interface StoredCert {
  cert: DeviceCert;
  text: string;
  sig: string;
}

const signer = (pair: CryptoKeyPair) => async (text: string) =>
  base58.encode(
    new Uint8Array(
      await crypto.subtle.sign(
        { name: "Ed25519" },
        pair.privateKey,
        new TextEncoder().encode(text),
      ),
    ),
  );

/**
 * The device certificate this browser holds, current for a day more, and
 * the key it certifies; never makes or asks for anything (a caller's
 * identity: whoever signed in here last). Null when there is none.
 */
export async function storedDeviceSigner(): Promise<
  (DeviceSigner & { handle: string; wallet: string }) | null
> {
  const pair = await keystoreGet<CryptoKeyPair>("device-key");
  const stored = await keystoreGet<StoredCert | null>("device-cert");
  if (!pair || !stored?.cert) return null;
  const device = base58.encode(
    new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey)),
  );
  if (
    stored.cert.device !== device ||
    !(Date.parse(stored.cert.expires) > Date.now() + 86400_000)
  ) return null;
  return {
    handle: stored.cert.handle,
    wallet: stored.cert.wallet,
    cert: stored.text,
    certSig: stored.sig,
    sign: signer(pair),
  };
}

/** Signing out: this browser no longer speaks for the account. */
export async function forgetDeviceCert(): Promise<void> {
  await keystorePut("device-cert", null);
}

async function deviceKey(): Promise<CryptoKeyPair> {
  let pair = await keystoreGet<CryptoKeyPair>("device-key");
  if (!pair) {
    pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, [
      "sign",
      "verify",
    ]) as CryptoKeyPair;
    await keystorePut("device-key", pair);
  }
  return pair;
}

/**
 * The identity for `handle` under `wallet`, certifying a new device key when
 * needed. Returns null when this browser cannot get the wallet's signature
 * (no browser key for that wallet, and no wallet or `interactive` off).
 */
export async function loadDeviceIdentity(
  handle: string,
  wallet: string,
  interactive: boolean,
): Promise<DeviceIdentity | null> {
  const pair = await deviceKey();
  const device = base58.encode(
    new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey)),
  );
  let stored = await keystoreGet<StoredCert | null>("device-cert");
  const current = stored && stored.cert.handle === handle &&
    stored.cert.wallet === wallet && stored.cert.device === device &&
    Date.parse(stored.cert.expires) > Date.now() + 86400_000;
  if (!current) {
    const now = new Date();
    const cert: DeviceCert = {
      handle,
      device,
      wallet,
      issued: now.toISOString(),
      expires: new Date(now.getTime() + CERT_DAYS * 86400_000).toISOString(),
    };
    const text = certText(cert);
    const bytes = new TextEncoder().encode(text);
    let sig: Uint8Array | null = null;
    const browserKey = await keystoreGet("browser-key")
      ? await loadOrCreateBrowserKey()
      : null;
    if (browserKey && base58.encode(browserKey.publicKey) === wallet) {
      sig = await browserKey.sign(bytes);
    } else if (interactive && findWallet()) {
      const signer = await walletSigner(findWallet()!);
      if (base58.encode(signer.publicKey) === wallet) {
        sig = await signer.sign(bytes);
      }
    }
    if (!sig) return null;
    stored = { cert, text, sig: base58.encode(sig) };
    await keystorePut("device-cert", stored);
  }
  return {
    cert: stored!.text,
    certSig: stored!.sig,
    dtls: await persistentDtlsCert(),
    sign: signer(pair),
  };
}
