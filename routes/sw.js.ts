/**
 * GET /sw.js: Reach's service worker ("Ring anywhere", issue 12), scope `/`.
 *
 * - `install`/`activate`: caches the offline shell (the /offline page, the
 *   stylesheet, the icons), best effort: a shell that cannot be cached never
 *   stops push from working. Old shells are deleted on activation.
 * - `fetch`: a navigation that fails shows the cached /offline page; the
 *   shell's own files come from the cache.
 * - `push`: `{t: "ring", callId, exp, sealed?}` shows "Incoming call" with
 *   Answer and Decline (a ring past `exp` is ignored): the worker cannot
 *   check who calls, so it names no one; `sealed`, the caller's sealed
 *   identity, goes with the notification for the page that answers.
 *   `{t: "cancel", callId}` closes that call's notification
 *   (signaling/PROTOCOL.md, Ring anywhere).
 *   One message at a time; `self.reachHandled` lists the last ones handled
 *   (tests read the notifications once theirs has settled).
 * - `notificationclick`: `handleAction(action, data)`, a plain function
 *   (also `self.reachHandleAction`, for tests: a synthetic click cannot open
 *   windows), says what to do; Decline POSTs /api/calls/:callId/decline with
 *   the session cookie, Answer (or a plain click) opens
 *   /me?answer=<callId>#sealed=<base64url of the sealed identity's JSON>
 *   (the fragment never reaches the server; the page opens and checks it)
 *   in the /me window if one is open, else a new one.
 *
 * The worker is `serviceWorker` below, type-checked and linted with the app
 * and served as its own source text, called with the shell's URLs of this
 * build: a new build is a new worker (the browser compares the bytes), which
 * caches the new shell. Its own CSP lets it fetch only its origin
 * (`connect-src 'self'`: with `default-src 'none'` alone its fetches would
 * silently fail) and show its own icons in notifications (`img-src
 * 'self'`); `no-cache`, so browsers check for a new worker each time.
 */
import { asset } from "$fresh/runtime.ts";

/** What the worker is given: its cache's name and what to keep offline. */
export interface Shell {
  cache: string;
  offline: string;
  urls: string[];
}

/** A push message the worker handled (its notification shown or closed). */
export interface PushHandled {
  t: string;
  callId: string;
  at: number;
}

/** What `handleAction` decides: a page to open, or the decline's answer. */
export type ActionResult =
  | { open: string }
  | { declined: boolean; status: number };

// Just enough of the service worker's global scope (deno.json's libs are
// the window's) for the code below.
interface ExtendableEvent extends Event {
  waitUntil(p: Promise<unknown>): void;
}
interface FetchEvent extends ExtendableEvent {
  request: Request;
  respondWith(r: Promise<Response>): void;
}
interface PushEvent extends ExtendableEvent {
  data: { json(): unknown } | null;
}
interface NotificationClickEvent extends ExtendableEvent {
  action: string;
  notification: { data: unknown; close(): void };
}
interface WindowClient {
  url: string;
  focus(): Promise<WindowClient>;
  navigate(url: string): Promise<WindowClient | null>;
}
interface WorkerScope {
  location: Location;
  caches: CacheStorage;
  registration: {
    showNotification(
      title: string,
      options: NotificationOptions & Record<string, unknown>,
    ): Promise<void>;
    getNotifications(filter?: { tag?: string }): Promise<Notification[]>;
  };
  clients: {
    claim(): Promise<void>;
    matchAll(
      o: { type: "window"; includeUncontrolled: boolean },
    ): Promise<WindowClient[]>;
    openWindow(url: string): Promise<WindowClient | null>;
  };
  skipWaiting(): Promise<void>;
  reachHandleAction?: (action: string, data: unknown) => Promise<ActionResult>;
  reachHandled?: PushHandled[];
  addEventListener(
    t: "install" | "activate",
    f: (e: ExtendableEvent) => void,
  ): void;
  addEventListener(t: "fetch", f: (e: FetchEvent) => void): void;
  addEventListener(t: "push", f: (e: PushEvent) => void): void;
  addEventListener(
    t: "notificationclick",
    f: (e: NotificationClickEvent) => void,
  ): void;
}

/**
 * The worker itself. Served as source text, so it uses nothing from outside
 * its own body but its two arguments and the worker's globals.
 */
export function serviceWorker(shell: Shell, sw: WorkerScope): void {
  const UUID =
    /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  /** A sealed identity longer than this (as JSON) is not carried along. */
  const MAX_SEALED = 8192;

  /** base64url of a sealed identity's JSON, or "" for none or a bad one. */
  function sealedParam(sealed: unknown): string {
    if (!sealed || typeof sealed !== "object") return "";
    const json = JSON.stringify(sealed);
    if (json.length > MAX_SEALED) return "";
    let bin = "";
    for (const b of new TextEncoder().encode(json)) {
      bin += String.fromCharCode(b);
    }
    return btoa(bin).replaceAll("+", "-").replaceAll("/", "_")
      .replace(/=+$/, "");
  }

  sw.addEventListener("install", (e) => {
    e.waitUntil(
      sw.caches.open(shell.cache)
        .then((c) => c.addAll(shell.urls))
        .catch(() => {}) // offline or a missing file: push works anyway
        .then(() => sw.skipWaiting()),
    );
  });

  sw.addEventListener("activate", (e) => {
    e.waitUntil(
      sw.caches.keys()
        .then((keys) =>
          Promise.all(
            keys.filter((k) => k.startsWith("reach-") && k !== shell.cache)
              .map((k) => sw.caches.delete(k)),
          )
        )
        .then(() => sw.clients.claim()),
    );
  });

  async function offlinePage(): Promise<Response> {
    const hit = await sw.caches.match(shell.offline);
    return hit ?? new Response(
      "You are offline; Reach will ring again when you are back online.",
      { status: 503, headers: { "content-type": "text/plain; charset=utf-8" } },
    );
  }

  sw.addEventListener("fetch", (e) => {
    const req = e.request;
    if (req.method !== "GET") return;
    const url = new URL(req.url);
    if (url.origin !== sw.location.origin) return;
    if (req.mode === "navigate") {
      e.respondWith(fetch(req).catch(offlinePage));
    } else if (shell.urls.includes(url.pathname + url.search)) {
      e.respondWith(
        sw.caches.match(req).then((hit) => hit ?? fetch(req)),
      );
    }
  });

  /** A push message: ring, or stop ringing. */
  async function onPush(msg: unknown): Promise<void> {
    const m = (msg ?? {}) as Record<string, unknown>;
    const callId = typeof m.callId === "string" && UUID.test(m.callId)
      ? m.callId
      : null;
    if (!callId) return;
    if (m.t === "ring") {
      // Pushes can arrive late (a device waking up): ringing already ended.
      if (typeof m.exp !== "number" || m.exp <= Date.now()) return;
      const sealed = sealedParam(m.sealed) ? m.sealed : undefined;
      await sw.registration.showNotification(
        "Incoming call",
        {
          tag: callId,
          body: "Reach is ringing this device. Answer to see who is calling.",
          icon: "/icons/icon-192.png",
          requireInteraction: true,
          renotify: true,
          actions: [
            { action: "answer", title: "Answer" },
            { action: "decline", title: "Decline" },
          ],
          data: { callId, exp: m.exp, ...(sealed ? { sealed } : {}) },
        },
      );
    } else if (m.t === "cancel") {
      for (const n of await sw.registration.getNotifications({ tag: callId })) {
        n.close();
      }
    }
  }

  // Push messages are handled one at a time: Chromium's getNotifications()
  // (the cancel's) forgets a notification that is being shown meanwhile,
  // which could then never be closed.
  let queue: Promise<void> = Promise.resolve();
  /** What this worker handled, newest last (tests wait on it; at most 20). */
  const handled: PushHandled[] = [];
  sw.reachHandled = handled;

  sw.addEventListener("push", (e) => {
    let msg: unknown = null;
    try {
      msg = e.data?.json() ?? null;
    } catch {
      // not JSON: not ours
    }
    const m = (msg ?? {}) as Record<string, unknown>;
    queue = queue.then(() => onPush(msg)).catch(() => {}).then(() => {
      handled.push({
        t: String(m.t),
        callId: String(m.callId),
        at: Date.now(),
      });
      if (handled.length > 20) handled.shift();
    });
    e.waitUntil(queue);
  });

  /**
   * What a click on a ring's notification does: Decline declines the call
   * for every device; Answer, or a click on the notification itself, opens
   * the page that answers it.
   */
  async function handleAction(
    action: string,
    data: unknown,
  ): Promise<ActionResult> {
    const d = data as { callId?: unknown; sealed?: unknown } | null;
    const callId = d?.callId;
    if (typeof callId !== "string" || !UUID.test(callId)) {
      return { open: "/me" };
    }
    if (action === "decline") {
      try {
        const res = await fetch(`/api/calls/${callId}/decline`, {
          method: "POST",
          credentials: "same-origin",
        });
        return { declined: res.status === 204, status: res.status };
      } catch {
        return { declined: false, status: 0 };
      }
    }
    const sealed = sealedParam(d?.sealed);
    return {
      open: `/me?answer=${callId}${sealed ? `#sealed=${sealed}` : ""}`,
    };
  }
  sw.reachHandleAction = handleAction;

  /** Shows `url` in the open /me window (focused), else in a new one. */
  async function openPage(url: string): Promise<void> {
    const windows = await sw.clients.matchAll({
      type: "window",
      includeUncontrolled: true,
    });
    const me = windows.find((c) => new URL(c.url).pathname === "/me");
    if (me) {
      try {
        await me.focus();
        if (await me.navigate(url)) return;
      } catch {
        // not controlled by this worker: open a window instead
      }
    }
    await sw.clients.openWindow(url);
  }

  sw.addEventListener("notificationclick", (e) => {
    e.notification.close();
    e.waitUntil(
      handleAction(e.action, e.notification.data).then((r) =>
        "open" in r ? openPage(r.open) : undefined
      ),
    );
  });
}

/** The shell of this build (asset() knows the build id once serving). */
function shell(): Shell {
  const urls = [
    "/offline",
    asset("/styles.css"),
    asset("/favicon.svg"),
    "/icons/icon-192.png",
    "/manifest.webmanifest",
  ];
  return { cache: "", offline: "/offline", urls };
}

let source: Promise<string> | undefined;

/** The worker's text, made once: the function called with this build's shell. */
function workerSource(): Promise<string> {
  return source ??= (async () => {
    const s = shell();
    const digest = new Uint8Array(
      await crypto.subtle.digest(
        "SHA-256",
        new TextEncoder().encode(JSON.stringify(s) + String(serviceWorker)),
      ),
    );
    s.cache = `reach-shell-${digest.slice(0, 6).toHex()}`;
    return `"use strict";\n(${serviceWorker})(${JSON.stringify(s)}, self);\n`;
  })();
}

/**
 * The worker fetches only its origin (`connect-src`; its shell cache too) and
 * its notifications show only its own icons (`img-src`).
 */
export const WORKER_CSP =
  "default-src 'none'; connect-src 'self'; img-src 'self'; frame-ancestors 'none'";

export async function handler(req: Request): Promise<Response> {
  if (req.method !== "GET" && req.method !== "HEAD") {
    return new Response(null, { status: 405, headers: { allow: "GET, HEAD" } });
  }
  return new Response(await workerSource(), {
    headers: {
      "content-type": "text/javascript; charset=utf-8",
      "cache-control": "no-cache",
      "content-security-policy": WORKER_CSP,
    },
  });
}
