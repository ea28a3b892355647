/**
 * Rings a handle's push subscriptions: one push per subscription, all in
 * parallel, each bounded by the push timeout. The call state machine
 * (signaling/calls.ts) starts these and never waits for them: what a caller
 * sees does not depend on any push service.
 *
 * A push service's 404/410 removes that subscription; an accepted ring
 * notes when the device was last rung. A call's cancel waits until this
 * isolate's ring pushes for that call have finished, and a ring is not
 * retried once the call stopped ringing, so a cancel does not overtake its
 * ring on the way to a push service. Every push in flight is tracked, so a
 * shutting-down server aborts them and waits for them to finish.
 */
import type { Config } from "../config.ts";
import { log } from "../log.ts";
import { getCall } from "../store/calls.ts";
import {
  listPushSubRecords,
  markPushSubRung,
  openPushSub,
  type PushSubRecord,
  removePushSub,
} from "../store/push_subs.ts";
import {
  type PushOutcome,
  type PushPayload,
  pushTopic,
  sendPush,
} from "./send.ts";

export interface PushFanoutOptions {
  kv: Deno.Kv;
  config: Pick<Config, "push" | "dataKeys" | "hmacKey" | "ringMs">;
  /** Wait before the one retry of a 429/5xx (default 500 ms). */
  retryDelayMs?: number;
}

export class PushFanout {
  private inflight = new Set<Promise<unknown>>();
  /** This isolate's ring fan-outs still running, by call id. */
  private rings = new Map<string, Promise<number>>();
  private stop = new AbortController();

  constructor(private o: PushFanoutOptions) {}

  get enabled(): boolean {
    return this.o.config.push.enabled;
  }

  /** The handle's subscriptions (sealed); none when push is off. */
  subscriptions(handle: string): Promise<PushSubRecord[]> {
    return this.enabled
      ? listPushSubRecords(this.o.kv, handle)
      : Promise.resolve([]);
  }

  /**
   * Rings every one of `subs` (from `subscriptions`); resolves to how many
   * push services accepted the ring. Tracked: callers need not await it.
   */
  ring(
    handle: string,
    subs: PushSubRecord[],
    msg: Extract<PushPayload, { t: "ring" }>,
  ): Promise<number> {
    const ttl = Math.max(1, Math.ceil((msg.exp - Date.now()) / 1000));
    const p = this.track(this.fanOut(handle, subs, msg, ttl));
    this.rings.set(msg.callId, p);
    p.finally(() => {
      if (this.rings.get(msg.callId) === p) this.rings.delete(msg.callId);
    });
    return p;
  }

  /** Tells every subscription of the handle that the call stopped ringing. */
  cancel(handle: string, callId: string): Promise<number> {
    if (!this.enabled) return Promise.resolve(0);
    const ring = this.rings.get(callId);
    return this.track((async () => {
      // After the ring's own pushes: a cancel must not arrive first.
      await ring;
      const subs = await listPushSubRecords(this.o.kv, handle);
      if (!subs.length) return 0;
      // As long as the ring it replaces could still be waiting for the device.
      const ttl = Math.ceil(this.o.config.ringMs / 1000);
      return await this.fanOut(handle, subs, { t: "cancel", callId }, ttl);
    })());
  }

  /** Aborts every push in flight and waits until each has finished. */
  async close(): Promise<void> {
    this.stop.abort();
    while (this.inflight.size) {
      await Promise.allSettled([...this.inflight]);
    }
  }

  /** Resolves when no push is in flight (tests, benchmarks). */
  async idle(): Promise<void> {
    while (this.inflight.size) {
      await Promise.allSettled([...this.inflight]);
    }
  }

  private track(p: Promise<number>): Promise<number> {
    const safe = p.catch((e) => {
      log("push.error", { kind: (e as Error)?.name ?? "Error" });
      return 0;
    });
    this.inflight.add(safe);
    safe.finally(() => this.inflight.delete(safe));
    return safe;
  }

  private async fanOut(
    handle: string,
    subs: PushSubRecord[],
    payload: PushPayload,
    ttlSeconds: number,
  ): Promise<number> {
    const push = this.o.config.push;
    if (!push.enabled || this.stop.signal.aborted) return 0;
    const topic = pushTopic(this.o.config.hmacKey, payload.callId);
    const results = await Promise.all(subs.map(async (rec) => {
      let target;
      try {
        target = await openPushSub(this.o.config.dataKeys, handle, rec);
      } catch {
        log("push.failed", { callId: payload.callId, code: "unreadable" });
        return false;
      }
      const outcome: PushOutcome = await sendPush(target, payload, {
        vapid: push.vapid,
        ttlSeconds,
        topic,
        timeoutMs: push.timeoutMs,
        retryDelayMs: this.o.retryDelayMs,
        signal: this.stop.signal,
        beforeRetry: payload.t === "ring"
          ? async () =>
            (await getCall(this.o.kv, payload.callId))?.state === "ringing"
          : undefined,
      });
      if (outcome.kind === "gone") {
        await removePushSub(this.o.kv, handle, rec.id, {
          endpointHash: rec.endpointHash,
        });
      } else if (outcome.kind === "accepted" && payload.t === "ring") {
        await markPushSubRung(this.o.kv, handle, rec.id);
      }
      return outcome.kind === "accepted";
    }));
    return results.filter(Boolean).length;
  }
}
