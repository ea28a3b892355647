/**
 * "Ring this device even when Reach is closed" (Web Push), the browser side
 * of /me: notification permission, the service worker (/sw.js), the push
 * subscription made with the server's VAPID key, and the owner's list of
 * browsers that ring (signaling/PROTOCOL.md, Ring anywhere).
 *
 * One object, `RingAnywhere`, in the call core's style: one state, one
 * setter that tells the listeners, everything it takes from the browser
 * through `PushDeps`, so tests drive it with fakes
 * (tests/unit/push_client_test.ts). The island (islands/PushDevices.tsx)
 * renders it and forwards clicks.
 *
 * A push service may never answer (`pushManager.subscribe()` then never
 * settles): each wait on the browser has a deadline and a sentence.
 */
import type { Clock } from "./call/base.ts";
import type { Store } from "./call/prefs.ts";
import { type ApiResult, callApi } from "./api.ts";

/** How long the browser's push service and service worker may take. */
export const PUSH_WAIT_MS = 10_000;

/** What the person reads when something stops it. */
export const PUSH_TEXT = {
  unsupported:
    "This browser cannot ring for Reach while Reach is closed (it has no Web Push).",
  denied:
    "Notifications are blocked for Reach in this browser. Allow them in the site settings, then try again.",
  dismissed:
    "Reach needs your permission to show notifications to ring this device.",
  worker:
    "The service worker did not start; reload the page and try again later.",
  noAnswer: "Your browser's push service did not answer; try again later.",
  disabled:
    "Ringing browsers while Reach is closed is turned off on this server.",
  network: "Could not reach Reach. Check your connection and try again.",
} as const;

/** A browser that rings for the handle, as GET /api/me/push lists it. */
export interface PushDevice {
  id: string;
  name: string | null;
  createdAt: number;
  lastRungAt: number | null;
}

export type PushState =
  /** No service worker, Push API or notifications in this browser. */
  | { kind: "unsupported" }
  /** Reading what this browser has. */
  | { kind: "loading" }
  | { kind: "off" }
  /** Turning on (or off, or renaming): `step` says what it waits for. */
  | { kind: "busy"; step: string }
  /** This browser rings for the handle. */
  | { kind: "on" };

export type PushListener = (s: PushState, old: PushState) => void;

// What RingAnywhere uses of the browser's objects (the real ones fit).
export interface SubscriptionLike {
  endpoint: string;
  options: { applicationServerKey: ArrayBuffer | null };
  toJSON(): {
    endpoint?: string;
    expirationTime?: number | null;
    keys?: Record<string, string>;
  };
  unsubscribe(): Promise<boolean>;
}
export interface RegistrationLike {
  pushManager: {
    subscribe(o: {
      userVisibleOnly: boolean;
      applicationServerKey: BufferSource;
    }): Promise<SubscriptionLike>;
    getSubscription(): Promise<SubscriptionLike | null>;
  };
}
export interface WorkersLike {
  register(
    url: string,
    o: { scope: string; updateViaCache?: ServiceWorkerUpdateViaCache },
  ): Promise<unknown>;
  getRegistration(scope?: string): Promise<RegistrationLike | undefined>;
  /** The active registration of this page's scope. */
  readonly ready: Promise<RegistrationLike>;
}

export interface PushDeps {
  /** navigator.serviceWorker, or null when this browser has no Web Push. */
  workers: WorkersLike | null;
  /** Notification.permission. */
  permission(): NotificationPermission;
  requestPermission(): Promise<NotificationPermission>;
  fetch(url: string, init?: RequestInit): Promise<Response>;
  clock: Pick<Clock, "after">;
  /** Where this browser's subscription id and name are kept (localStorage). */
  store: Store;
  userAgent: string;
  /** Overrides PUSH_WAIT_MS (tests). */
  waitMs?: number;
}

/** The real browser behind PushDeps. */
export function browserPushDeps(): PushDeps {
  const supported = "serviceWorker" in navigator &&
    "PushManager" in globalThis && "Notification" in globalThis;
  return {
    workers: supported
      ? navigator.serviceWorker as unknown as WorkersLike
      : null,
    permission: () => Notification.permission,
    requestPermission: () => Notification.requestPermission(),
    fetch: (u, i) => fetch(u, i),
    clock: {
      after(ms, f) {
        const t = setTimeout(f, ms);
        return () => clearTimeout(t);
      },
    },
    store: localStorage,
    userAgent: navigator.userAgent,
  };
}

const ID_KEY = "reach.pushId";
const NAME_KEY = "reach.pushName";
export const WORKER_URL = "/sw.js";

/** "Chrome on Linux": a default name for this browser, from its user agent. */
export function deviceName(ua: string): string {
  const browser = /Edg(e|A|iOS)?\//.test(ua)
    ? "Edge"
    : /OPR\/|Opera/.test(ua)
    ? "Opera"
    : /Firefox\/|FxiOS\//.test(ua)
    ? "Firefox"
    : /Chrome\/|Chromium\/|CriOS\//.test(ua)
    ? "Chrome"
    : /Safari\//.test(ua)
    ? "Safari"
    : "Browser";
  const os = /Android/.test(ua)
    ? "Android"
    : /iPhone|iPad|iPod/.test(ua)
    ? "iOS"
    : /Windows/.test(ua)
    ? "Windows"
    : /CrOS/.test(ua)
    ? "ChromeOS"
    : /Mac OS X|Macintosh/.test(ua)
    ? "macOS"
    : /Linux/.test(ua)
    ? "Linux"
    : "";
  return os ? `${browser} on ${os}` : browser;
}

/** base64url (the VAPID key's form) to bytes. */
export function fromBase64Url(s: string): Uint8Array {
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** Whether the subscription was made with `key` (byte for byte). */
export function sameKey(sub: SubscriptionLike, key: Uint8Array): boolean {
  const k = sub.options.applicationServerKey;
  if (!k || k.byteLength !== key.length) return false;
  const a = new Uint8Array(k);
  return a.every((b, i) => b === key[i]);
}

/** A failure with the sentence the person reads. */
class PushError extends Error {}

export class RingAnywhere {
  private st: PushState = { kind: "loading" };
  private listeners = new Set<PushListener>();
  /** The last failure, in words ("" when none). */
  error = "";
  /** The browsers that ring for the handle, oldest first. */
  devices: PushDevice[] = [];

  constructor(private d: PushDeps) {}

  get state(): PushState {
    return this.st;
  }

  /** The server's id of this browser's subscription, if it has one. */
  get deviceId(): string | null {
    return this.d.store.getItem(ID_KEY) || null;
  }

  /** The name this browser is listed under (or would be). */
  get name(): string {
    return this.d.store.getItem(NAME_KEY) ?? deviceName(this.d.userAgent);
  }

  listen(l: PushListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /**
   * Reads what this browser has: on when its subscription is one the server
   * lists; a subscription made with a VAPID key other than the server's
   * (the key was rotated) is renewed at once.
   */
  async init(): Promise<void> {
    const w = this.d.workers;
    await this.refresh();
    if (!w) return this.set({ kind: "unsupported" });
    try {
      const reg = await w.getRegistration("/");
      const sub = await reg?.pushManager.getSubscription() ?? null;
      const listed = this.devices.some((x) => x.id === this.deviceId);
      if (!reg || !sub || !listed) return this.set({ kind: "off" });
      const key = await this.serverKey();
      if (sameKey(sub, key)) return this.set({ kind: "on" });
      this.set({ kind: "busy", step: "Renewing this browser's subscription…" });
      await sub.unsubscribe().catch(() => false);
      await this.save(await this.subscribe(reg, key), this.name);
      this.set({ kind: "on" });
    } catch (e) {
      this.fail(e, { kind: "off" });
    }
  }

  /** Turns ringing on for this browser, listed as `name`. */
  async enable(name: string): Promise<void> {
    const w = this.d.workers;
    if (!w) return this.fail(new PushError(PUSH_TEXT.unsupported));
    const before = this.st;
    this.error = "";
    try {
      this.set({ kind: "busy", step: "Asking for permission to notify…" });
      await this.permit();
      this.set({ kind: "busy", step: "Installing Reach's service worker…" });
      await w.register(WORKER_URL, { scope: "/", updateViaCache: "none" });
      const reg = await this.within(w.ready, PUSH_TEXT.worker);
      const key = await this.serverKey();
      this.set({ kind: "busy", step: "Subscribing with your browser…" });
      let sub = await reg.pushManager.getSubscription();
      if (sub && !sameKey(sub, key)) {
        await sub.unsubscribe().catch(() => false);
        sub = null;
      }
      sub ??= await this.subscribe(reg, key);
      this.set({ kind: "busy", step: "Adding this browser…" });
      await this.save(sub, name);
      this.set({ kind: "on" });
    } catch (e) {
      this.fail(e, before.kind === "on" ? before : { kind: "off" });
    }
  }

  /** Stops ringing this browser: its subscription goes, here and on the server. */
  async disable(): Promise<void> {
    const id = this.deviceId;
    if (id) return await this.remove(id);
    await this.unsubscribeHere();
    this.set({ kind: "off" });
  }

  /** Renames this browser in the list (its subscription, sent again). */
  async rename(name: string): Promise<void> {
    const reg = await this.d.workers?.getRegistration("/");
    const sub = await reg?.pushManager.getSubscription();
    if (!sub || this.st.kind !== "on") return;
    this.error = "";
    try {
      this.set({ kind: "busy", step: "Saving the name…" });
      await this.save(sub, name);
      this.set({ kind: "on" });
    } catch (e) {
      this.fail(e, { kind: "on" });
    }
  }

  /** Removes a browser from the list; this one also unsubscribes here. */
  async remove(id: string): Promise<void> {
    this.error = "";
    const self = id === this.deviceId;
    const res = await this.api(`/api/me/push/${encodeURIComponent(id)}`, {
      method: "DELETE",
    });
    if (!res.ok && res.status !== 404) {
      this.error = res.message;
      return this.changed();
    }
    if (self) {
      this.d.store.setItem(ID_KEY, "");
      await this.unsubscribeHere();
    }
    await this.refresh();
    if (self) this.set({ kind: this.d.workers ? "off" : "unsupported" });
    else this.changed();
  }

  /** Reads the list of browsers that ring. */
  async refresh(): Promise<void> {
    const res = await this.api<{ subscriptions: PushDevice[] }>(
      "/api/me/push",
    );
    if (res.ok) this.devices = res.data.subscriptions;
    else this.error = res.message;
    this.changed();
  }

  // -------------------------------------------------------------- steps

  private async permit(): Promise<void> {
    let p = this.d.permission();
    if (p === "default") p = await this.d.requestPermission();
    if (p === "denied") throw new PushError(PUSH_TEXT.denied);
    if (p !== "granted") throw new PushError(PUSH_TEXT.dismissed);
  }

  private async serverKey(): Promise<Uint8Array> {
    const res = await this.api<{ publicKey: string }>("/api/push/key");
    if (!res.ok) {
      throw new PushError(
        res.error === "push_disabled" ? PUSH_TEXT.disabled : res.message,
      );
    }
    return fromBase64Url(res.data.publicKey);
  }

  private async subscribe(
    reg: RegistrationLike,
    key: Uint8Array,
  ): Promise<SubscriptionLike> {
    try {
      return await this.within(
        reg.pushManager.subscribe({
          userVisibleOnly: true,
          applicationServerKey: key as BufferSource,
        }),
        PUSH_TEXT.noAnswer,
      );
    } catch (e) {
      if (e instanceof PushError) throw e;
      const why = e instanceof Error && e.message ? ` (${e.message})` : "";
      throw new PushError(
        `Your browser could not subscribe to push messages${why}.`,
      );
    }
  }

  /** Sends the subscription to Reach; the id it gets is this browser's. */
  private async save(sub: SubscriptionLike, name: string): Promise<void> {
    const j = sub.toJSON();
    const clean = name.trim().slice(0, 64);
    const res = await this.api<{ id: string }>("/api/me/push", {
      method: "POST",
      body: {
        endpoint: j.endpoint ?? sub.endpoint,
        expirationTime: j.expirationTime ?? null,
        keys: { p256dh: j.keys?.p256dh ?? "", auth: j.keys?.auth ?? "" },
        name: clean || null,
      },
    });
    if (!res.ok) throw new PushError(res.message);
    const old = this.deviceId;
    this.d.store.setItem(ID_KEY, res.data.id);
    this.d.store.setItem(NAME_KEY, clean || deviceName(this.d.userAgent));
    // A renewed subscription with a new endpoint: the old record is dead.
    if (old && old !== res.data.id) {
      await this.api(`/api/me/push/${encodeURIComponent(old)}`, {
        method: "DELETE",
      });
    }
    await this.refresh();
  }

  private async unsubscribeHere(): Promise<void> {
    try {
      const reg = await this.d.workers?.getRegistration("/");
      const sub = await reg?.pushManager.getSubscription();
      await sub?.unsubscribe();
    } catch {
      // Nothing rings it any more: the server forgot it.
    }
  }

  /** `p`, or the `message` once the wait ran out. */
  private within<T>(p: Promise<T>, message: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const stop = this.d.clock.after(
        this.d.waitMs ?? PUSH_WAIT_MS,
        () => reject(new PushError(message)),
      );
      p.then((v) => {
        stop();
        resolve(v);
      }, (e) => {
        stop();
        reject(e);
      });
    });
  }

  /** One JSON call to the API (GET unless told), through the injected fetch. */
  private api<T>(
    path: string,
    init: { method?: string; body?: unknown } = {},
  ): Promise<ApiResult<T>> {
    return callApi<T>(path, { method: "GET", ...init }, {
      fetch: this.d.fetch,
      networkMessage: PUSH_TEXT.network,
    });
  }

  private fail(e: unknown, next: PushState = this.st): void {
    this.error = e instanceof PushError
      ? e.message
      : "Something went wrong; try again.";
    this.set(next);
  }

  private changed(): void {
    this.set(this.st);
  }

  /** The only writer of the state: tells every listener (new, old). */
  private set(next: PushState): void {
    const old = this.st;
    this.st = next;
    for (const l of [...this.listeners]) l(next, old);
  }
}
