/**
 * Ring anywhere in Chromium: Reach served in this process (so its pushes go
 * through lib/push/send.ts `setPushFetch` to the push-service double of
 * push_double.ts), and the CDP steps that stand in for a push service
 * Chromium cannot reach offline:
 *
 * - `stubPushManager`: `pushManager.subscribe()` never settles without a
 *   push service, so pages get one that hands out the double's
 *   subscriptions (kept in localStorage, so `getSubscription()` finds it
 *   after a reload).
 * - `PushDelivery`: a CDP session on about:blank (no page of Reach's
 *   origin needed) with `ServiceWorker.enable`, which knows the worker's
 *   registration id and delivers each push the double decrypted through
 *   `ServiceWorker.deliverPushMessage`, running the worker's `push` handler.
 * - `serviceWorkerOf`, `waitForHandled`, `shownNotifications`: the service
 *   worker itself (what it handled, the notifications it shows).
 */
import type { Browser, CDPSession, Page, WebWorker } from "puppeteer-core";
import { createHandler } from "$fresh/server.ts";
import freshConfig from "@/fresh.config.ts";
import manifest from "@/fresh.gen.ts";
import { loadConfig, setConfig } from "@/lib/config.ts";
import { setLogSink } from "@/lib/log.ts";
import { setPushFetch } from "@/lib/push/send.ts";
import { setKv } from "@/lib/store/kv.ts";
import { resetHub } from "@/signaling/instance.ts";
import { TEST_ENV } from "./app.ts";
import {
  type Delivery,
  PUSH_TEST_HOST,
  PushDouble,
  type TestSubscription,
} from "./push_double.ts";
import { freePort } from "./server.ts";
import type { PushHandled } from "@/routes/sw.js.ts";

export interface PushServer extends AsyncDisposable {
  origin: string;
  double: PushDouble;
  /** What each delivered push is handed to (the browser side). */
  onDeliver: ((d: Delivery) => void | Promise<void>) | null;
  /** Stops serving (the browser is then offline from Reach). */
  stopServing(): Promise<void>;
}

/** Reach on a loopback port of this process, pushing to a fresh double. */
export async function startPushServer(): Promise<PushServer> {
  const port = freePort();
  const origin = `http://localhost:${port}`;
  const dir = await Deno.makeTempDir({ prefix: "reach-push-e2e-" });
  const kv = await Deno.openKv(`${dir}/kv.sqlite3`);
  const config = loadConfig({
    ...TEST_ENV,
    REACH_ORIGIN: origin,
    REACH_PUSH_HOSTS: PUSH_TEST_HOST,
  });
  setConfig(config);
  setKv(kv);
  setLogSink(() => {});
  if (!config.push.enabled) throw new Error("push is off in tests");
  const h = await createHandler(manifest, freshConfig);
  let server: Deno.HttpServer | null = Deno.serve(
    { hostname: "127.0.0.1", port, onListen: () => {} },
    (req, info) => h(req, info),
  );
  const out: PushServer = {
    origin,
    double: PushDouble.start({
      vapidPublicKey: config.push.vapid.publicKey,
      onDeliver: (d) => out.onDeliver?.(d),
    }),
    onDeliver: null,
    async stopServing() {
      await server?.shutdown();
      server = null;
    },
    async [Symbol.asyncDispose]() {
      await resetHub();
      await out.stopServing();
      setPushFetch(null);
      await out.double.close();
      setKv(undefined);
      kv.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
  setPushFetch(out.double.fetch);
  return out;
}

/**
 * From now on, the page's `pushManager.subscribe()` returns a subscription
 * the double issued (made with the key the page passed), and
 * `getSubscription()` finds it again after a reload.
 */
export async function stubPushManager(
  page: Page,
  double: PushDouble,
): Promise<TestSubscription[]> {
  const issued: TestSubscription[] = [];
  await page.exposeFunction("reachTestSubscribe", async () => {
    const s = await double.subscribe();
    issued.push(s);
    return s;
  });
  await page.evaluateOnNewDocument(() => {
    const KEY = "reach.test.pushSub";
    type Json = {
      endpoint: string;
      expirationTime: null;
      keys: Record<string, string>;
    };
    const make = (json: Json, key: number[]) => ({
      endpoint: json.endpoint,
      options: {
        applicationServerKey: new Uint8Array(key).buffer,
        userVisibleOnly: true,
      },
      expirationTime: null,
      toJSON: () => json,
      unsubscribe: () => {
        localStorage.removeItem(KEY);
        return Promise.resolve(true);
      },
    });
    const g = globalThis as unknown as {
      PushManager?: { prototype: Record<string, unknown> };
      reachTestSubscribe: () => Promise<Json & { id: string }>;
    };
    if (!g.PushManager) return;
    g.PushManager.prototype.subscribe = async function (
      o: { applicationServerKey: ArrayBuffer | Uint8Array },
    ) {
      const { id: _id, ...json } = await g.reachTestSubscribe();
      const key = [...new Uint8Array(o.applicationServerKey)];
      localStorage.setItem(KEY, JSON.stringify({ json, key }));
      return make(json, key);
    };
    g.PushManager.prototype.getSubscription = function () {
      const s = localStorage.getItem(KEY);
      if (!s) return Promise.resolve(null);
      const { json, key } = JSON.parse(s);
      return Promise.resolve(make(json, key));
    };
  });
  return issued;
}

/** A CDP session on about:blank that sees service workers and pushes to them. */
export class PushDelivery {
  private regs = new Map<string, string>();
  private constructor(
    readonly page: Page,
    readonly cdp: CDPSession,
  ) {}

  static async open(browser: Browser): Promise<PushDelivery> {
    const page = await browser.newPage();
    await page.goto("about:blank");
    const cdp = await page.createCDPSession();
    const d = new PushDelivery(page, cdp);
    cdp.on("ServiceWorker.workerRegistrationUpdated", (e) => {
      for (const r of e.registrations) {
        if (r.isDeleted) d.regs.delete(r.scopeURL);
        else d.regs.set(r.scopeURL, r.registrationId);
      }
    });
    await cdp.send("ServiceWorker.enable");
    return d;
  }

  /** The registration id of the worker whose scope is `origin/`. */
  async registrationId(origin: string, timeoutMs = 5000): Promise<string> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const id = this.regs.get(origin + "/");
      if (id) return id;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`no service worker registration for ${origin}/`);
  }

  /** Runs the worker's `push` handler with `data` (the decrypted message). */
  async deliver(origin: string, data: string): Promise<void> {
    await this.cdp.send("ServiceWorker.deliverPushMessage", {
      origin,
      registrationId: await this.registrationId(origin),
      data,
    });
  }

  /** Stops every service worker (the next push starts it again). */
  async stopWorkers(): Promise<void> {
    await this.cdp.send("ServiceWorker.stopAllWorkers");
  }
}

/** The running service worker of `origin` (waits for it to start). */
export async function serviceWorkerOf(
  browser: Browser,
  origin: string,
): Promise<WebWorker> {
  const target = await browser.waitForTarget(
    (t) => t.type() === "service_worker" && t.url() === `${origin}/sw.js`,
    { timeout: 10_000 },
  );
  const w = await target.worker();
  if (!w) throw new Error("the service worker target has no worker");
  return w;
}

export interface ShownNotification {
  title: string;
  tag: string;
  body: string;
  requireInteraction: boolean;
  /** When the worker showed it (ms since the epoch). */
  timestamp: number;
  actions: { action: string; title: string }[];
  /** `sealed`: the ring's sealed caller identity, for the page it opens. */
  data: { callId: string; exp: number; sealed?: unknown };
}

/** The notifications the worker shows now (`registration.getNotifications()`). */
export function shownNotifications(w: WebWorker): Promise<ShownNotification[]> {
  return w.evaluate(async () => {
    const sw = self as unknown as {
      registration: { getNotifications(): Promise<Notification[]> };
    };
    return (await sw.registration.getNotifications()).map((n) => ({
      title: n.title,
      tag: n.tag,
      body: n.body,
      requireInteraction: n.requireInteraction,
      timestamp: (n as unknown as { timestamp: number }).timestamp,
      actions: [
        ...((n as unknown as { actions: { action: string; title: string }[] })
          .actions),
      ].map((a) => ({ action: a.action, title: a.title })),
      data: n.data,
    }));
  });
}

/**
 * Waits until the worker handled the push message `t` for `callId` (its
 * notification shown, or closed); returns when (ms since the epoch). Read
 * the notifications only then: Chromium's getNotifications() forgets a
 * notification that is being shown at the same moment.
 */
export async function waitForHandled(
  w: WebWorker,
  t: "ring" | "cancel",
  callId: string,
  timeoutMs = 10_000,
): Promise<number> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const log = await w.evaluate(() =>
      (self as unknown as { reachHandled?: PushHandled[] }).reachHandled ?? []
    );
    const hit = log.find((h) => h.t === t && h.callId === callId);
    if (hit) return hit.at;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`the worker did not handle ${t} ${callId}`);
}
