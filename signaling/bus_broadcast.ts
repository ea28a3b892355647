/**
 * {@link Bus} over one `BroadcastChannel("reach-signal-bus")` per bus instance.
 *
 * Reach: every BroadcastChannel object of the same name in the same process (the main
 * thread, Web Workers, the workers of `deno serve --parallel`), and on platforms that wire
 * BroadcastChannel across isolates, those isolates too. In the Deno CLI it never reaches
 * another process: use the `"kv"` bus for that.
 *
 * Wire format: an array of `{ t: topic, p: JSON text of the message, f: sender instance id,
 * s: sender sequence number }`: everything one bus publishes within one task goes out as
 * one post. Deno's BroadcastChannel drops posts when a receiving worker falls behind
 * (measured: of 1000 single posts at once another worker got 348), so a burst of
 * candidates must not become a burst of posts. A channel object does not receive its own posts, so the publisher
 * delivers to its own subscribers directly (once), and other bus objects, even in the same
 * isolate, receive through the channel (once). Every bus object sees every message and drops
 * those whose topic it has no handler for. Channel delivery keeps the order of one sender's
 * posts, which gives publish order per publisher.
 *
 * @module
 */

import {
  type Bus,
  type BusHandler,
  type BusMessage,
  checkTopic,
  encodeMessage,
  LocalTopics,
} from "./bus.ts";

export const BROADCAST_CHANNEL_NAME = "reach-signal-bus";

interface Wire {
  t: string;
  p: string;
  f: string;
  s: number;
}

const decoder = new TextDecoder();

export class BroadcastBus implements Bus {
  readonly kind = "broadcast" as const;
  readonly instanceId: string;
  #channel: BroadcastChannel | null;
  #local = new LocalTopics();
  #seq = 0;
  #batch: Wire[] = [];

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
        this.#local.deliver(w.t, w.p);
      }
    };
  }

  publish(topic: string, msg: BusMessage): Promise<void> {
    try {
      if (!this.#channel) throw new Error("bus is closed");
      checkTopic(topic);
      const json = decoder.decode(encodeMessage(msg));
      const wire: Wire = {
        t: topic,
        p: json,
        f: this.instanceId,
        s: ++this.#seq,
      };
      if (this.#batch.push(wire) === 1) {
        queueMicrotask(() => {
          const batch = this.#batch;
          this.#batch = [];
          this.#channel?.postMessage(batch);
        });
      }
      this.#local.deliver(topic, json);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  subscribe(topic: string, handler: BusHandler): () => void {
    if (!this.#channel) throw new Error("bus is closed");
    checkTopic(topic);
    return this.#local.add(topic, handler);
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
