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
 *   `close()`. A crashed instance's entries expire on their own.
 * - `["bus_inbox", instanceId, ts, publisherId, seq]` → `{ t: topic, p: UTF-8 JSON bytes }`,
 *   expireIn {@link INBOX_TTL_MS}: one message waiting for `instanceId`. `ts` is the
 *   publisher's clock in ms, made non-decreasing per publisher; `seq` counts the publisher's
 *   publishes. So one publisher's messages sort in publish order; messages of different
 *   publishers sort roughly by time.
 * - `["bus_head", instanceId]` → `"<publisherId>:<seq>"`, expireIn {@link INBOX_TTL_MS}:
 *   rewritten in the same atomic as every inbox write; the instance watches only this key.
 *
 * ## Publish
 * Publishes of one bus run one after another (each waits for the previous atomic to commit),
 * which is what keeps publish order per publisher. A publish lists `["bus_sub", topic]`
 * (strong read) and, for each other instance found, writes the inbox entry and bumps that
 * instance's head in one atomic (several instances per atomic, kept under KV's size limits).
 * The publisher's own subscribers are served directly, never through KV, so they receive
 * each message once and without a KV round trip. Messages over `MAX_MESSAGE_BYTES` (60 KiB
 * of JSON; KV values are capped at 64 KiB) are rejected with `BusMessageTooLargeError`.
 *
 * ## Delivery
 * `watch` returns only the latest head value, so notifications coalesce: on each one the
 * instance drains its whole inbox, not just one message. A drain reads the inbox prefix in
 * one snapshot of at most {@link DRAIN_BATCH} entries from its start (a multi-batch listing
 * could see a publisher's later message without its earlier one), delivers in key order,
 * deletes every entry it read, and repeats while a notification arrived meanwhile or the
 * batch was full. A per-publisher cursor (highest `seq` delivered) drops anything read twice
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
 * @module
 */

import { keys } from "../lib/store/keys.ts";
import {
  type Bus,
  type BusHandler,
  type BusMessage,
  checkTopic,
  encodeMessage,
  LocalTopics,
} from "./bus.ts";

/** Lifetime of a subscription entry unless refreshed. */
export const SUB_TTL_MS = 30_000;
/** Interval of subscription refresh (and safety drain). */
export const HEARTBEAT_MS = 10_000;
/** Lifetime of an undelivered inbox entry. */
export const INBOX_TTL_MS = 60_000;
/** Inbox entries read per drain snapshot. */
export const DRAIN_BATCH = 500;
/** Cursors of publishers not heard from for this long are forgotten. */
const CURSOR_TTL_MS = 10 * 60_000;
/** Per-atomic caps, below Deno KV's (1000 mutations, 800 KiB). */
const ATOMIC_MAX_MUTATIONS = 200;
const ATOMIC_MAX_BYTES = 512 * 1024;

interface InboxValue {
  t: string;
  p: Uint8Array;
}

export interface KvBusOptions {
  instanceId?: string;
  /** Also drain the inbox every `pollMs` (needed across processes on one SQLite file). */
  pollMs?: number;
  /** Subscription refresh interval; defaults to {@link HEARTBEAT_MS}. */
  heartbeatMs?: number;
}

const decoder = new TextDecoder();

export class KvBus implements Bus {
  readonly kind = "kv" as const;
  readonly instanceId: string;
  #kv: Deno.Kv;
  #local = new LocalTopics();
  #closed = false;
  #reader: ReadableStreamDefaultReader<Deno.KvEntryMaybe<unknown>[]>;
  #watchDone: Promise<void>;
  #timers: ReturnType<typeof setInterval>[] = [];
  /** Subscription writes, applied in the order they were asked for. */
  #regTail: Promise<void> = Promise.resolve();
  /** Publishes, one at a time. */
  #pubTail: Promise<void> = Promise.resolve();
  #lastTs = 0;
  #seq = 0;
  #cursor = new Map<string, { seq: number; at: number }>();
  #draining: Promise<void> | null = null;
  #again = false;

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

  publish(topic: string, msg: BusMessage): Promise<void> {
    let bytes: Uint8Array;
    try {
      if (this.#closed) throw new Error("bus is closed");
      checkTopic(topic);
      bytes = encodeMessage(msg);
    } catch (err) {
      return Promise.reject(err);
    }
    this.#local.deliver(topic, decoder.decode(bytes));
    const p = this.#pubTail.then(() => this.#fanOut(topic, bytes));
    this.#pubTail = p.catch(() => {});
    return p;
  }

  subscribe(topic: string, handler: BusHandler): () => void {
    if (this.#closed) throw new Error("bus is closed");
    checkTopic(topic);
    return this.#local.add(
      topic,
      handler,
      () => this.#queueReg(() => this.#setSubs([topic])),
      () => {
        if (this.#closed) return;
        this.#queueReg(() => this.#deleteKeys([this.#subKey(topic)]));
      },
    );
  }

  /** Resolves once every subscribe/unsubscribe so far is written to KV (visible to publishers). */
  ready(): Promise<void> {
    return this.#regTail;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    const topics = this.#local.topics();
    this.#local.clear();
    await this.#pubTail;
    await this.#reader.cancel().catch(() => {});
    await this.#watchDone;
    await this.#draining;
    this.#queueReg(() => this.#deleteKeys(topics.map((t) => this.#subKey(t))));
    await this.#regTail;
  }

  #subKey(topic: string): Deno.KvKey {
    return keys.busSub(topic, this.instanceId);
  }

  #queueReg(fn: () => Promise<void>): void {
    this.#regTail = this.#regTail.then(fn).catch((err) => {
      console.error("bus(kv): subscription write failed", err);
    });
  }

  async #setSubs(topics: string[]): Promise<void> {
    const at = Date.now();
    for (let i = 0; i < topics.length; i += ATOMIC_MAX_MUTATIONS) {
      const op = this.#kv.atomic();
      for (const t of topics.slice(i, i + ATOMIC_MAX_MUTATIONS)) {
        op.set(this.#subKey(t), { at }, { expireIn: SUB_TTL_MS });
      }
      const res = await op.commit();
      if (!res.ok) throw new Error("bus(kv): subscription commit failed");
    }
  }

  async #deleteKeys(keys: Deno.KvKey[]): Promise<void> {
    for (let i = 0; i < keys.length; i += ATOMIC_MAX_MUTATIONS) {
      const op = this.#kv.atomic();
      for (const k of keys.slice(i, i + ATOMIC_MAX_MUTATIONS)) op.delete(k);
      await op.commit();
    }
  }

  async #fanOut(topic: string, bytes: Uint8Array): Promise<void> {
    const targets: string[] = [];
    for await (const e of this.#kv.list({ prefix: keys.busSubPrefix(topic) })) {
      const id = e.key[2];
      if (typeof id === "string" && id !== this.instanceId) targets.push(id);
    }
    if (targets.length === 0) return;
    const ts = this.#lastTs = Math.max(Date.now(), this.#lastTs);
    const seq = ++this.#seq;
    const value: InboxValue = { t: topic, p: bytes };
    const head = `${this.instanceId}:${seq}`;
    // Several inboxes per atomic, within KV's mutation-count and size limits.
    const perAtomic = Math.max(
      1,
      Math.min(
        ATOMIC_MAX_MUTATIONS / 2,
        Math.floor(ATOMIC_MAX_BYTES / (bytes.length + 1024)),
      ),
    );
    const commits: Promise<Deno.KvCommitResult | Deno.KvCommitError>[] = [];
    for (let i = 0; i < targets.length; i += perAtomic) {
      const op = this.#kv.atomic();
      for (const id of targets.slice(i, i + perAtomic)) {
        op.set(keys.busInbox(id, ts, this.instanceId, seq), value, {
          expireIn: INBOX_TTL_MS,
        });
        op.set(keys.busHead(id), head, { expireIn: INBOX_TTL_MS });
      }
      commits.push(op.commit());
    }
    for (const res of await Promise.all(commits)) {
      if (!res.ok) throw new Error("bus(kv): publish commit failed");
    }
  }

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
    const cutoff = Date.now() - CURSOR_TTL_MS;
    for (const [pub, c] of this.#cursor) {
      if (c.at < cutoff) this.#cursor.delete(pub);
    }
    this.#queueReg(() => this.#setSubs(this.#local.topics()));
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
        this.#local.deliver(v.t, decoder.decode(v.p));
      }
    }
    await this.#deleteKeys(read);
    return read.length >= DRAIN_BATCH;
  }
}
