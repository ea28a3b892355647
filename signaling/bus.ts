/**
 * Cross-isolate message bus: `publish(topic, msg)` / `subscribe(topic, handler)`.
 *
 * Two implementations behind one interface, chosen by config (the relay does not know
 * which):
 * - `"broadcast"` (`BroadcastBus`, `bus_broadcast.ts`): one BroadcastChannel. In the
 *   Deno CLI it reaches the other workers of the same process only (e.g. the workers of
 *   `deno serve --parallel`), never another process.
 * - `"kv"` (`KvBus`, `bus_kv.ts`): per-instance inboxes in Deno KV, woken by
 *   `kv.watch`. Spans every instance that shares one KV (Deno Deploy, a denokv server); on a
 *   local SQLite file see the module doc of `bus_kv.ts` for what `watch` does and does not
 *   see.
 *
 * Semantics common to both: a message is delivered to every handler subscribed to its topic
 * on every bus instance (including the publisher's own), at most once each, and in publish
 * order per publisher. Messages travel as JSON (so local and remote subscribers see the same
 * value), are limited to {@link MAX_MESSAGE_BYTES} of UTF-8 JSON, and are delivered
 * asynchronously (never inside the `publish` call). A handler that throws is logged and does
 * not affect other handlers. Messages published before a subscription is registered are not
 * delivered to it (there is no replay).
 *
 * Two ways to be cheap on the hot path (a relayed message):
 * - **Text**: `publishText(topic, json)` takes a message already serialised, and a handler
 *   registered with `subscribeText` receives that very string, never parsed nor re-encoded
 *   (the signaling hub hands it to the socket as it is). Object handlers of the same topic
 *   get it parsed, as from `publish`.
 * - **Sole topics**: `{ sole: true }` says the topic has at most one subscription anywhere,
 *   for its whole life (a socket's own `conn:` topic). When the publishing bus holds it, the
 *   message is delivered there and no other isolate hears of it (no post, no KV write); when
 *   it does not, the bus may remember which instance holds it.
 *
 * @module
 */

export type BusMessage = Record<string, unknown>; // JSON-serialisable; the bus never inspects it
export type BusHandler = (msg: BusMessage) => void;
/** Receives the message's JSON text exactly as the publisher made it. */
export type BusTextHandler = (json: string) => void;

export interface PublishOptions {
  /**
   * The topic has at most one subscription anywhere, for its whole life (a socket's own
   * topic): delivered here alone when this bus holds it; never announced to others then.
   */
  sole?: boolean;
}

export interface Bus {
  /** Delivers msg to every subscriber of topic on every isolate/instance (including this one), at most once each, in publish order per publisher. */
  publish(topic: string, msg: BusMessage, opts?: PublishOptions): Promise<void>;
  /**
   * As `publish`, for a message already serialised: `json` must be the JSON text of a
   * plain object (the caller vouches for it; only its size is checked). Text handlers get
   * this same string; object handlers get it parsed.
   */
  publishText(
    topic: string,
    json: string,
    opts?: PublishOptions,
  ): Promise<void>;
  /** Subscribe; returns an unsubscribe function. Several handlers per topic allowed. */
  subscribe(topic: string, handler: BusHandler): () => void;
  /** Subscribe to the JSON text of each message (no parse); returns an unsubscribe function. */
  subscribeText(topic: string, handler: BusTextHandler): () => void;
  /** Resolves once every subscribe/unsubscribe so far is visible to publishers everywhere. */
  ready(): Promise<void>;
  /** Stop listening, release channels/watchers/timers. */
  close(): Promise<void>;
  readonly kind: "broadcast" | "kv";
}

/** Largest message accepted, in bytes of its UTF-8 JSON (Deno KV values are capped at 64 KiB). */
export const MAX_MESSAGE_BYTES = 60 * 1024;
/** Largest topic accepted, in UTF-8 bytes (topics are part of KV keys, capped at 2 KiB). */
export const MAX_TOPIC_BYTES = 256;

/** Thrown (as a rejected `publish`) for a message over {@link MAX_MESSAGE_BYTES}. */
export class BusMessageTooLargeError extends RangeError {
  constructor(readonly bytes: number) {
    super(
      `bus message is ${bytes} bytes of JSON; the limit is ${MAX_MESSAGE_BYTES}`,
    );
    this.name = "BusMessageTooLargeError";
  }
}

const encoder = new TextEncoder();
/** Scratch space for byte counts in the ambiguous band (never read back). */
let scratch = new Uint8Array(0);

/**
 * Whether `s` is at most `maxBytes` of UTF-8, without encoding it when its length alone
 * decides: a UTF-16 code unit is 1 to 3 bytes (a surrogate pair, two units, is 4), so
 * `length <= bytes <= 3 * length`. Only in between is it encoded (into a reused buffer).
 */
export function utf8Fits(s: string, maxBytes: number): boolean {
  if (s.length > maxBytes) return false;
  if (s.length * 3 <= maxBytes) return true;
  if (scratch.length < maxBytes) scratch = new Uint8Array(maxBytes);
  return encoder.encodeInto(s, scratch.subarray(0, maxBytes)).read === s.length;
}

/** Bytes of `s` in UTF-8 (as TextEncoder writes it: a lone surrogate is 3). */
export function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (
      c >= 0xd800 && c < 0xdc00 && i + 1 < s.length &&
      (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00
    ) {
      i++; // a surrogate pair: 4 bytes for its two units
      n += 2;
    } else n += 2;
  }
  return n;
}

export function checkTopic(topic: string): void {
  if (typeof topic !== "string" || topic.length === 0) {
    throw new TypeError("bus topic must be a non-empty string");
  }
  if (!utf8Fits(topic, MAX_TOPIC_BYTES)) {
    throw new RangeError(`bus topic is longer than ${MAX_TOPIC_BYTES} bytes`);
  }
}

/** The message as JSON text, or a thrown error if it is not a plain object or too large. */
export function messageText(msg: BusMessage): string {
  if (typeof msg !== "object" || msg === null || Array.isArray(msg)) {
    throw new TypeError("bus message must be a plain object");
  }
  const json = JSON.stringify(msg);
  checkText(json);
  return json;
}

/** Refuses JSON text that is not an object's or is over {@link MAX_MESSAGE_BYTES}. */
export function checkText(json: string): void {
  if (typeof json !== "string" || json.charCodeAt(0) !== 0x7b /* { */) {
    throw new TypeError("bus message must be the JSON text of a plain object");
  }
  if (!utf8Fits(json, MAX_MESSAGE_BYTES)) {
    throw new BusMessageTooLargeError(utf8Length(json));
  }
}

/** The message as UTF-8 JSON bytes, or a thrown error if it is not an object or too large. */
export function encodeMessage(msg: BusMessage): Uint8Array {
  return encoder.encode(messageText(msg));
}

/** A settled promise, shared (publishes that need no I/O return it). */
export const RESOLVED: Promise<void> = Promise.resolve();

/**
 * The handlers of one bus instance, by topic. Delivery of a publish goes through a microtask
 * so it never runs inside `publish` (deliveries from other isolates come in their own task and
 * run at once), and checks at delivery time that the handler is still subscribed (unsubscribe
 * stops delivery at once, even for messages already queued).
 *
 * Each topic's handlers are an array replaced, never changed, when one comes or goes, so a
 * delivery takes the array as it is (the handlers subscribed at publish time) without a copy;
 * everything published within one task is delivered in one microtask, in publish order.
 */
export class LocalTopics {
  #topics = new Map<string, Entry[]>();
  /** Deliveries waiting for the microtask: handlers, then JSON text, flat. */
  #queue: (Entry[] | string)[] = [];

  /** Adds a handler; `onFirst`/`onLast` run when the topic gains its first / loses its last. */
  add(
    topic: string,
    handler: BusHandler | BusTextHandler,
    text: boolean,
    onFirst?: () => void,
    onLast?: () => void,
  ): () => void {
    if (typeof handler !== "function") {
      throw new TypeError("bus handler must be a function");
    }
    const entry: Entry = { handler, text, live: true };
    const list = this.#topics.get(topic);
    this.#topics.set(topic, list ? [...list, entry] : [entry]);
    if (!list) onFirst?.();
    return () => {
      if (!entry.live) return;
      entry.live = false;
      const now = this.#topics.get(topic);
      if (!now?.includes(entry)) return;
      if (now.length > 1) {
        this.#topics.set(topic, now.filter((e) => e !== entry));
        return;
      }
      this.#topics.delete(topic);
      onLast?.();
    };
  }

  has(topic: string): boolean {
    return this.#topics.has(topic);
  }

  topics(): string[] {
    return [...this.#topics.keys()];
  }

  clear(): void {
    for (const list of this.#topics.values()) {
      for (const e of list) e.live = false;
    }
    this.#topics.clear();
  }

  /** Delivers the JSON text to the current handlers of topic, in a microtask. */
  deliver(topic: string, json: string): void {
    const list = this.#topics.get(topic);
    if (!list) return;
    if (this.#queue.push(list, json) === 2) {
      queueMicrotask(() => this.#drain());
    }
  }

  /** Delivers at once (for messages from other isolates, already in their own task). */
  deliverNow(topic: string, json: string): void {
    const list = this.#topics.get(topic);
    if (list) this.#run(list, json);
  }

  #drain(): void {
    const q = this.#queue;
    this.#queue = [];
    for (let i = 0; i < q.length; i += 2) {
      this.#run(q[i] as Entry[], q[i + 1] as string);
    }
  }

  /** Runs the handlers that are still subscribed. */
  #run(list: Entry[], json: string): void {
    for (const entry of list) {
      if (!entry.live) continue;
      try {
        // Text handlers share the one string; object handlers each get their own parse.
        if (entry.text) (entry.handler as BusTextHandler)(json);
        else (entry.handler as BusHandler)(JSON.parse(json));
      } catch (err) {
        console.error("bus: a handler threw", err);
      }
    }
  }
}

interface Entry {
  handler: BusHandler | BusTextHandler;
  text: boolean;
  /** False once unsubscribed (or the bus cleared). */
  live: boolean;
}
