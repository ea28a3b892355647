import assert from "node:assert/strict";
import {
  type Bus,
  type BusMessage,
  BusMessageTooLargeError,
  MAX_MESSAGE_BYTES,
  utf8Fits,
  utf8Length,
} from "@/signaling/bus.ts";
import { BROADCAST_CHANNEL_NAME } from "@/signaling/bus_broadcast.ts";
import { createBus } from "@/signaling/bus_factory.ts";
import { KvBus } from "@/signaling/bus_kv.ts";
import type { WorkerCommand, WorkerEvent } from "../_helpers/bus_worker.ts";

type Kind = "broadcast" | "kv";
const KINDS: Kind[] = ["broadcast", "kv"];
const HELPER = new URL("../_helpers/bus_worker.ts", import.meta.url);
/** Topics of this file, apart from any other test file's BroadcastChannel traffic (`--parallel`
 * runs test files as workers of one process). */
const NS = `bus-test-${crypto.randomUUID().slice(0, 8)}:`;
const T = NS + "t";

/** n buses of one kind (kv: all on one KV file), closed (and the file removed) afterwards. */
async function withBuses(
  kind: Kind,
  n: number,
  fn: (buses: Bus[], kv: Deno.Kv | undefined) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  const kv = kind === "kv" ? await Deno.openKv(`${dir}/kv.sqlite3`) : undefined;
  const buses = Array.from({ length: n }, () => createBus(kind, { kv }));
  try {
    await fn(buses, kv);
  } finally {
    for (const b of buses) await b.close();
    kv?.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Resolves when every subscribe/unsubscribe so far is visible to other instances. */
const ready = (bus: Bus) =>
  (bus as unknown as { ready(): Promise<void> }).ready();

/** Records a topic's deliveries on one bus; `until(n)` waits for the n-th. */
function collect(bus: Bus, topic: string) {
  const got: BusMessage[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const unsubscribe = bus.subscribe(topic, (m) => {
    got.push(m);
    for (const w of waiters.filter((w) => got.length >= w.n)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  return {
    got,
    unsubscribe,
    until(n: number): Promise<void> {
      if (got.length >= n) return Promise.resolve();
      const { promise, resolve } = Promise.withResolvers<void>();
      waiters.push({ n, resolve });
      return promise;
    },
  };
}

for (const kind of KINDS) {
  Deno.test(`bus(${kind}): the publisher's own subscribers get each message once, as a copy, after publish returns`, () =>
    withBuses(kind, 1, async ([bus]) => {
      assert.equal(bus.kind, kind);
      const c = collect(bus, NS + "device:bob");
      const msg = { type: "ring", n: 1, nested: { a: [1, 2] } };
      let inPublish = true;
      let deliveredInPublish = false;
      bus.subscribe(NS + "device:bob", () => deliveredInPublish ||= inPublish);
      const p = bus.publish(NS + "device:bob", msg);
      inPublish = false;
      await p;
      await bus.publish(NS + "device:bob", { type: "end" });
      await c.until(2);
      assert.deepEqual(c.got, [msg, { type: "end" }]);
      assert.notEqual(c.got[0], msg);
      assert.equal(deliveredInPublish, false);
    }));

  Deno.test(`bus(${kind}): other bus instances in the same isolate receive, once each`, () =>
    withBuses(kind, 3, async ([a, b, c]) => {
      const ca = collect(a, T), cb = collect(b, T), cc = collect(c, T);
      await Promise.all([a, b, c].map(ready));
      await a.publish(T, { from: "a" });
      await b.publish(T, { from: "b" });
      await c.publish(T, { from: "c" });
      await Promise.all([ca.until(3), cb.until(3), cc.until(3)]);
      // One more round: anything duplicated would have had to come before these.
      for (const bus of [a, b, c]) await bus.publish(T, { from: "fin" });
      await Promise.all([ca.until(6), cb.until(6), cc.until(6)]);
      for (const got of [ca.got, cb.got, cc.got]) {
        const froms = got.map((m) => m.from);
        assert.deepEqual(froms.slice(0, 3).sort(), ["a", "b", "c"]);
        assert.deepEqual(froms.slice(3), ["fin", "fin", "fin"]);
      }
    }));

  Deno.test(`bus(${kind}): unsubscribe stops delivery, locally and remotely`, () =>
    withBuses(kind, 2, async ([a, b], kv) => {
      const localGone: BusMessage[] = [], remoteGone: BusMessage[] = [];
      const offLocal = a.subscribe(T, (m) => localGone.push(m));
      const offRemote = b.subscribe(T, (m) => remoteGone.push(m));
      const stay = collect(b, T);
      await Promise.all([ready(a), ready(b)]);
      // Queued but not yet delivered: unsubscribing still stops it.
      const p = a.publish(T, { n: 0 });
      offLocal();
      offLocal(); // idempotent
      await p;
      await stay.until(1);
      offRemote();
      await ready(b);
      await a.publish(T, { n: 1 });
      await stay.until(2);
      assert.deepEqual(localGone, []);
      assert.deepEqual(remoteGone, [{ n: 0 }]);
      assert.deepEqual(stay.got, [{ n: 0 }, { n: 1 }]);
      if (kv) {
        // a no longer has handlers for "t": its subscription entry is gone, b's remains.
        await ready(a);
        const subs = await Array.fromAsync(
          kv.list({ prefix: ["bus_sub", T] }),
        );
        assert.deepEqual(subs.map((e) => e.key[2]), [
          (b as KvBus).instanceId,
        ]);
        stay.unsubscribe();
        await ready(b);
        assert.equal(
          (await Array.fromAsync(kv.list({ prefix: ["bus_sub"] }))).length,
          0,
        );
      }
    }));

  Deno.test(`bus(${kind}): several handlers on one topic each get every message`, () =>
    withBuses(kind, 2, async ([a, b]) => {
      const cs = [collect(a, T), collect(a, T), collect(b, T)];
      const same: BusMessage[] = [];
      const handler = (m: BusMessage) => same.push(m);
      const off1 = b.subscribe(T, handler);
      b.subscribe(T, handler); // the same function twice is two subscriptions
      await Promise.all([ready(a), ready(b)]);
      await a.publish(T, { n: 1 });
      await b.publish(T, { n: 2 });
      await Promise.all(cs.map((c) => c.until(2)));
      for (const c of cs) {
        assert.deepEqual(c.got.map((m) => m.n).sort(), [1, 2]);
      }
      assert.equal(same.length, 4);
      off1();
      await b.publish(T, { n: 3 });
      await Promise.all(cs.map((c) => c.until(3)));
      assert.deepEqual(same.slice(4), [{ n: 3 }]);
    }));

  Deno.test(`bus(${kind}): 200 messages arrive in publish order, locally and remotely`, () =>
    withBuses(kind, 2, async ([a, b]) => {
      const local = collect(a, NS + "call:1:callee"),
        remote = collect(b, NS + "call:1:callee");
      await Promise.all([ready(a), ready(b)]);
      const sends = [];
      for (let i = 0; i < 200; i++) {
        sends.push(a.publish(NS + "call:1:callee", { i }));
      }
      await Promise.all(sends);
      await Promise.all([local.until(200), remote.until(200)]);
      const want = Array.from({ length: 200 }, (_, i) => i);
      assert.deepEqual(local.got.map((m) => m.i), want);
      assert.deepEqual(remote.got.map((m) => m.i), want);
    }));

  Deno.test(`bus(${kind}): no leakage between topics, including prefixes of one another`, () =>
    withBuses(kind, 2, async ([a, b]) => {
      const topics = [
        NS + "device:bo",
        NS + "device:bob",
        NS + "device:bobby",
        NS + "call:x:caller",
      ];
      const cs = topics.map((t) => [collect(a, t), collect(b, t)] as const);
      await Promise.all([ready(a), ready(b)]);
      for (const t of topics) await a.publish(t, { t });
      await a.publish(NS + "unsubscribed", { t: "none" });
      for (const t of topics) await b.publish(t, { t });
      await Promise.all(cs.flat().map((c) => c.until(2)));
      await a.publish(NS + "device:bo", { fin: true });
      await Promise.all(cs[0].map((c) => c.until(3)));
      topics.forEach((t, i) => {
        for (const c of cs[i]) {
          assert.deepEqual(c.got.slice(0, 2), [{ t }, { t }]);
          if (i > 0) assert.equal(c.got.length, 2);
        }
      });
    }));

  Deno.test(`bus(${kind}): close releases resources; later use is refused`, async () => {
    const dir = await Deno.makeTempDir();
    const kv = kind === "kv"
      ? await Deno.openKv(`${dir}/kv.sqlite3`)
      : undefined;
    try {
      const a = createBus(kind, { kv }), b = createBus(kind, { kv });
      const cb = collect(b, T);
      a.subscribe(T, () => {});
      await Promise.all([ready(a), ready(b)]);
      await a.publish(T, { n: 1 });
      await cb.until(1);
      await b.close();
      await b.close(); // idempotent
      await assert.rejects(b.publish(T, { n: 2 }), /closed/);
      assert.throws(() => b.subscribe(T, () => {}), /closed/);
      await a.publish(T, { n: 3 });
      await a.close();
      assert.deepEqual(cb.got, [{ n: 1 }]);
      if (kv) {
        // Nothing of either bus left behind but head keys (which expire).
        assert.deepEqual(
          await Array.fromAsync(kv.list({ prefix: ["bus_sub"] })),
          [],
        );
        assert.deepEqual(
          await Array.fromAsync(kv.list({ prefix: ["bus_inbox"] })),
          [],
        );
      }
      // The sanitizers then check no watch, channel or timer outlived close().
    } finally {
      kv?.close();
      await Deno.remove(dir, { recursive: true });
    }
  });

  Deno.test(`bus(${kind}): messages over the size limit are refused; one at the limit is delivered`, () =>
    withBuses(kind, 2, async ([a, b]) => {
      const c = collect(b, T);
      await ready(b);
      // Two-byte characters: 60 KiB of UTF-8 JSON, all of it crossing to b.
      const big = { s: "é".repeat((MAX_MESSAGE_BYTES - 8) / 2) };
      assert.equal(
        new TextEncoder().encode(JSON.stringify(big)).length,
        MAX_MESSAGE_BYTES,
      );
      await a.publish(T, big);
      await assert.rejects(
        a.publish(T, { s: big.s + "x" }),
        (err: unknown) =>
          err instanceof BusMessageTooLargeError &&
          /limit is 61440/.test(err.message),
      );
      await assert.rejects(
        a.publish(T, [1] as unknown as BusMessage),
        TypeError,
      );
      await assert.rejects(a.publish("", {}), TypeError);
      await a.publish(T, { n: 2 });
      await c.until(2);
      assert.deepEqual(c.got, [big, { n: 2 }]);
    }));
}

Deno.test("bus: byte counts agree with TextEncoder, and the length bounds decide without it", () => {
  const enc = new TextEncoder();
  const units = ["a", "é", "€", "😀", "\ud800", "\udc00", "\u007f", "\u0080"];
  let seed = 7;
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  for (let i = 0; i < 3000; i++) {
    let s = "";
    const n = Math.floor(rnd() * 40);
    for (let j = 0; j < n; j++) s += units[Math.floor(rnd() * units.length)];
    const bytes = enc.encode(s).length;
    assert.equal(utf8Length(s), bytes, JSON.stringify(s));
    for (const max of [0, 1, 3, bytes - 1, bytes, bytes + 1, 60]) {
      if (max < 0) continue;
      assert.equal(
        utf8Fits(s, max),
        bytes <= max,
        `${JSON.stringify(s)} ${max}`,
      );
    }
  }
});

for (const kind of KINDS) {
  Deno.test(`bus(${kind}): text handlers get the publisher's JSON text as it is; object handlers a parsed copy`, () =>
    withBuses(kind, 2, async ([a, b]) => {
      const texts: string[] = [], remote: string[] = [];
      a.subscribeText(T, (json) => texts.push(json));
      const objects = collect(a, T);
      b.subscribeText(T, (json) => remote.push(json));
      await Promise.all([ready(a), ready(b)]);
      // Not canonical JSON on purpose: nothing re-encodes it.
      const json = '{"b":1,  "a":"\\u00e9"}';
      await a.publishText(T, json);
      await a.publish(T, { n: 2 });
      await objects.until(2);
      assert.deepEqual(texts, [json, '{"n":2}']);
      assert.deepEqual(objects.got, [{ b: 1, a: "é" }, { n: 2 }]);
      while (remote.length < 2) await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual(remote, [json, '{"n":2}']);
      await assert.rejects(a.publishText(T, "[1]"), TypeError);
      await assert.rejects(
        a.publishText(T, `{"s":"${"x".repeat(MAX_MESSAGE_BYTES)}"}`),
        BusMessageTooLargeError,
      );
    }));

  Deno.test(`bus(${kind}): a sole topic held here is delivered here and told to no one else`, async () => {
    const dir = await Deno.makeTempDir();
    const kv = kind === "kv"
      ? await Deno.openKv(`${dir}/kv.sqlite3`)
      : undefined;
    // What leaves this bus: channel posts (broadcast) or KV writes (kv).
    const posted: string[] = [];
    const spy = new BroadcastChannel(BROADCAST_CHANNEL_NAME);
    spy.onmessage = (e: MessageEvent<{ t: string }[]>) => {
      for (const w of e.data) if (w.t.startsWith(NS)) posted.push(w.t);
    };
    let atomics = 0;
    const counted = kv && new Proxy(kv, {
      get(t, p) {
        if (p === "atomic") {
          return () => (atomics++, t.atomic());
        }
        const v = Reflect.get(t, p);
        return typeof v === "function" ? v.bind(t) : v;
      },
    });
    const a = createBus(kind, { kv: counted }), b = createBus(kind, { kv });
    try {
      const here = NS + "conn:here", there = NS + "conn:there";
      const local = collect(a, here);
      // A second holder breaks the promise a sole topic makes: it shows
      // that nothing was sent out.
      const elsewhere = collect(b, here);
      const remote = collect(b, there);
      await Promise.all([ready(a), ready(b)]);
      const before = atomics;
      await a.publishText(here, '{"n":1}', { sole: true });
      await local.until(1);
      // Not held here: it goes out, to the one holder.
      await a.publishText(there, '{"n":2}', { sole: true });
      await remote.until(1);
      assert.deepEqual(remote.got, [{ n: 2 }]);
      // Without `sole`, a topic held here is still told to everyone.
      await a.publish(here, { n: 3 });
      await elsewhere.until(1);
      assert.deepEqual(local.got, [{ n: 1 }, { n: 3 }]);
      assert.deepEqual(elsewhere.got, [{ n: 3 }], "the sole message stayed");
      if (kind === "broadcast") assert.deepEqual(posted, [there, here]);
      else assert.equal(atomics - before, 2, "one write each for 2 and 3");
    } finally {
      spy.close();
      await a.close();
      await b.close();
      kv?.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("bus(kv): a burst is written in a few atomics and arrives complete and in order; a sole topic's holder is remembered", async () => {
  const dir = await Deno.makeTempDir();
  const kv = await Deno.openKv(`${dir}/kv.sqlite3`);
  const calls = { atomic: 0, list: 0 };
  const counted = new Proxy(kv, {
    get(t, p) {
      if (p === "atomic" || p === "list") {
        const f = Reflect.get(t, p) as (...args: unknown[]) => unknown;
        return (...args: unknown[]) => (calls[p]++, f.apply(t, args));
      }
      const v = Reflect.get(t, p);
      return typeof v === "function" ? v.bind(t) : v;
    },
  });
  const a = new KvBus(counted), b = new KvBus(kv);
  try {
    const topics = Array.from({ length: 1000 }, (_, i) => `${NS}conn:${i}`);
    const got: number[][] = topics.map(() => []);
    topics.forEach((t, i) => b.subscribe(t, (m) => got[i].push(m.r as number)));
    await ready(b);
    const before = { ...calls };
    // Two rounds of one message per topic, published at once (like a
    // candidate for each of 1000 calls).
    await Promise.all(
      [0, 1].flatMap((r) =>
        topics.map((t) => a.publishText(t, `{"r":${r}}`, { sole: true }))
      ),
    );
    const atomics = calls.atomic - before.atomic;
    const lists = calls.list - before.list;
    while (got.some((g) => g.length < 2)) {
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const g of got) assert.deepEqual(g, [0, 1]);
    // 2000 messages: far fewer atomics than messages (packed per instance
    // and per batch), and each sole topic looked up once.
    assert.ok(atomics <= 20, `${atomics} atomics for 2000 messages`);
    assert.equal(lists, 1000, "each sole topic's holder looked up once");
    await a.publishText(topics[0], '{"r":2}', { sole: true });
    assert.equal(calls.list - before.list, 1000, "and then remembered");
    // Large messages are split across entries and atomics, still in order.
    const big = "x".repeat(50 * 1024);
    await Promise.all(
      Array.from(
        { length: 30 },
        (_, i) => a.publish(topics[1], { r: 10 + i, big }),
      ),
    );
    while (got[1].length < 32) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(
      got[1].slice(2),
      Array.from({ length: 30 }, (_, i) => 10 + i),
    );
  } finally {
    await a.close();
    await b.close();
    kv.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/** A bus_worker.ts Web Worker, with the events it has sent so far. */
class Peer {
  readonly events: WorkerEvent[] = [];
  readonly worker = new Worker(HELPER, { type: "module" });
  #checks: {
    pred: () => boolean;
    resolve: () => void;
    reject: (e: Error) => void;
  }[] = [];
  #failed: Error | null = null;

  constructor(readonly name: string) {
    this.worker.onmessage = (e: MessageEvent<WorkerEvent>) => {
      this.events.push(e.data);
      if (e.data.ev === "error") this.#fail(new Error(e.data.error));
      this.#run();
    };
    this.worker.onerror = (e) => {
      e.preventDefault();
      this.#fail(new Error(`worker ${name}: ${e.message}`));
    };
  }

  #fail(err: Error) {
    this.#failed = err;
    for (const c of this.#checks.splice(0)) c.reject(err);
  }

  #run() {
    for (const c of this.#checks.filter((c) => c.pred())) {
      this.#checks.splice(this.#checks.indexOf(c), 1);
      c.resolve();
    }
  }

  until(pred: () => boolean): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    if (pred()) return Promise.resolve();
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#checks.push({ pred, resolve, reject });
    return promise;
  }

  count(ev: WorkerEvent["ev"]): number {
    return this.events.filter((e) => e.ev === ev).length;
  }

  /** Sends a command and waits for the answering event. */
  request(cmd: WorkerCommand, answer: WorkerEvent["ev"]): Promise<void> {
    const n = this.count(answer);
    this.worker.postMessage(cmd);
    return this.until(() => this.count(answer) > n);
  }

  msgs(topic?: string): BusMessage[] {
    return this.events.flatMap((e) =>
      e.ev === "msg" && (!topic || e.topic === topic) ? [e.msg] : []
    );
  }

  async stop(): Promise<void> {
    try {
      if (!this.#failed) await this.request({ cmd: "close" }, "closed");
    } finally {
      this.worker.terminate();
    }
  }
}

async function withPeers(
  kind: Kind,
  names: string[],
  topics: string[],
  fn: (peers: Peer[], kvPath: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  const kvPath = `${dir}/kv.sqlite3`;
  // Create the file first: workers creating one SQLite file at the same
  // moment can be told "database is locked" on a busy machine.
  (await Deno.openKv(kvPath)).close();
  const peers = names.map((n) => new Peer(n));
  try {
    await Promise.all(peers.map((p) =>
      p.request(
        { cmd: "start", kind, kvPath, name: p.name, topics },
        "ready",
      )
    ));
    await fn(peers, kvPath);
  } finally {
    for (const p of peers) await p.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

for (const kind of KINDS) {
  Deno.test(`bus(${kind}): 3 workers each get every worker's messages exactly once, in order`, () =>
    withPeers(kind, ["w1", "w2", "w3"], [NS + "all"], async (peers) => {
      const N = 50;
      await Promise.all(peers.map((p) => {
        const msgs: BusMessage[] = Array.from(
          { length: N },
          (_, i) => ({ from: p.name, i }),
        );
        msgs.push({ from: p.name, fin: true });
        return p.request(
          { cmd: "publish", topic: NS + "all", msgs },
          "published",
        );
      }));
      // A publisher's fin comes after all its other messages, so once a worker has every fin
      // it has every message; a duplicate would already show in the counts.
      await Promise.all(
        peers.map((p) =>
          p.until(() => p.msgs(NS + "all").filter((m) => m.fin).length === 3)
        ),
      );
      for (const p of peers) {
        const got = p.msgs(NS + "all");
        assert.equal(got.length, 3 * (N + 1), p.name);
        for (const from of ["w1", "w2", "w3"]) {
          const mine = got.filter((m) => m.from === from);
          assert.deepEqual(
            mine.map((m) => m.i ?? "fin"),
            [...Array.from({ length: N }, (_, i) => i), "fin"],
            `${p.name} from ${from}`,
          );
        }
      }
    }));

  Deno.test(`bus(${kind}): main thread and workers echo through the bus`, () =>
    withPeers(
      kind,
      ["w1", "w2"],
      [NS + "to:workers"],
      async (peers, kvPath) => {
        const kv = kind === "kv" ? await Deno.openKv(kvPath) : undefined;
        const bus = createBus(kind, { kv });
        try {
          const echoes = collect(bus, NS + "echo:main");
          await ready(bus);
          await bus.publish(NS + "to:workers", {
            echoTo: NS + "echo:main",
            n: 1,
          });
          await bus.publish(NS + "to:workers", {
            echoTo: NS + "echo:main",
            n: 2,
          });
          await echoes.until(4);
          for (const by of ["w1", "w2"]) {
            assert.deepEqual(
              echoes.got.filter((m) => m.by === by).map((m) =>
                (m.echo as BusMessage).n
              ),
              [1, 2],
            );
          }
          for (const p of peers) {
            assert.deepEqual(p.msgs().map((m) => m.n), [1, 2]);
          }
        } finally {
          await bus.close();
          kv?.close();
        }
      },
    ));
}

/** Reads newline-separated text from a child's stdout. */
function lines(stream: ReadableStream<Uint8Array>) {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  return {
    async next(): Promise<string | null> {
      while (!buf.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) return null;
        buf += decoder.decode(value, { stream: true });
      }
      const i = buf.indexOf("\n");
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      return line;
    },
    async rest(): Promise<void> {
      while (!(await reader.read()).done) { /* drain */ }
    },
  };
}

Deno.test("bus(kv): two OS processes on one SQLite file exchange messages exactly once, in order (polling, since watch does not cross processes)", async () => {
  const dir = await Deno.makeTempDir();
  // Create the database first: two processes creating one SQLite file at the
  // same instant can see "database is locked".
  (await Deno.openKv(`${dir}/kv.sqlite3`)).close();
  const names = ["p1", "p2"], N = 40;
  const children = names.map((name) =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--unstable-kv",
        HELPER.pathname,
        "--kv",
        `${dir}/kv.sqlite3`,
        "--name",
        name,
        "--peers",
        names.join(","),
        "--count",
        String(N),
        "--poll",
        "20",
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn()
  );
  try {
    const outs = children.map((c) => lines(c.stdout));
    for (const o of outs) assert.equal(await o.next(), "ready");
    for (const c of children) {
      const w = c.stdin.getWriter();
      await w.write(new TextEncoder().encode("go\n"));
      await w.close();
    }
    const results = [];
    for (const o of outs) {
      const line = await o.next();
      assert.ok(line, "child printed a result");
      results.push(JSON.parse(line));
      await o.rest();
    }
    for (const r of results) {
      assert.equal(r.extra, 0, r.name);
      for (const from of names) {
        assert.deepEqual(
          r.got[from],
          Array.from({ length: N }, (_, i) => i),
          `${r.name} from ${from}`,
        );
      }
    }
    for (const c of children) assert.equal((await c.status).code, 0);
  } finally {
    for (const c of children) {
      try {
        c.kill();
      } catch { /* already exited */ }
      await c.status;
    }
    await Deno.remove(dir, { recursive: true });
  }
});
