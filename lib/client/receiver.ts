/**
 * What the /me page's Receiver island needs besides its view: this browser
 * speaking for the owner (a device certificate and the server's handle
 * attestation), the dependencies of the calls that ring it (ICE servers kept
 * across calls, its inbox key to open sealed rings), and the sealed identity
 * a push notification's Answer link carries.
 */
import { browserDeps } from "./call/base.ts";
import type { IncomingDeps, RingVerdict } from "./call/incoming.ts";
import { ensureAttestation } from "./caller_identity.ts";
import { type DeviceIdentity, loadDeviceIdentity } from "./device_identity.ts";
import { loadInboxKey } from "./inbox_key.ts";
import { IceCache } from "./rtc.ts";
import { openRing } from "../identity/sealed_ring.ts";

/**
 * A push notification's Answer link carries the ring's sealed caller
 * identity in the fragment (`#sealed=<base64url of its JSON>`), which never
 * reaches the server: the replayed `incoming` has none.
 */
export function linkedSealed(hash: string): unknown {
  const m = /(?:^#|&)sealed=([A-Za-z0-9_-]+)/.exec(hash);
  if (!m) return undefined;
  try {
    const bytes = Uint8Array.fromBase64(m[1], { alphabet: "base64url" });
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
}

/** This browser speaking for the owner of `handle` (wallet `wallet`). */
export class OwnerKeys {
  /** The device identity, once this browser holds one. */
  identity: DeviceIdentity | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly handle: string, readonly wallet: string) {}

  /**
   * A device certificate and an attestation; `interactive` may ask a
   * wallet. One at a time: two at once could certify two device keys.
   * Resolves to this round's identity (null: no wallet signature) and
   * whether calls from here can say who calls.
   */
  prepare(
    interactive: boolean,
  ): Promise<{ identity: DeviceIdentity | null; callerReady: boolean }> {
    const next = this.queue.then(async () => {
      const id = await loadDeviceIdentity(this.handle, this.wallet, interactive)
        .catch(() => null);
      if (id) this.identity = id;
      const ok = await ensureAttestation(this.handle, this.wallet)
        .catch(() => false);
      return { identity: id, callerReady: !!this.identity && ok };
    });
    this.queue = next.catch(() => {});
    return next;
  }
}

/**
 * The dependencies of the calls that ring this device: its keys as they are
 * when a call is answered, ICE servers kept across calls, and sealed rings
 * opened with its inbox key (read once, not per ring).
 */
export function deviceDeps(
  keys: OwnerKeys,
  attestationKey: string,
): IncomingDeps {
  let inboxKey: ReturnType<typeof loadInboxKey> | null = null;
  const ice = new IceCache((u, i) => fetch(u, i));
  return {
    ...browserDeps(() =>
      Promise.resolve({
        identity: keys.identity,
        certificate: keys.identity?.dtls,
      })
    ),
    iceServers: () => ice.get(),
    async openRing(box, expect): Promise<RingVerdict> {
      const key = await (inboxKey ??= loadInboxKey());
      if (!key) {
        inboxKey = null; // it may be made yet (ensureInboxKey)
        return { ok: false, reason: "this browser has no key to open it" };
      }
      return await openRing(box, key, {
        ...expect,
        handle: keys.handle,
        attestationKey,
      });
    },
  };
}
