/**
 * The call state machine: ringing -> answered | declined | missed |
 * cancelled, answered -> ended; unavailable and busy end a call at once.
 * KV (lib/store/calls.ts) holds the authoritative state and every deadline,
 * so the first accept wins on any isolate and a call whose isolate died is
 * still ended by another one's sweep (signaling/sweep.ts). This module tells
 * both ends through the bus; its in-memory timers only make the isolate that
 * holds a socket act at the deadline itself instead of at the next sweep.
 * Browsers subscribed to Web Push are rung (and told when ringing ends)
 * through lib/push/ring.ts, beside the sockets and never waited for.
 */
import { hmacHex, randomHex, sha256Hex } from "../lib/crypto/hash.ts";
import { log } from "../lib/log.ts";
import {
  acceptCall,
  type CallDecision,
  type CallRecord,
  createCall,
  endCall,
  getCall,
  inCall,
  loseSide,
  resumeSide,
  settleCall,
  type Settled,
  updateCall,
} from "../lib/store/calls.ts";
import type { Side } from "../lib/store/call_deadline.ts";
import { onlineDevices } from "../lib/store/presence.ts";
import { getProfile } from "../lib/store/profiles.ts";
import { type Charge, spend } from "../lib/limit_check.ts";
import type { Limits } from "../lib/limits.ts";
import type { PushFanout } from "../lib/push/ring.ts";
import type {
  CallEnd,
  HangupReason,
  SealedBox,
  ServerMessage,
} from "./protocol.ts";
import { ringPayload } from "../lib/push/send.ts";

export type Notify = (
  topic: string,
  msg: ServerMessage,
  exceptDevice?: string,
) => Promise<void>;

export interface CallsOptions {
  kv: Deno.Kv;
  hmacKey: Uint8Array;
  ringMs: number;
  retentionMs: number;
  resumeGraceMs: number;
  /** How long a side may go without a heartbeat tick before it counts as silent. */
  silentMs: number;
  notify: Notify;
  /** The abuse limits (lib/limits.ts); rings use the ring limits. */
  limits: Limits;
  /**
   * Web Push to the handle's subscribed browsers (lib/push/ring.ts), started
   * beside the socket fan-out and never awaited by it.
   */
  push?: Pick<PushFanout, "subscriptions" | "ring" | "cancel">;
}

export type RingResult =
  | { ok: true; devices: number; resumeToken: string }
  | { ok: false; code: "ended"; reason: CallEnd; resumeToken: string }
  | {
    ok: false;
    code: "unknown_handle" | "rate_limited" | "call_exists";
    message: string;
  };

/** Every device of a handle: rings and their endings. */
export const devicesTopic = (handle: string) => `dev:${handle}`;
/** One socket, by its connection id: messages of the calls the record gives it. */
export const connTopic = (connId: string) => `conn:${connId}`;

/** What the device whose accept won needs: its resume token, the caller's socket. */
export interface AcceptWon {
  resumeToken: string;
  callerConn: string;
}

export class Calls {
  private timers = new Map<string, ReturnType<typeof setTimeout>>();

  constructor(private o: CallsOptions) {}

  close(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  /** Settles the call at `at` (its deadline) on this isolate's clock. */
  private later(key: string, callId: string, at: number): void {
    clearTimeout(this.timers.get(key));
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        this.settle(callId).catch(() =>
          log("signal.timer_error", { kind: key.split(":")[0] })
        );
      }, Math.max(0, at - Date.now())),
    );
  }

  /**
   * Ends the call if one of its deadlines has passed (exactly once, whoever
   * else tries) and tells both ends; says whether this look ended it.
   */
  async settle(callId: string, now = Date.now()): Promise<Settled["kind"]> {
    const r = await settleCall(this.o.kv, callId, this.o.retentionMs, now);
    if (r.kind !== "ended") return r.kind;
    const rec = r.call;
    // (A ringing call's timer is cleared by `ended`; an answered one's was
    // cleared when it was accepted.)
    if (r.expiry.decision === "answered") {
      log("call.hangup", { callId, reason: "connection_lost" });
      const msg: ServerMessage = {
        type: "hangup",
        callId,
        reason: "connection_lost",
      };
      await this.o.notify(connTopic(rec.callerConn), msg);
      if (rec.calleeConn) await this.o.notify(connTopic(rec.calleeConn), msg);
    } else {
      await this.ended(rec, r.expiry.decision);
    }
    return "ended";
  }

  private cancelTimer(key: string): void {
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
  }

  private end(
    callId: string,
    decision: CallDecision,
    from: CallRecord["state"][],
  ): Promise<CallRecord | null> {
    return endCall(this.o.kv, callId, decision, from, this.o.retentionMs);
  }

  /** Tells the caller and every device of the handle that ringing ended. */
  private async ended(rec: CallRecord, reason: CallEnd): Promise<void> {
    this.cancelTimer(`ring:${rec.callId}`);
    log("call.ended", { callId: rec.callId, outcome: reason });
    // Push-rung browsers stop ringing too (not awaited: see ring).
    this.o.push?.cancel(rec.calleeHandle, rec.callId);
    const msg: ServerMessage = { type: "ended", callId: rec.callId, reason };
    await this.o.notify(connTopic(rec.callerConn), msg);
    await this.o.notify(devicesTopic(rec.calleeHandle), msg);
  }

  async ring(r: {
    callId: string;
    to: string;
    callerId: string;
    /** Who is calling, sealed to the callee's devices: relayed, never stored. */
    sealed?: SealedBox;
    callerConn: string;
    /** What the limits key on: the client address hash (callers are anonymous). */
    limitBy: { address: string };
  }): Promise<RingResult> {
    const { kv } = this.o;
    const limited = {
      ok: false as const,
      code: "rate_limited" as const,
      message: "Too many calls right now; please wait a minute and try again.",
    };
    // The caller's own budget first: it is counted even for handles that do
    // not exist (that is what stops a scan of the name space). The handle's
    // look-up and the record's hashes go meanwhile; none of them is kept
    // unless the ring goes on.
    const own: Charge = {
      limit: "ringsPerAddress",
      subject: r.limitBy.address,
    };
    const resumeToken = randomHex(32);
    const hashes = Promise.all([
      hmacHex(this.o.hmacKey, "caller", r.callerId),
      hmacHex(this.o.hmacKey, "callee", r.to),
      sha256Hex(resumeToken),
    ]);
    const [spent, profile] = await Promise.all([
      spend(kv, this.o.limits, [own]),
      getProfile(kv, r.to),
    ]);
    if (!spent.ok) return limited;
    // Nothing is counted or stored for a handle that does not exist.
    if (!profile) {
      return {
        ok: false,
        code: "unknown_handle",
        message: "No one has that handle.",
      };
    }
    // Rings to a handle: one address may spend only its share, and all
    // callers together (every caller is anonymous to the server) a budget.
    const shares = await spend(kv, this.o.limits, [
      {
        limit: "ringsPerAddressToHandle",
        subject: `${r.limitBy.address}:${r.to}`,
      },
      { limit: "anonymousRingsPerHandle", subject: r.to },
    ]);
    if (!shares.ok) return limited;
    const [callerHash, calleeHash, callerResume] = await hashes;
    const rec = {
      callId: r.callId,
      state: "ringing",
      calleeHandle: r.to,
      callerHash,
      calleeHash,
      createdAt: Date.now(),
      callerResume,
      callerConn: r.callerConn,
    } satisfies Omit<
      CallRecord,
      "ringUntil" | "callerSeen" | "silentMs" | "graceMs" | "due"
    >;
    const created = await createCall(kv, rec, {
      ringMs: this.o.ringMs,
      silentMs: this.o.silentMs,
      graceMs: this.o.resumeGraceMs,
    });
    if (!created) {
      return {
        ok: false,
        code: "call_exists",
        message: "That call id is in use.",
      };
    }
    log("call.ring", { callId: r.callId });
    // A browser subscribed to Web Push is reachable with no tab open.
    const [devices, subs] = await Promise.all([
      onlineDevices(kv, r.to),
      this.o.push?.subscriptions(r.to) ?? [],
    ]);
    let endNow: CallEnd | null = null;
    if (devices.length === 0 && subs.length === 0) endNow = "unavailable";
    else if (
      !devices.some((d) => d.whenBusy === "ring") && await inCall(kv, r.to)
    ) endNow = "busy";
    if (endNow) {
      await this.end(r.callId, endNow, ["ringing"]);
      log("call.ended", { callId: r.callId, outcome: endNow });
      return { ok: false, code: "ended", reason: endNow, resumeToken };
    }
    await this.o.notify(devicesTopic(r.to), {
      type: "incoming",
      callId: r.callId,
      ...(r.sealed ? { sealed: r.sealed } : {}),
    });
    // Pushes start once the socket ring is published and are never awaited:
    // a slow or hanging push service, or the few ms of crypto each push
    // costs, never delays the socket ring or the caller's `ringing`.
    if (subs.length) {
      this.o.push!.ring(
        r.to,
        subs,
        ringPayload(r.callId, rec.createdAt + this.o.ringMs, r.sealed),
      );
    }
    this.later(`ring:${r.callId}`, r.callId, rec.createdAt + this.o.ringMs);
    return { ok: true, devices: devices.length + subs.length, resumeToken };
  }

  async cancel(callId: string): Promise<void> {
    const ended = await this.end(callId, "cancelled", ["ringing"]);
    if (ended) await this.ended(ended, "cancelled");
  }

  async decline(
    callId: string,
    handle: string,
  ): Promise<"ok" | "forbidden" | "not_ringing"> {
    const rec = await getCall(this.o.kv, callId);
    if (!rec) return "not_ringing";
    if (rec.calleeHandle !== handle) return "forbidden";
    const ended = await this.end(callId, "declined", ["ringing"]);
    if (!ended) return "not_ringing";
    await this.ended(ended, "declined");
    return "ok";
  }

  /**
   * `won` runs as soon as this device's accept is written, before the caller
   * hears `accepted`: whatever the callee's side must have in place before
   * the caller's offer can arrive (its routes, `connected-call`) is there.
   */
  async accept(
    callId: string,
    handle: string,
    deviceId: string,
    conn: string,
    won?: (r: AcceptWon) => void,
  ): Promise<
    | { ok: true }
    | { ok: false; code: "forbidden" | "answered" | "not_ringing" }
  > {
    const resumeToken = randomHex(32);
    const [rec, resumeHash] = await Promise.all([
      getCall(this.o.kv, callId),
      sha256Hex(resumeToken),
    ]);
    if (!rec) return { ok: false, code: "not_ringing" };
    if (rec.calleeHandle !== handle) return { ok: false, code: "forbidden" };
    const answered = await acceptCall(
      this.o.kv,
      callId,
      deviceId,
      resumeHash,
      conn,
    );
    if (!answered) {
      const now = await getCall(this.o.kv, callId);
      return {
        ok: false,
        code: now?.state === "answered" ? "answered" : "not_ringing",
      };
    }
    won?.({ resumeToken, callerConn: answered.callerConn });
    this.cancelTimer(`ring:${callId}`);
    log("call.answered", { callId });
    this.o.push?.cancel(handle, callId);
    await Promise.all([
      this.o.notify(connTopic(answered.callerConn), {
        type: "accepted",
        callId,
      }),
      this.o.notify(
        devicesTopic(handle),
        { type: "answered-elsewhere", callId },
        deviceId,
      ),
    ]);
    return { ok: true };
  }

  async hangup(
    callId: string,
    side: "caller" | "callee",
    reason: HangupReason,
  ): Promise<void> {
    const ended = await this.end(callId, "cancelled", ["ringing", "answered"]);
    if (!ended) return;
    if (ended.decision === "cancelled") {
      return await this.ended(ended, "cancelled");
    }
    log("call.hangup", { callId, reason });
    const other = side === "caller" ? ended.calleeConn : ended.callerConn;
    if (other) {
      await this.o.notify(connTopic(other), { type: "hangup", callId, reason });
    }
  }

  async report(callId: string, relayed: boolean): Promise<void> {
    await updateCall(this.o.kv, callId, () => ({ relayed }));
  }

  async resume(
    callId: string,
    token: string,
    conn: string,
  ): Promise<
    | {
      ok: true;
      role: "caller" | "callee";
      state: CallRecord["state"];
      handle: string;
    }
    | { ok: false }
  > {
    const rec = await getCall(this.o.kv, callId);
    if (!rec) return { ok: false };
    const h = await sha256Hex(token);
    const role = h === rec.callerResume
      ? "caller"
      : h === rec.calleeResume
      ? "callee"
      : null;
    if (!role) return { ok: false };
    let state = rec.state;
    if (state !== "ended") {
      if (await resumeSide(this.o.kv, callId, role, conn)) {
        this.cancelTimer(`grace:${callId}:${role}`);
      } else {
        // Too late (a deadline passed before any sweep ended it): end it now.
        await this.settle(callId);
        state = (await getCall(this.o.kv, callId))?.state ?? "ended";
      }
    }
    log("call.resumed", { callId, kind: role });
    return { ok: true, role, state, handle: rec.calleeHandle };
  }

  /**
   * A socket of this call dropped. The call (media is peer to peer) goes on;
   * the record now says that side has the grace period to resume, so any
   * isolate's sweep ends the call if it does not; this isolate also settles
   * it at that deadline itself.
   */
  async sideLost(callId: string, side: Side, conn: string): Promise<void> {
    const rec = await loseSide(this.o.kv, callId, side, conn);
    const lostAt = side === "caller" ? rec?.callerLostAt : rec?.calleeLostAt;
    if (rec && lostAt !== undefined) {
      this.later(`grace:${callId}:${side}`, callId, lostAt + rec.graceMs);
    }
  }
}
