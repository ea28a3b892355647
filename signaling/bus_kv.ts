/**
 * {@link Bus} over Deno KV: per-instance inboxes, woken by `kv.watch`.
 *
 * Spans every bus instance that shares one KV: Deno Deploy, a denokv server, or one SQLite
 * file (see "What watch sees" below for the last).
 *
 * ## KV layout
 * - `["bus_sub", topic, instanceId]` → `{ at }`, expireIn {@link SUB_TTL_MS}: instance
 *   `instanceId` has handlers for `topic`. Written when a topic gains its first handler,
 *   refreshed every {@link HEARTBEAT_MS}, deleted when it loses its last handler and on
 *   `close()`. A crashed instance's entries expire on their own. Subscription writes are
 *   batched: everything (un)subscribed while the previous write commits goes in the next.
 * - `["bus_inbox", instanceId, ts, publisherId, seq]` → `{ t: topic, p: UTF-8 JSON bytes }`
 *   (one message) or `{ b: [topic, json, topic, json, …] }` (several, in publish order; each
 *   json the JSON text as a string, or its UTF-8 bytes when large),
 *   expireIn {@link INBOX_TTL_MS}: messages waiting for `instanceId`. `ts` is the
 *   publisher's clock in ms, made non-decreasing per publisher; `seq` counts the publisher's
 *   inbox entries. So one publisher's entries sort in publish order; different publishers'
 *   sort roughly by time.
 * - `["bus_head", instanceId]` → `"<publisherId>:<seq>"`, expireIn {@link INBOX_TTL_MS}:
 *   rewritten in the same atomic as the inbox writes; the instance watches only this key.
 *
 * ## Publish
 * The publisher's own subscribers are served directly, never through KV, so they receive
 * each message once and without a KV round trip; for a **sole** topic it holds (bus.ts),
 * that is all. Everything else is written in **batches**: what the bus publishes while the
 * previous batch commits goes into the next one, so a burst (a candidate for each of 1000
 * calls) costs a few atomics, not one per message. A batch finds each topic's instances
 * (`["bus_sub", topic]`, strong reads; for a sole topic the instance found is remembered
 * for {@link SOLE_CACHE_MS}, since a sole topic never moves), then writes, per instance,
 * its messages packed into as few inbox entries as KV's value limit allows and one head
 * bump, several instances per atomic, within KV's limits. Batches commit one after another,
 * which keeps publish order per publisher; `publish` resolves when its batch has committed.
 * Messages over `MAX_MESSAGE_BYTES` (60 KiB of JSON; KV values are capped at 64 KiB) are
 * rejected with `BusMessageTooLargeError`.
 *
 * ## Delivery
 * `watch` returns only the latest head value, so notifications coalesce: on each one the
 * instance drains its whole inbox, not just one message. A drain reads the inbox prefix in
 * one snapshot of at most {@link DRAIN_BATCH} entries from its start (a multi-batch listing
 * could see a publisher's later message without its earlier one), delivers in key order,
 * deletes every entry it read (without waiting, unless the snapshot was full), and repeats
 * while a notification arrived meanwhile or the batch was full. A per-publisher cursor (highest `seq` delivered) drops anything read twice
 * (an entry whose delete has not landed yet), which makes delivery at most once. Drains
 * never overlap. Each heartbeat also drains, as a safety net for a missed notification.
 *
 * ## What watch sees (measured with Deno 2.9.6 on a local SQLite file)
 * - Same process, any KV handle: `kv.watch` on one handle fires for writes made through
 *   another `Deno.openKv(samePath)` handle and from another Web Worker of the process that
 *   opened the same path. So workers of one process (e.g. `deno serve --parallel`) can each
 *   open the file and use this bus with no polling.
 * - Another OS process: `kv.watch` does NOT fire for writes made by another process to the
 *   same file (it emits the initial value and then nothing, although `kv.get` in the
 *   watching process reads the new value at once). Cross-process on one SQLite file therefore
 *   needs polling: pass `pollMs` to the {@link KvBus} constructor (not reachable through
 *   `createBus`, whose options are fixed) and each instance drains on that interval too.
 *   Without it a message from another process waits for the next heartbeat drain
 *   (≤ {@link HEARTBEAT_MS}).
 * - Deno Deploy and a denokv server run watch on the server, so it spans instances there
 *   (documented by Deno; no denokv server could be run on this machine to confirm).
 *
 * `instanceId` must be unique among the buses sharing a KV (the default is a random UUID):
 * two buses with one id would take each other's inbox.
 *
 * An instance of an older version reads only single-message entries (`{ t, p }`); this one
 * writes those whenever an instance gets one message in a batch, and reads both.
 *
 * @module
 */

import { keys } from "../lib/store/keys.ts";
import {
  type Bus,
  type BusHandler,
  type BusMessage,
  type BusTextHandler,
  checkText,
  checkTopic,
  LocalTopics,
  messageText,
  type PublishOptions,
  RESOLVED,
} from "./bus.ts";

/** Lifetime of a subscription entry unless refreshed. */
export const SUB_TTL_MS = 30_000;
/** Interval of subscription refresh (and safety drain). */
export const HEARTBEAT_MS = 10_000;
/** Lifetime of an undelivered inbox entry. */
export const INBOX_TTL_MS = 60_000;
/** Inbox entries read per drain snapshot. */
export const DRAIN_BATCH = 500;
/** How long the instance holding a sole topic is remembered. */
export const SOLE_CACHE_MS = 10_000;
/** Cursors of publishers not heard from for this long are forgotten. */
const CURSOR_TTL_MS = 10 * 60_000;
/** Per-atomic caps, below Deno KV's (1000 mutations, 800 KiB). */
const ATOMIC_MAX_MUTATIONS = 200;
const ATOMIC_MAX_BYTES = 512 * 1024;
/** Payload bytes packed into one inbox entry (KV values are capped at 64 KiB). */
const ENTRY_MAX_BYTES = 60 * 1024;
/** What a message costs in an entry besides its payload: topic and framing. */
const PER_MESSAGE_OVERHEAD = 600;
/**
 * Messages up to this many UTF-16 units travel as strings (no encoding; V8 stores them in at
 * most 2 bytes a unit); longer ones as UTF-8 bytes, so a full one still fits in an entry.
 */
const TEXT_MAX_UNITS = 8 * 1024;
/** Topics listed at once by one batch (each is one strong read). */
const LIST_CONCURRENCY = 32;
/** Remembered sole topics at most (then the memory starts over). */
const SOLE_CACHE_MAX = 200_000;

/** An inbox entry: one message (`t`, `p`) or several (`b`: topic, json, topic, json...). */
interface InboxValue {
  t?: string;
  p?: Uint8Array;
  b?: (string | Uint8Array)[];
}

interface Pending {
  topic: string;
  json: string;
  sole: boolean;
  /** The message as an entry holds it (see TEXT_MAX_UNITS), and what it costs there at most. */
  p: string | Uint8Array;
  size: number;
}

function pending(topic: string, json: string, sole: boolean): Pending {
  if (json.length <= TEXT_MAX_UNITS) {
    return {
      topic,
      json,
      sole,
      p: json,
      size: 2 * json.length + PER_MESSAGE_OVERHEAD,
    };
  }
  const p = encoder.encode(json);
  return { topic, json, sole, p, size: p.length + PER_MESSAGE_OVERHEAD };
}

export interface KvBusOptions {
  instanceId?: string;
  /** Also drain the inbox every `pollMs` (needed across processes on one SQLite file). */
  pollMs?: number;
  /** Subscription refresh interval; defaults to {@link HEARTBEAT_MS}. */
  heartbeatMs?: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A batch of writes: filled while the previous one commits, then committed as one. */
class Batch<T> {
  items: T[] = [];
  readonly done = Promise.withResolvers<void>();
}

export class KvBus implements Bus {
  readonly kind = "kv" as const;
  readonly instanceId: string;
  #kv: Deno.Kv;
  #local = new LocalTopics();
  #closed = false;
  #reader: ReadableStreamDefaultReader<Deno.KvEntryMaybe<unknown>[]>;
  #watchDone: Promise<void>;
  #timers: ReturnType<typeof setInterval>[] = [];
  /** Subscription changes not written yet: topic → subscribed (true) or gone (false). */
  #regs = new Map<string, boolean>();
  #regsDone: PromiseWithResolvers<void> | null = null;
  /** The subscription write in flight, if any. */
  #regFlush: Promise<void> | null = null;
  /** Messages for other instances not written yet. */
  #pub: Batch<Pending> | null = null;
  #pubFlush: Promise<void> | null = null;
  #lastTs = 0;
  #seq = 0;
  /** Sole topics → the instance holding them, and until when that is trusted. */
  #sole = new Map<string, { id: string; until: number }>();
  #cursor = new Map<string, { seq: number; at: number }>();
  #draining: Promise<void> | null = null;
  #again = false;
  /** Deletes of drained entries, one after another, not waited for by the drain. */
  #deleting: Promise<unknown> = RESOLVED;

  constructor(kv: Deno.Kv, opts: KvBusOptions = {}) {
    this.#kv = kv;
    this.instanceId = opts.instanceId ?? crypto.randomUUID();
    this.#reader = kv.watch([keys.busHead(this.instanceId)]).getReader();
    this.#watchDone = this.#watch();
    this.#timers.push(
      setInterval(() => this.#heartbeat(), opts.heartbeatMs ?? HEARTBEAT_MS),
    );
    if (opts.pollMs) {
      this.#timers.push(setInterval(() => this.#kick(), opts.pollMs));
    }
  }

  publish(
    topic: string,
    msg: BusMessage,
    opts?: PublishOptions,
  ): Promise<void> {
    try {
      if (this.#closed) throw new Error("bus is closed");
      checkTopic(topic);
      return this.#send(topic, messageText(msg), opts);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  publishText(
    topic: string,
    json: string,
    opts?: PublishOptions,
  ): Promise<void> {
    try {
      if (this.#closed) throw new Error("bus is closed");
      checkTopic(topic);
      checkText(json);
      return this.#send(topic, json, opts);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #send(topic: string, json: string, opts?: PublishOptions): Promise<void> {
    const sole = opts?.sole === true;
    if (this.#local.has(topic)) {
      this.#local.deliver(topic, json);
      if (sole) return RESOLVED;
    }
    const batch = this.#pub ??= new Batch<Pending>();
    batch.items.push(pending(topic, json, sole));
    this.#pubFlush ??= this.#flushPublishes();
    return batch.done.promise;
  }

  subscribe(topic: string, handler: BusHandler): () => void {
    return this.#subscribe(topic, handler, false);
  }

  subscribeText(topic: string, handler: BusTextHandler): () => void {
    return this.#subscribe(topic, handler, true);
  }

  #subscribe(
    topic: string,
    handler: BusHandler | BusTextHandler,
    text: boolean,
  ): () => void {
    if (this.#closed) throw new Error("bus is closed");
    checkTopic(topic);
    return this.#local.add(
      topic,
      handler,
      text,
      () => this.#queueReg(topic, true),
      () => {
        if (!this.#closed) this.#queueReg(topic, false);
      },
    );
  }

  /** Resolves once every subscribe/unsubscribe so far is written to KV (visible to publishers). */
  ready(): Promise<void> {
    if (this.#regsDone) return this.#regsDone.promise;
    return this.#regFlush ?? RESOLVED;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    const topics = this.#local.topics();
    this.#local.clear();
    await this.#pubFlush;
    await this.#reader.cancel().catch(() => {});
    await this.#watchDone;
    await this.#draining;
    await this.#deleting;
    for (const t of topics) this.#queueReg(t, false);
    await this.ready();
  }

  #subKey(topic: string): Deno.KvKey {
    return keys.busSub(topic, this.instanceId);
  }

  // ---- subscriptions ---------------------------------------------------------

  #queueReg(topic: string, subscribed: boolean): void {
    this.#regs.set(topic, subscribed);
    this.#regsDone ??= Promise.withResolvers<void>();
    this.#regFlush ??= this.#flushRegs();
  }

  /** Writes queued subscription changes until none is left; one at a time. */
  async #flushRegs(): Promise<void> {
    // Let the rest of this task's subscriptions join the batch.
    await Promise.resolve();
    while (this.#regs.size) {
      const regs = this.#regs, done = this.#regsDone!;
      this.#regs = new Map();
      this.#regsDone = null;
      try {
        await this.#writeRegs(regs);
      } catch (err) {
        console.error("bus(kv): subscription write failed", err);
      }
      done.resolve();
    }
    this.#regFlush = null;
  }

  async #writeRegs(regs: Map<string, boolean>): Promise<void> {
    const at = Date.now();
    const all = [...regs];
    for (let i = 0; i < all.length; i += ATOMIC_MAX_MUTATIONS) {
      const op = this.#kv.atomic();
      for (const [topic, on] of all.slice(i, i + ATOMIC_MAX_MUTATIONS)) {
        if (on) op.set(this.#subKey(topic), { at }, { expireIn: SUB_TTL_MS });
        else op.delete(this.#subKey(topic));
      }
      const res = await op.commit();
      if (!res.ok) throw new Error("bus(kv): subscription commit failed");
    }
  }

  // ---- publishing ----------------------------------------------------------------

  /** Commits batches of publishes until none is left; one at a time. */
  async #flushPublishes(): Promise<void> {
    // Let the rest of this task's publishes join the batch.
    await Promise.resolve();
    while (this.#pub) {
      const batch = this.#pub;
      this.#pub = null;
      try {
        await this.#writeBatch(batch.items);
        batch.done.resolve();
      } catch (err) {
        batch.done.reject(err);
      }
    }
    this.#pubFlush = null;
  }

  /** The instances (other than this one) holding each topic of the batch. */
  async #holders(items: Pending[]): Promise<Map<string, string[]>> {
    const now = Date.now();
    const out = new Map<string, string[]>();
    const toList: string[] = [];
    for (const { topic, sole } of items) {
      if (out.has(topic)) continue;
      const known = sole ? this.#sole.get(topic) : undefined;
      if (known && known.until > now) out.set(topic, [known.id]);
      else {
        out.set(topic, []);
        toList.push(topic);
      }
    }
    const soleTopics = new Set(items.filter((m) => m.sole).map((m) => m.topic));
    for (let i = 0; i < toList.length; i += LIST_CONCURRENCY) {
      await Promise.all(
        toList.slice(i, i + LIST_CONCURRENCY).map(async (topic) => {
          const ids = out.get(topic)!;
          const prefix = keys.busSubPrefix(topic);
          for await (const e of this.#kv.list({ prefix })) {
            const id = e.key[2];
            if (typeof id === "string" && id !== this.instanceId) ids.push(id);
          }
          if (soleTopics.has(topic) && ids.length === 1) {
            if (this.#sole.size >= SOLE_CACHE_MAX) this.#sole.clear();
            this.#sole.set(topic, { id: ids[0], until: now + SOLE_CACHE_MS });
          }
        }),
      );
    }
    return out;
  }

  async #writeBatch(items: Pending[]): Promise<void> {
    const holders = await this.#holders(items);
    // Each instance's messages, in publish order.
    const byTarget = new Map<string, Pending[]>();
    for (const m of items) {
      for (const id of holders.get(m.topic)!) {
        let list = byTarget.get(id);
        if (!list) byTarget.set(id, list = []);
        list.push(m);
      }
    }
    if (byTarget.size === 0) return;
    const ts = this.#lastTs = Math.max(Date.now(), this.#lastTs);
    let op = this.#kv.atomic(), mutations = 0, bytes = 0;
    const commits: Deno.AtomicOperation[] = [];
    for (const [id, msgs] of byTarget) {
      // Pack this instance's messages into entries of at most ENTRY_MAX_BYTES.
      const entries: { msgs: Pending[]; size: number }[] = [];
      let cur: Pending[] = [], curBytes = 0;
      for (const m of msgs) {
        const { size } = m;
        if (cur.length && curBytes + size > ENTRY_MAX_BYTES) {
          entries.push({ msgs: cur, size: curBytes });
          cur = [];
          curBytes = 0;
        }
        cur.push(m);
        curBytes += size;
      }
      entries.push({ msgs: cur, size: curBytes });
      let seq = 0;
      for (const { msgs: entry, size: packed } of entries) {
        // One message: the format every version reads (bytes).
        const one = entry.length !== 1
          ? null
          : typeof entry[0].p === "string"
          ? encoder.encode(entry[0].json)
          : entry[0].p;
        const size = one ? one.length + PER_MESSAGE_OVERHEAD : packed;
        // One more mutation for the head bump that closes this instance's writes.
        if (
          mutations && (mutations + 2 > ATOMIC_MAX_MUTATIONS ||
            bytes + size > ATOMIC_MAX_BYTES)
        ) {
          commits.push(op);
          op = this.#kv.atomic();
          mutations = bytes = 0;
        }
        seq = ++this.#seq;
        const value: InboxValue = one
          ? { t: entry[0].topic, p: one }
          : { b: entry.flatMap((m) => [m.topic, m.p]) };
        op.set(keys.busInbox(id, ts, this.instanceId, seq), value, {
          expireIn: INBOX_TTL_MS,
        });
        mutations++;
        bytes += size;
      }
      op.set(keys.busHead(id), `${this.instanceId}:${seq}`, {
        expireIn: INBOX_TTL_MS,
      });
      mutations++;
    }
    commits.push(op);
    // In order: an instance's entries become visible no later than its head
    // bumps, and a later entry never before an earlier one.
    for (const c of commits) {
      const res = await c.commit();
      if (!res.ok) throw new Error("bus(kv): publish commit failed");
    }
  }

  // ---- delivery ------------------------------------------------------------------

  async #watch(): Promise<void> {
    try {
      while (true) {
        const { done } = await this.#reader.read();
        if (done) return;
        this.#kick();
      }
    } catch (err) {
      if (!this.#closed) console.error("bus(kv): watch failed", err);
    }
  }

  #heartbeat(): void {
    const now = Date.now();
    const cutoff = now - CURSOR_TTL_MS;
    for (const [pub, c] of this.#cursor) {
      if (c.at < cutoff) this.#cursor.delete(pub);
    }
    for (const [topic, s] of this.#sole) {
      if (s.until <= now) this.#sole.delete(topic);
    }
    for (const topic of this.#local.topics()) this.#queueReg(topic, true);
    this.#kick();
  }

  /** Starts a drain, or asks the running one to go round again. */
  #kick(): void {
    if (this.#closed) return;
    if (this.#draining) {
      this.#again = true;
      return;
    }
    this.#draining = (async () => {
      try {
        do {
          this.#again = false;
          if (await this.#drainOnce()) this.#again = true;
        } while (this.#again && !this.#closed);
      } catch (err) {
        if (!this.#closed) console.error("bus(kv): drain failed", err);
      } finally {
        this.#draining = null;
      }
    })();
  }

  /** One snapshot of the inbox: deliver what is new, delete all read. True if it was full. */
  async #drainOnce(): Promise<boolean> {
    const entries = this.#kv.list<InboxValue>(
      { prefix: keys.busInboxPrefix(this.instanceId) },
      { limit: DRAIN_BATCH, batchSize: DRAIN_BATCH },
    );
    const read: Deno.KvKey[] = [];
    const now = Date.now();
    for await (const e of entries) {
      read.push(e.key);
      if (this.#closed) continue;
      const pub = e.key[3], seq = e.key[4];
      if (typeof pub !== "string" || typeof seq !== "number") continue;
      const c = this.#cursor.get(pub);
      if (c && seq <= c.seq) continue;
      this.#cursor.set(pub, { seq, at: now });
      const v = e.value;
      if (typeof v?.t === "string" && v.p instanceof Uint8Array) {
        this.#deliver(v.t, v.p);
      } else if (Array.isArray(v?.b)) {
        for (let i = 0; i + 1 < v.b.length; i += 2) {
          const t = v.b[i], p = v.b[i + 1];
          if (typeof t !== "string" || !this.#local.has(t)) continue;
          if (typeof p === "string") this.#local.deliverNow(t, p);
          else if (p instanceof Uint8Array) this.#deliver(t, p);
        }
      }
    }
    // The next drain need not wait for these deletes: what it reads again
    // before they land, the cursor drops.
    if (read.length) {
      this.#deleting = this.#deleting.then(() => this.#deleteKeys(read))
        .catch((err) => console.error("bus(kv): delete failed", err));
    }
    // A full snapshot is read again at once: not before its deletes land.
    if (read.length < DRAIN_BATCH) return false;
    await this.#deleting;
    return true;
  }

  #deliver(topic: string, bytes: Uint8Array): void {
    if (this.#local.has(topic)) {
      this.#local.deliverNow(topic, decoder.decode(bytes));
    }
  }

  async #deleteKeys(keys: Deno.KvKey[]): Promise<void> {
    const ops: Promise<unknown>[] = [];
    for (let i = 0; i < keys.length; i += ATOMIC_MAX_MUTATIONS) {
      const op = this.#kv.atomic();
      for (const k of keys.slice(i, i + ATOMIC_MAX_MUTATIONS)) op.delete(k);
      ops.push(op.commit());
    }
    await Promise.all(ops);
  }
}
