/**
 * {@link Bus} over one `BroadcastChannel("reach-signal-bus")` per bus instance.
 *
 * Reach: every BroadcastChannel object of the same name in the same process (the main
 * thread, Web Workers, the workers of `deno serve --parallel`), and on platforms that wire
 * BroadcastChannel across isolates, those isolates too. In the Deno CLI it never reaches
 * another process: use the `"kv"` bus for that.
 *
 * Wire format: an array of `{ t: topic, p: JSON text of the message }`: everything one bus
 * publishes within one task goes out as one post. (Earlier versions also sent `f`, the
 * sender's id, and `s`, a sequence number; no receiver ever read them, so both formats
 * interoperate.) Deno's BroadcastChannel drops posts when a receiving worker falls behind
 * (measured: of 1000 single posts at once another worker got 348), so a burst of
 * candidates must not become a burst of posts. A channel object does not receive its own posts, so the publisher
 * delivers to its own subscribers directly (once), and other bus objects, even in the same
 * isolate, receive through the channel (once). Every bus object sees every message and drops
 * those whose topic it has no handler for. Channel delivery keeps the order of one sender's
 * posts, which gives publish order per publisher.
 *
 * A message for a **sole** topic (see bus.ts) that this bus holds is delivered here and not
 * posted at all: the one socket that topic belongs to is here, so no other isolate could
 * want it. The text JSON is posted and delivered as it is: no re-encoding anywhere.
 *
 * `publish` resolves once its post has been handed to the channel (after the microtask that
 * flushes the task's batch), so a publisher that awaits it knows every later post of any
 * isolate comes after it on the channel.
 *
 * @module
 */

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

export const BROADCAST_CHANNEL_NAME = "reach-signal-bus";

interface Wire {
  t: string;
  p: string;
}

export class BroadcastBus implements Bus {
  readonly kind = "broadcast" as const;
  readonly instanceId: string;
  #channel: BroadcastChannel | null;
  #local = new LocalTopics();
  #batch: Wire[] = [];
  /** Resolves when the pending batch has been posted. */
  #posted: Promise<void> = RESOLVED;

  constructor(opts: { instanceId?: string } = {}) {
    this.instanceId = opts.instanceId ?? crypto.randomUUID();
    this.#channel = new BroadcastChannel(BROADCAST_CHANNEL_NAME);
    this.#channel.onmessage = (e: MessageEvent<Wire[]>) => {
      if (!Array.isArray(e.data)) return;
      for (const w of e.data) {
        if (
          typeof w?.t !== "string" || typeof w.p !== "string" ||
          !this.#local.has(w.t)
        ) continue;
        this.#local.deliverNow(w.t, w.p);
      }
    };
  }

  publish(
    topic: string,
    msg: BusMessage,
    opts?: PublishOptions,
  ): Promise<void> {
    try {
      if (!this.#channel) throw new Error("bus is closed");
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
      if (!this.#channel) throw new Error("bus is closed");
      checkTopic(topic);
      checkText(json);
      return this.#send(topic, json, opts);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #send(topic: string, json: string, opts?: PublishOptions): Promise<void> {
    const here = this.#local.has(topic);
    if (here) this.#local.deliver(topic, json);
    // The one holder of a sole topic is here: nothing to post.
    if (here && opts?.sole) return RESOLVED;
    if (this.#batch.push({ t: topic, p: json }) === 1) {
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#posted = promise;
      queueMicrotask(() => {
        const batch = this.#batch;
        this.#batch = [];
        try {
          this.#channel?.postMessage(batch);
        } finally {
          resolve();
        }
      });
    }
    return this.#posted;
  }

  subscribe(topic: string, handler: BusHandler): () => void {
    if (!this.#channel) throw new Error("bus is closed");
    checkTopic(topic);
    return this.#local.add(topic, handler, false);
  }

  subscribeText(topic: string, handler: BusTextHandler): () => void {
    if (!this.#channel) throw new Error("bus is closed");
    checkTopic(topic);
    return this.#local.add(topic, handler, true);
  }

  /** Resolves at once: subscriptions take effect synchronously on this bus. */
  ready(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    if (this.#batch.length) this.#channel?.postMessage(this.#batch);
    this.#batch = [];
    this.#local.clear();
    this.#channel?.close();
    this.#channel = null;
    return Promise.resolve();
  }
}
