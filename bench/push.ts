/**
 * Web Push costs, offline:
 *
 * 1. Server CPU per push: building N pushes (an ephemeral ECDH key, HKDF,
 *    AES-128-GCM over the 4096-byte padded record, and the VAPID header,
 *    whose ES256 JWT is signed once per push service and reused) against a
 *    bare baseline of one AES-GCM seal of the same size under an already
 *    imported key.
 * 2. A handle with 10 push subscriptions and no socket: time from the
 *    caller's `ring` frame to the `ringing` reply, and to the last of the 10
 *    pushes accepted by a loopback push-service double (which checks VAPID
 *    and decrypts each one: tests/_helpers/push_double.ts). The caller and
 *    the double run in a worker of their own, so only the server's work is
 *    on the server's thread, as in production.
 *
 *   deno run -A bench/push.ts [pushes=500] [rings=20]
 */
import process from "node:process";
import { vapidHeaders } from "@block65/webcrypto-web-push";
import { buildPush, pushTopic, setPushFetch } from "../lib/push/send.ts";
import { generateVapidKeys } from "../lib/push/vapid.ts";
import { getHub } from "../signaling/instance.ts";
import { owner, testApp } from "../tests/_helpers/app.ts";
import {
  b64u,
  newUaKeys,
  PUSH_TEST_HOST,
  PushDouble,
} from "../tests/_helpers/push_double.ts";
import {
  caller,
  device,
  type SignalClient,
} from "../tests/_helpers/signal_client.ts";

const WORKER = "push-bench-peer";
/** Both threads' clock: timeOrigin + now compares across workers. */
const clock = () => performance.timeOrigin + performance.now();

if ((self as { name?: string }).name === WORKER) {
  // The far side: the caller's socket and the push service.
  const post = (m: unknown) => (self as unknown as Worker).postMessage(m);
  let double: PushDouble | undefined;
  let alice: SignalClient | undefined;
  self.onmessage = async (e: MessageEvent) => {
    const m = e.data;
    if (m.kind === "start") {
      double = PushDouble.start({
        vapidPublicKey: m.vapidPublicKey,
        onDeliver: (d) => {
          const data = d.data as { t: string; callId: string };
          post({
            kind: "delivery",
            t: data.t,
            callId: data.callId,
            at: clock(),
          });
        },
      });
      alice = await caller(m.base);
      post({ port: double.port });
    } else if (m.kind === "subscribe") {
      const { id: _id, ...sub } = await double!.subscribe();
      post(sub);
    } else if (m.kind === "ring") {
      const sentAt = clock();
      alice!.send({ type: "ring", callId: m.callId, to: m.to });
      const r = await alice!.next("ringing", (x) => x.callId === m.callId);
      post({ sentAt, ringingAt: clock(), devices: r.devices });
    } else if (m.kind === "cancel") {
      alice!.send({ type: "cancel", callId: m.callId });
      await alice!.next("ended", (x) => x.callId === m.callId);
      post({});
    } else if (m.kind === "close") {
      await alice?.close();
      await double?.close();
      post({});
    }
  };
} else {
  await main();
}

async function main() {
  const PUSHES = Number(Deno.args[0] ?? 500);
  const RINGS = Number(Deno.args[1] ?? 20);

  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  };
  const pct = (xs: number[], p: number) => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor(s.length * p))];
  };

  /** Wall and CPU (user + system) ms of `n` sequential runs of `f`, per run. */
  async function perOp(n: number, f: () => Promise<unknown>) {
    for (let i = 0; i < Math.min(20, n); i++) await f(); // warm-up
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await f();
    const wall = (performance.now() - t0) / n;
    const c = process.cpuUsage(cpu0);
    return { wall, cpu: (c.user + c.system) / 1000 / n };
  }

  console.log(
    `Web Push bench: Deno ${Deno.version.deno}, V8 ${Deno.version.v8}, ` +
      `@block65/webcrypto-web-push 2.0.0`,
  );

  // ------------------------------------------------ 1. CPU per push built
  {
    const vapid = {
      ...generateVapidKeys(),
      subject: "mailto:bench@reach.example",
    };
    const ua = await newUaKeys();
    const target = {
      endpoint: "https://fcm.googleapis.com/fcm/send/bench",
      p256dh: b64u.encode(ua.publicKey),
      auth: b64u.encode(ua.auth),
    };
    const hmacKey = crypto.getRandomValues(new Uint8Array(32));
    const callId = crypto.randomUUID();
    let size = 0;
    const push = await perOp(PUSHES, async () => {
      const req = await buildPush(
        target,
        { t: "ring", callId, exp: Date.now() + 60_000 },
        { vapid, ttlSeconds: 60, topic: pushTopic(hmacKey, callId) },
      );
      size = req.body.length;
    });
    // The same record size AES-GCM seals: 4096 - 86 header - 16 tag.
    const plain = new Uint8Array(size - 86 - 16);
    const key = await crypto.subtle.importKey(
      "raw",
      crypto.getRandomValues(new Uint8Array(16)),
      "AES-GCM",
      false,
      ["encrypt"],
    );
    const seal = await perOp(PUSHES, () =>
      crypto.subtle.encrypt(
        { name: "AES-GCM", iv: crypto.getRandomValues(new Uint8Array(12)) },
        key,
        plain,
      ));
    // What the VAPID header costs when it is signed (once per push service an hour).
    const sign = await perOp(PUSHES, () =>
      vapidHeaders({
        endpoint: target.endpoint,
        expirationTime: null,
        keys: { p256dh: target.p256dh, auth: target.auth },
      }, vapid));
    console.log(
      `\n1. one push built: encrypted, padded, VAPID header (${PUSHES} in a row, body ${size} B)`,
    );
    console.log(
      "                             wall ms/op   cpu ms/op   per second (1 core)",
    );
    const row = (name: string, r: { wall: number; cpu: number }) =>
      console.log(
        `${name.padEnd(28)} ${r.wall.toFixed(3).padStart(10)}  ${
          r.cpu.toFixed(3).padStart(10)
        }   ${(1000 / r.cpu).toFixed(0).padStart(8)}`,
      );
    row("push (buildPush)", push);
    row("baseline AES-GCM seal", seal);
    row("VAPID JWT sign (1/h/service)", sign);
    console.log(`push / baseline (cpu): ${(push.cpu / seal.cpu).toFixed(1)}x`);
  }

  // -------------------------- 2. ring -> last of 10 pushes accepted
  const app = await testApp({ REACH_PUSH_HOSTS: PUSH_TEST_HOST });
  if (!app.config.push.enabled) throw new Error("push is off");
  const base = app.listen();
  const worker = new Worker(import.meta.url, { type: "module", name: WORKER });
  const replies: ((m: unknown) => void)[] = [];
  const accepted = new Map<string, number[]>();
  const cancels = new Map<string, number>();
  worker.onmessage = (e) => {
    const m = e.data;
    if (m.kind !== "delivery") return replies.shift()!(m);
    if (m.t === "ring") {
      const list = accepted.get(m.callId) ?? [];
      list.push(m.at);
      accepted.set(m.callId, list);
    } else cancels.set(m.callId, (cancels.get(m.callId) ?? 0) + 1);
  };
  const ask = <T>(m: unknown) =>
    new Promise<T>((resolve) => {
      replies.push(resolve as (m: unknown) => void);
      worker.postMessage(m);
    });
  const { port } = await ask<{ port: number }>({
    kind: "start",
    vapidPublicKey: app.config.push.vapid.publicKey,
    base,
  });
  setPushFetch((input, init) => {
    const url = new URL(String(input));
    if (url.host !== PUSH_TEST_HOST) throw new TypeError("not the double");
    return fetch(`http://127.0.0.1:${port}${url.pathname}`, init);
  });
  const until = async (f: () => boolean) => {
    const end = Date.now() + 10_000;
    while (!f()) {
      if (Date.now() > end) throw new Error("timed out");
      await new Promise((r) => setTimeout(r, 1));
    }
  };
  interface Rang {
    sentAt: number;
    ringingAt: number;
    devices: number;
  }
  try {
    const bob = await owner(app, "bench_push");
    for (let i = 0; i < 10; i++) {
      const sub = await ask<Record<string, unknown>>({ kind: "subscribe" });
      const r = await bob.json("/api/me/push", { method: "POST", body: sub });
      if (r.status !== 201) throw new Error(`subscribe ${r.status}`);
    }
    // Baseline: a handle with one socket device and no subscription.
    const carol = await owner(app, "bench_sock");
    await using dev = await device(base, carol);
    const socketOnly: number[] = [];
    for (let i = 0; i < RINGS + 3; i++) {
      const callId = crypto.randomUUID();
      const r = await ask<Rang>({ kind: "ring", callId, to: "bench_sock" });
      await dev.next("incoming", (m) => m.callId === callId);
      await ask({ kind: "cancel", callId });
      await dev.next("ended", (m) => m.callId === callId);
      if (i >= 3) socketOnly.push(r.ringingAt - r.sentAt);
    }
    const toRinging: number[] = [];
    const toLast: number[] = [];
    for (let i = 0; i < RINGS + 3; i++) {
      const callId = crypto.randomUUID();
      const r = await ask<Rang>({ kind: "ring", callId, to: "bench_push" });
      if (r.devices !== 10) throw new Error(`${r.devices} devices`);
      await until(() => (accepted.get(callId)?.length ?? 0) === 10);
      await ask({ kind: "cancel", callId });
      await until(() => cancels.get(callId) === 10);
      await (await getHub()).push.idle();
      if (i >= 3) { // warm-up rings are not counted
        toRinging.push(r.ringingAt - r.sentAt);
        toLast.push(Math.max(...accepted.get(callId)!) - r.sentAt);
      }
    }
    console.log(
      `\n2. a handle with 10 push subscriptions, no socket (${RINGS} rings; ` +
        "caller and push-service double in another thread)",
    );
    console.log("                               median ms   p95 ms   max ms");
    const row = (name: string, xs: number[]) =>
      console.log(
        `${name.padEnd(30)} ${median(xs).toFixed(1).padStart(9)} ${
          pct(xs, 0.95).toFixed(1).padStart(8)
        } ${Math.max(...xs).toFixed(1).padStart(8)}`,
      );
    row("baseline: 1 socket, no push", socketOnly);
    row("ring -> ringing reply", toRinging);
    row("ring -> 10th push accepted", toLast);
  } finally {
    await app[Symbol.asyncDispose]();
    setPushFetch(null);
    await ask({ kind: "close" });
    worker.terminate();
  }
}
