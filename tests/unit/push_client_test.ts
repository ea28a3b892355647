/**
 * "Ring this device even when Reach is closed" without a browser
 * (lib/client/push.ts): a fake service-worker container and push manager,
 * a fake Reach behind `fetch`, a fake clock. Permission refused, a push
 * service that never answers, a rotated VAPID key, the list and its Remove;
 * /me?answer=<callId> (answerLink in lib/client/call/incoming.ts); and the
 * service worker's ring (routes/sw.js.ts), which names no one.
 */
import assert from "node:assert/strict";
import {
  deviceName,
  fromBase64Url,
  PUSH_TEXT,
  type PushDeps,
  type PushDevice,
  type RegistrationLike,
  RingAnywhere,
  type SubscriptionLike,
  type WorkersLike,
} from "@/lib/client/push.ts";
import {
  answerLink,
  type IncomingCall,
  LINK_WAIT_MS,
} from "@/lib/client/call/incoming.ts";
import type { SignalClient, SignalListener } from "@/lib/client/signal.ts";
import type { ServerMessage } from "@/signaling/protocol.ts";
import { serviceWorker } from "@/routes/sw.js.ts";

const b64u = (b: Uint8Array) =>
  b.toBase64({ alphabet: "base64url", omitPadding: true });
/** The state's kind, read afresh (no narrowing from an earlier assert). */
const kindOf = (r: RingAnywhere): string => r.state.kind;
const tick = () => new Promise((r) => setTimeout(r, 0));
const UA =
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";

class FakeSub implements SubscriptionLike {
  options: { applicationServerKey: ArrayBuffer | null };
  unsubscribed = false;
  constructor(
    readonly endpoint: string,
    key: Uint8Array,
    private mgr: FakePushManager,
  ) {
    this.options = { applicationServerKey: key.slice().buffer };
  }
  toJSON() {
    return {
      endpoint: this.endpoint,
      expirationTime: null,
      keys: { p256dh: "P".repeat(87), auth: "A".repeat(22) },
    };
  }
  unsubscribe() {
    this.unsubscribed = true;
    if (this.mgr.current === this) this.mgr.current = null;
    return Promise.resolve(true);
  }
}

class FakePushManager {
  current: FakeSub | null = null;
  /** The keys subscribe() was called with. */
  calls: Uint8Array[] = [];
  hang = false;
  fail: Error | null = null;
  private n = 0;
  subscribe(o: { applicationServerKey: BufferSource }): Promise<FakeSub> {
    const key = new Uint8Array(o.applicationServerKey as Uint8Array);
    this.calls.push(key);
    if (this.hang) return new Promise(() => {});
    if (this.fail) return Promise.reject(this.fail);
    this.current = new FakeSub(
      `https://push.test/push/${++this.n}`,
      key,
      this,
    );
    return Promise.resolve(this.current);
  }
  getSubscription() {
    return Promise.resolve(this.current);
  }
}

class FakeWorkers implements WorkersLike {
  registered: string[] = [];
  pushManager = new FakePushManager();
  reg: RegistrationLike = { pushManager: this.pushManager };
  register(url: string) {
    this.registered.push(url);
    return Promise.resolve(this.reg);
  }
  getRegistration() {
    return Promise.resolve(this.registered.length ? this.reg : undefined);
  }
  get ready() {
    return Promise.resolve(this.reg);
  }
}

/** Reach's push API, in memory. */
class FakeReach {
  key = crypto.getRandomValues(new Uint8Array(65));
  enabled = true;
  subs: (PushDevice & { endpoint: string })[] = [];
  posts: Record<string, unknown>[] = [];
  deletes: string[] = [];
  private n = 0;
  fetch = (url: string, init?: RequestInit): Promise<Response> => {
    const method = init?.method ?? "GET";
    const json = (status: number, body?: unknown) =>
      Promise.resolve(
        new Response(body === undefined ? null : JSON.stringify(body), {
          status,
        }),
      );
    if (url === "/api/push/key") {
      return this.enabled
        ? json(200, { publicKey: b64u(this.key) })
        : json(404, { error: "push_disabled", message: "off" });
    }
    if (url === "/api/me/push" && method === "GET") {
      return json(200, {
        subscriptions: this.subs.map(({ endpoint: _, ...v }) => v),
      });
    }
    if (url === "/api/me/push" && method === "POST") {
      const body = JSON.parse(String(init!.body));
      this.posts.push(body);
      const same = this.subs.find((s) => s.endpoint === body.endpoint);
      if (same) {
        same.name = body.name;
        return json(200, { id: same.id });
      }
      const id = String(++this.n).padStart(32, "0");
      this.subs.push({
        id,
        endpoint: body.endpoint,
        name: body.name,
        createdAt: 1_700_000_000_000 + this.n,
        lastRungAt: null,
      });
      return json(201, { id });
    }
    const del = /^\/api\/me\/push\/(.+)$/.exec(url);
    if (del && method === "DELETE") {
      this.deletes.push(del[1]);
      const before = this.subs.length;
      this.subs = this.subs.filter((s) => s.id !== del[1]);
      return json(this.subs.length < before ? 204 : 404);
    }
    return json(404, { error: "not_found", message: url });
  };
}

function setup(opts: {
  permission?: NotificationPermission;
  answer?: NotificationPermission;
  supported?: boolean;
} = {}) {
  const workers = new FakeWorkers();
  const reach = new FakeReach();
  const store = new Map<string, string>();
  let permission = opts.permission ?? "granted";
  const asked: number[] = [];
  const deps: PushDeps = {
    workers: opts.supported === false ? null : workers,
    permission: () => permission,
    requestPermission: () => {
      asked.push(1);
      permission = opts.answer ?? "granted";
      return Promise.resolve(permission);
    },
    fetch: reach.fetch,
    // Every wait runs out at once, after what is already settled.
    clock: {
      after(_ms, f) {
        const t = setTimeout(f, 5);
        return () => clearTimeout(t);
      },
    },
    store: {
      getItem: (k) => store.get(k) ?? null,
      setItem: (k, v) => void store.set(k, v),
    },
    userAgent: UA,
  };
  return { workers, reach, store, asked, deps, ring: new RingAnywhere(deps) };
}

Deno.test("push client: turning on asks, registers /sw.js, subscribes with the server's key and lists this browser", async () => {
  const { ring, workers, reach, asked } = setup({ permission: "default" });
  await ring.init();
  assert.equal(kindOf(ring), "off");
  const steps: string[] = [];
  ring.listen((s) => s.kind === "busy" && steps.push(s.step));
  await ring.enable(ring.name);
  assert.equal(ring.error, "");
  assert.equal(kindOf(ring), "on");
  assert.equal(asked.length, 1, "permission asked once");
  assert.deepEqual(workers.registered, ["/sw.js"]);
  assert.deepEqual(workers.pushManager.calls, [reach.key]);
  assert.equal(reach.posts.length, 1);
  assert.deepEqual(reach.posts[0], {
    endpoint: "https://push.test/push/1",
    expirationTime: null,
    keys: { p256dh: "P".repeat(87), auth: "A".repeat(22) },
    name: "Chrome on Linux",
  });
  assert.equal(ring.deviceId, reach.subs[0].id);
  assert.deepEqual(ring.devices.map((d) => d.name), ["Chrome on Linux"]);
  assert.ok(steps.length >= 3, "each wait says what it waits for");
});

Deno.test("push client: notifications refused: a clear message, nothing registered or subscribed", async () => {
  for (
    const [permission, answer, text] of [
      ["denied", undefined, PUSH_TEXT.denied],
      ["default", "denied", PUSH_TEXT.denied],
      ["default", "default", PUSH_TEXT.dismissed],
    ] as const
  ) {
    const { ring, workers, reach } = setup({ permission, answer });
    await ring.init();
    await ring.enable("Laptop");
    assert.equal(kindOf(ring), "off");
    assert.equal(ring.error, text);
    assert.deepEqual(workers.registered, []);
    assert.equal(reach.posts.length, 0);
  }
});

Deno.test("push client: a push service that never answers times out with its message", async () => {
  const { ring, workers, reach } = setup();
  workers.pushManager.hang = true;
  await ring.init();
  const t0 = performance.now();
  await ring.enable("Laptop");
  assert.ok(performance.now() - t0 < 2000, "the wait is bounded");
  assert.equal(kindOf(ring), "off");
  assert.equal(
    ring.error,
    "Your browser's push service did not answer; try again later.",
  );
  assert.equal(reach.posts.length, 0);
  // A refusal by the browser is said too.
  workers.pushManager.hang = false;
  workers.pushManager.fail = new DOMException(
    "push service error",
    "AbortError",
  );
  await ring.enable("Laptop");
  assert.match(ring.error, /could not subscribe.*push service error/);
  // And it works once the push service answers.
  workers.pushManager.fail = null;
  await ring.enable("Laptop");
  assert.equal(kindOf(ring), "on");
  assert.equal(ring.error, "");
});

Deno.test("push client: unsupported browsers and servers with push off say so", async () => {
  const a = setup({ supported: false });
  await a.ring.init();
  assert.equal(kindOf(a.ring), "unsupported");
  await a.ring.enable("x");
  assert.equal(a.ring.error, PUSH_TEXT.unsupported);

  const b = setup();
  b.reach.enabled = false;
  await b.ring.init();
  await b.ring.enable("x");
  assert.equal(kindOf(b.ring), "off");
  assert.equal(b.ring.error, PUSH_TEXT.disabled);
  assert.equal(b.workers.pushManager.calls.length, 0);
});

Deno.test("push client: a changed VAPID key renews the subscription on load (bytes compared)", async () => {
  const { ring, workers, reach, deps } = setup();
  await ring.init();
  await ring.enable("Laptop");
  const first = workers.pushManager.current!;
  const oldId = ring.deviceId!;

  // Same key: a fresh page load leaves the subscription alone.
  const again = new RingAnywhere(deps);
  await again.init();
  assert.equal(kindOf(again), "on");
  assert.equal(workers.pushManager.calls.length, 1);

  // The server's key changed (rotated): unsubscribe, subscribe with the new
  // key, send it under the same name, drop the dead record.
  reach.key = crypto.getRandomValues(new Uint8Array(65));
  const later = new RingAnywhere(deps);
  await later.init();
  assert.equal(kindOf(later), "on");
  assert.equal(later.error, "");
  assert.ok(first.unsubscribed, "the old subscription is gone");
  assert.equal(workers.pushManager.calls.length, 2);
  assert.deepEqual(workers.pushManager.calls[1], reach.key);
  assert.deepEqual(
    new Uint8Array(workers.pushManager.current!.options.applicationServerKey!),
    reach.key,
  );
  assert.equal(reach.posts.at(-1)!.name, "Laptop");
  assert.deepEqual(reach.deletes, [oldId]);
  assert.deepEqual(reach.subs.map((s) => s.id), [later.deviceId]);
});

Deno.test("push client: the list, Remove for another browser and for this one, and rename", async () => {
  const { ring, workers, reach } = setup();
  // Another browser of the owner rings already.
  reach.subs.push({
    id: "f".repeat(32),
    endpoint: "https://push.test/push/other",
    name: "Phone",
    createdAt: 1,
    lastRungAt: 2,
  });
  await ring.init();
  assert.deepEqual(ring.devices.map((d) => d.name), ["Phone"]);
  assert.equal(kindOf(ring), "off");
  await ring.enable("Laptop");
  assert.deepEqual(ring.devices.map((d) => d.name), ["Phone", "Laptop"]);

  await ring.rename("Work laptop");
  assert.equal(kindOf(ring), "on");
  assert.deepEqual(ring.devices.map((d) => d.name), ["Phone", "Work laptop"]);
  assert.equal(ring.name, "Work laptop");
  assert.equal(reach.subs.length, 2, "renaming replaces, never adds");

  await ring.remove("f".repeat(32));
  assert.deepEqual(ring.devices.map((d) => d.name), ["Work laptop"]);
  assert.equal(kindOf(ring), "on", "removing another leaves this one");
  assert.ok(workers.pushManager.current, "still subscribed here");

  await ring.remove(ring.deviceId!);
  assert.deepEqual(ring.devices, []);
  assert.equal(kindOf(ring), "off");
  assert.equal(ring.deviceId, null);
  assert.equal(workers.pushManager.current, null, "unsubscribed here too");

  // Turning it off is removing this browser.
  await ring.enable("Laptop");
  await ring.disable();
  assert.equal(kindOf(ring), "off");
  assert.deepEqual(reach.subs, []);
});

Deno.test("push client: default device names from the user agent", () => {
  assert.equal(deviceName(UA), "Chrome on Linux");
  assert.equal(
    deviceName(
      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 Edg/120.0",
    ),
    "Edge on Windows",
  );
  assert.equal(
    deviceName(
      "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:121.0) Gecko/20100101 Firefox/121.0",
    ),
    "Firefox on macOS",
  );
  assert.equal(
    deviceName(
      "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    ),
    "Safari on iOS",
  );
  assert.equal(
    deviceName(
      "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36",
    ),
    "Chrome on Android",
  );
  assert.deepEqual(
    fromBase64Url("AQID_-8"),
    new Uint8Array([1, 2, 3, 255, 239]),
  );
});

// ------------------------------------------------ /me?answer=<callId>

class FakeSignal implements SignalClient {
  listeners = new Set<SignalListener>();
  send() {}
  listen(l: SignalListener) {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  close() {}
  deliver(m: ServerMessage) {
    for (const l of [...this.listeners]) l.onMessage?.(m);
  }
}

const WELCOME: ServerMessage = {
  type: "welcome",
  role: "device",
  handle: "bob",
  heartbeatMs: 15000,
  ringMs: 60000,
};
const CALL = "11111111-2222-4333-8444-555555555555";

function fakeCall(id: string) {
  const answered: number[] = [];
  return {
    answered,
    call: {
      id,
      answer: () => {
        answered.push(1);
        return Promise.resolve();
      },
    } as unknown as IncomingCall,
  };
}

function manualClock() {
  const timers: { ms: number; f: () => void; off: boolean }[] = [];
  return {
    timers,
    after(ms: number, f: () => void) {
      const t = { ms, f, off: false };
      timers.push(t);
      return () => void (t.off = true);
    },
    fire() {
      for (const t of timers.splice(0)) if (!t.off) t.f();
    },
  };
}

Deno.test("answer link: the linked call is answered once the device's keys are ready; others ring as usual", async () => {
  const signal = new FakeSignal();
  const clock = manualClock();
  let release!: () => void;
  const ready = new Promise<void>((r) => (release = r));
  const gone: number[] = [];
  const link = answerLink(signal, CALL, clock, () => ready, () => gone.push(1));
  signal.deliver(WELCOME);
  assert.equal(clock.timers[0].ms, LINK_WAIT_MS);

  const other = fakeCall("99999999-2222-4333-8444-555555555555");
  assert.equal(link.take(other.call), false);
  const mine = fakeCall(CALL);
  assert.equal(link.take(mine.call), true);
  await tick();
  assert.deepEqual(mine.answered, [], "waits for the keys (the proof)");
  release();
  await tick();
  assert.deepEqual(mine.answered, [1]);
  assert.deepEqual(other.answered, []);
  // Taken: no "no longer ringing", and a second ring of it is not taken.
  clock.fire();
  assert.deepEqual(gone, []);
  assert.equal(link.take(fakeCall(CALL).call), false);
  assert.equal(signal.listeners.size, 0, "stopped listening");
});

Deno.test("answer link: no ring after the welcome: that call is no longer ringing", () => {
  const signal = new FakeSignal();
  const clock = manualClock();
  const gone: number[] = [];
  const link = answerLink(
    signal,
    CALL,
    clock,
    () => Promise.resolve(),
    () => gone.push(1),
  );
  assert.equal(clock.timers.length, 0, "the wait starts at the welcome");
  signal.deliver(WELCOME);
  signal.deliver(WELCOME);
  assert.equal(clock.timers.length, 1);
  clock.fire();
  assert.deepEqual(gone, [1]);
  assert.equal(link.take(fakeCall(CALL).call), false, "too late");
});

// ------------------------------------------------ the service worker

/** Just enough of a worker's global scope to run the worker's push code. */
function fakeWorker() {
  const listeners = new Map<string, (e: unknown) => void>();
  const shown: { title: string; options: Record<string, unknown> }[] = [];
  const scope = {
    location: new URL("http://localhost:8000/sw.js"),
    caches: {},
    registration: {
      showNotification(title: string, options: Record<string, unknown>) {
        shown.push({ title, options });
        return Promise.resolve();
      },
      getNotifications: () => Promise.resolve([]),
    },
    clients: {},
    skipWaiting: () => Promise.resolve(),
    addEventListener(t: string, f: (e: unknown) => void) {
      listeners.set(t, f);
    },
  } as unknown as WorkerScope;
  serviceWorker({ cache: "c", offline: "/offline", urls: [] }, scope);
  return {
    scope,
    shown,
    /** Delivers one push and waits until the worker handled it. */
    async push(msg: unknown) {
      let done: Promise<unknown> = Promise.resolve();
      listeners.get("push")!({
        data: { json: () => msg },
        waitUntil: (p: Promise<unknown>) => done = p,
      });
      await done;
    },
  };
}

type WorkerScope = Parameters<typeof serviceWorker>[1];

const SEALED = {
  v: 1,
  callId: CALL,
  handle: "bob",
  iv: "aXY+aXY/aXY=",
  ct: "Y3Q=",
  recipients: [{ keyId: "k1", epk: "ZQ==", iv: "aXY=", wrapped: "dw==" }],
};

Deno.test("service worker: a ring names no one; Answer carries the sealed identity in the fragment", async () => {
  const w = fakeWorker();
  const exp = Date.now() + 60_000;
  await w.push({ t: "ring", callId: CALL, exp, sealed: SEALED });
  assert.equal(w.shown.length, 1);
  assert.equal(w.shown[0].title, "Incoming call");
  assert.deepEqual(w.shown[0].options.data, {
    callId: CALL,
    exp,
    sealed: SEALED,
  });
  const act = w.scope.reachHandleAction!;
  const { open } = await act("answer", w.shown[0].options.data) as {
    open: string;
  };
  const url = new URL(open, "http://localhost:8000");
  assert.equal(url.pathname + url.search, `/me?answer=${CALL}`);
  const m = /^#sealed=([A-Za-z0-9_-]+)$/.exec(url.hash);
  assert.ok(m, url.hash);
  assert.deepEqual(
    JSON.parse(
      new TextDecoder().decode(
        Uint8Array.fromBase64(m[1], { alphabet: "base64url" }),
      ),
    ),
    SEALED,
  );
  assert.deepEqual(await act("", w.shown[0].options.data), { open });

  // No sealed identity (an anonymous caller, or one too big to push), or a
  // server still sending `from`: still "Incoming call", and no one named.
  await w.push({ t: "ring", callId: CALL, exp, from: "alice" });
  assert.equal(w.shown[1].title, "Incoming call");
  assert.deepEqual(w.shown[1].options.data, { callId: CALL, exp });
  assert.ok(!JSON.stringify(w.shown[1]).includes("alice"));
  assert.deepEqual(await act("answer", w.shown[1].options.data), {
    open: `/me?answer=${CALL}`,
  });
  // A ring past its end is not shown.
  await w.push({ t: "ring", callId: CALL, exp: Date.now() - 1 });
  assert.equal(w.shown.length, 2);
});
