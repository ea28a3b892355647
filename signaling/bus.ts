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
 * @module
 */

export type BusMessage = Record<string, unknown>; // JSON-serialisable; the bus never inspects it
export type BusHandler = (msg: BusMessage) => void;
export interface Bus {
  /** Delivers msg to every subscriber of topic on every isolate/instance (including this one), at most once each, in publish order per publisher. */
  publish(topic: string, msg: BusMessage): Promise<void>;
  /** Subscribe; returns an unsubscribe function. Several handlers per topic allowed. */
  subscribe(topic: string, handler: BusHandler): () => void;
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

export function checkTopic(topic: string): void {
  if (typeof topic !== "string" || topic.length === 0) {
    throw new TypeError("bus topic must be a non-empty string");
  }
  if (encoder.encode(topic).length > MAX_TOPIC_BYTES) {
    throw new RangeError(`bus topic is longer than ${MAX_TOPIC_BYTES} bytes`);
  }
}

/** The message as UTF-8 JSON bytes, or a thrown error if it is not an object or too large. */
export function encodeMessage(msg: BusMessage): Uint8Array {
  if (typeof msg !== "object" || msg === null || Array.isArray(msg)) {
    throw new TypeError("bus message must be a plain object");
  }
  const bytes = encoder.encode(JSON.stringify(msg));
  if (bytes.length > MAX_MESSAGE_BYTES) {
    throw new BusMessageTooLargeError(bytes.length);
  }
  return bytes;
}

/**
 * The handlers of one bus instance, by topic. Delivery goes through a microtask queue so it
 * never runs inside `publish`, and checks at delivery time that the handler is still
 * subscribed (unsubscribe stops delivery at once, even for messages already queued).
 */
export class LocalTopics {
  #topics = new Map<string, Set<{ handler: BusHandler }>>();

  /** Adds a handler; `onFirst`/`onLast` run when the topic gains its first / loses its last. */
  add(
    topic: string,
    handler: BusHandler,
    onFirst?: () => void,
    onLast?: () => void,
  ): () => void {
    if (typeof handler !== "function") {
      throw new TypeError("bus handler must be a function");
    }
    let set = this.#topics.get(topic);
    const first = !set;
    if (!set) this.#topics.set(topic, set = new Set());
    const entry = { handler };
    set.add(entry);
    if (first) onFirst?.();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const s = this.#topics.get(topic);
      if (!s?.delete(entry) || s.size > 0) return;
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
    this.#topics.clear();
  }

  /** Delivers decoded JSON to the current handlers of topic (each gets its own parse). */
  deliver(topic: string, json: string): void {
    const set = this.#topics.get(topic);
    if (!set) return;
    for (const entry of [...set]) {
      queueMicrotask(() => {
        if (!this.#topics.get(topic)?.has(entry)) return;
        try {
          entry.handler(JSON.parse(json));
        } catch (err) {
          console.error("bus: a handler threw", err);
        }
      });
    }
  }
}
