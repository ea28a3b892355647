/**
 * The hub: this isolate's signaling sockets. It validates every frame,
 * checks that a socket speaks only for its own role and calls, drives the
 * call state machine (signaling/calls.ts) and relays offer/answer/candidate
 * bodies opaquely through the bus, so the two ends may sit on different
 * isolates. It never reads, stores or logs those bodies.
 */
import type { Config } from "../lib/config.ts";
import { log } from "../lib/log.ts";
import type { Bus, BusMessage } from "./bus.ts";
import { Calls, type Notify } from "./calls.ts";
import {
  type ClientMessage,
  type ClientMessageOf,
  CLOSE,
  parseClientFrame,
  type ServerMessage,
  SUBPROTOCOL,
} from "./protocol.ts";
import { markOffline, markOnline } from "../lib/store/presence.ts";
import {
  releaseSlot,
  renewSlots,
  type Slot,
  takeSlot,
} from "../lib/store/rate.ts";
import { getCall, ringingFor, touchCall } from "../lib/store/calls.ts";
import { Sweeper } from "./sweep.ts";
import { TokenBucketLimiter } from "../lib/rate_limit.ts";
import { connTopic, devicesTopic } from "./calls.ts";

export { SUBPROTOCOL };

export interface Identity {
  /** Signed-in wallet key, if any. */
  publicKey: string | null;
  /** That wallet's handle, if claimed. */
  handle: string | null;
  /** Keyed hash of the client's address (lib/client_address.ts): limits only. */
  address: string;
}

export interface HubOptions {
  kv: Deno.Kv;
  bus: Bus;
  config: Pick<
    Config,
    | "hmacKey"
    | "ringMs"
    | "callLogRetentionMs"
    | "limits"
    | "heartbeatMs"
    | "resumeGraceMs"
    | "sweepMs"
  >;
  /** How long a new socket may take to say hello (default 5 s). */
  helloMs?: number;
  /** Per-socket flood limit: burst and messages per second. */
  flood?: { burst: number; perSecond: number };
}

/** Bus payload: a server message for the sockets subscribed to a topic. */
interface Envelope extends BusMessage {
  msg: ServerMessage;
  /** Skip the device with this id (the one that answered). */
  exceptDevice?: string;
}

type Role = "caller" | "callee";

/**
 * Who may send each in-call message: checked against the call record
 * (which connection is the caller, which answered), never against what the
 * socket believes.
 */
const SENDERS: Record<InCallType, readonly Role[]> = {
  cancel: ["caller"],
  offer: ["caller"],
  report: ["caller"],
  answer: ["callee"],
  candidate: ["caller", "callee"],
  "ice-restart": ["caller", "callee"],
  verify: ["caller", "callee"],
  hangup: ["caller", "callee"],
};
/**
 * Which kind of socket may send each call-setup message (checked once, in
 * onFrame, before any handler runs): a socket of the other kind is closed.
 */
const SOCKET_ROLE: Partial<
  Record<ClientMessage["type"], { role: "caller" | "device"; reason: string }>
> = {
  ring: { role: "caller", reason: "only callers ring" },
  accept: { role: "device", reason: "only devices answer" },
  decline: { role: "device", reason: "only devices answer" },
};
type InCallType =
  | "cancel"
  | "offer"
  | "answer"
  | "candidate"
  | "ice-restart"
  | "verify"
  | "hangup"
  | "report";

class Conn {
  readonly id = crypto.randomUUID();
  role: "device" | "caller" | null = null;
  deviceId: string | null = null;
  whenBusy: "busy" | "ring" = "busy";
  callerId: string | null = null;
  /** Calls this socket created, won or resumed (for the resume grace on close). */
  calls = new Map<string, Role>();
  unsubs: (() => void)[] = [];
  helloTimer: ReturnType<typeof setTimeout> | undefined;
  /** The frame being handled; the next waits for it. */
  queue: Promise<void> = Promise.resolve();
  lastSeen = Date.now();
  closed = false;

  constructor(
    readonly socket: WebSocket,
    readonly identity: Identity,
    readonly slot: Slot | null,
  ) {}

  send(msg: ServerMessage): void {
    if (this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(msg));
    }
  }
}

export class Hub {
  readonly conns = new Set<Conn>();
  readonly calls: Calls;
  readonly heartbeatMs: number;
  readonly resumeGraceMs: number;
  readonly helloMs: number;
  /** Ends calls past their deadlines, this isolate's or a dead one's. */
  readonly sweeper: Sweeper;
  /** Per-socket flood limit, one bucket per connection id. */
  private flood: TokenBucketLimiter;
  private ticker: ReturnType<typeof setInterval>;

  constructor(private opts: HubOptions) {
    this.heartbeatMs = opts.config.heartbeatMs;
    this.resumeGraceMs = opts.config.resumeGraceMs;
    this.helloMs = opts.helloMs ?? 5_000;
    const flood = opts.flood ?? { burst: 200, perSecond: 50 };
    this.flood = new TokenBucketLimiter({
      capacity: flood.burst,
      refillPerSecond: flood.perSecond,
      // More than the sockets one isolate holds: a bucket is forgotten when
      // its socket closes, never because others crowd it out.
      maxKeys: 1_000_000,
    });
    const notify: Notify = (topic, msg, exceptDevice) =>
      this.publish(topic, msg, exceptDevice);
    this.calls = new Calls({
      kv: opts.kv,
      hmacKey: opts.config.hmacKey,
      ringMs: opts.config.ringMs,
      retentionMs: opts.config.callLogRetentionMs,
      resumeGraceMs: this.resumeGraceMs,
      // A side unrefreshed for as long as a silent socket is kept open is
      // one whose isolate died.
      silentMs: this.heartbeatMs * 3,
      notify,
      limits: opts.config.limits,
    });
    // One tick for all sockets: close the silent, refresh device presence
    // and each call side's sign of life.
    this.ticker = setInterval(() => this.tick(), this.heartbeatMs);
    this.sweeper = new Sweeper({
      kv: opts.kv,
      settle: (callId, now) => this.calls.settle(callId, now),
      intervalMs: opts.config.sweepMs,
    });
    this.sweeper.start();
  }

  /** Figures for the operator dashboard and benchmarks. */
  stats(): { connections: number; devices: number; callers: number } {
    let devices = 0, callers = 0;
    for (const c of this.conns) {
      if (c.role === "device") devices++;
      else if (c.role === "caller") callers++;
    }
    return { connections: this.conns.size, devices, callers };
  }

  /** A socket lease's length: renewed every heartbeat tick. */
  private get leaseMs(): number {
    return this.heartbeatMs * 3;
  }

  /**
   * Takes one of the client address's socket slots (shared by every isolate
   * through KV), or null when the address already holds its limit.
   */
  admit(address: string): Promise<Slot | null> {
    return takeSlot(
      this.opts.kv,
      "socket",
      address,
      this.opts.config.limits.socketsPerAddress,
      this.leaseMs,
    );
  }

  attach(socket: WebSocket, identity: Identity, slot: Slot | null): void {
    const conn = new Conn(socket, identity, slot);
    this.conns.add(conn);
    // A socket that never says hello is closed, whatever else it sends.
    conn.helloTimer = setTimeout(() => {
      if (!conn.role) {
        this.closeConn(conn, CLOSE.helloRequired, "no hello in time");
      }
    }, this.helloMs);
    socket.addEventListener("message", (e) => {
      if (conn.closed) return;
      conn.lastSeen = Date.now();
      // The flood limit is checked on arrival, so the queue stays short.
      if (!this.flood.take(conn.id).ok) {
        return this.closeConn(conn, CLOSE.rateLimited, "too many messages");
      }
      // One frame at a time per socket: relayed messages keep their order
      // even though each waits for a KV read of its call record.
      conn.queue = conn.queue.then(() => this.onFrame(conn, e.data)).catch(
        (err) => {
          log("signal.error", { kind: err?.name ?? "Error" });
          this.closeConn(conn, CLOSE.badFrame, "server error");
        },
      );
    });
    socket.addEventListener("close", () => this.onClose(conn));
    socket.addEventListener("error", () => this.onClose(conn));
  }

  /** Stops timers, closes every socket with 1001, and closes the bus. */
  async shutdown(): Promise<void> {
    clearInterval(this.ticker);
    await this.sweeper.stop();
    this.calls.close();
    for (const c of [...this.conns]) {
      this.closeConn(c, CLOSE.goingAway, "server shutting down");
    }
    await this.opts.bus.close();
  }

  private publish(topic: string, msg: ServerMessage, exceptDevice?: string) {
    const env: Envelope = exceptDevice ? { msg, exceptDevice } : { msg };
    return this.opts.bus.publish(topic, env);
  }

  private closeConn(conn: Conn, code: number, reason: string): void {
    if (!conn.closed) {
      log("signal.close", { code, reason });
    }
    const ws = conn.socket;
    // Let queued replies reach the client before the close frame; closing
    // with writes pending makes the peer see a reset instead of our code.
    const close = () => {
      try {
        ws.close(code, reason);
      } catch {
        // already closing
      }
    };
    if (ws.bufferedAmount > 0) setTimeout(close, 0);
    else close();
    this.onClose(conn);
  }

  private onClose(conn: Conn): void {
    if (conn.closed) return;
    conn.closed = true;
    clearTimeout(conn.helloTimer);
    this.flood.forget(conn.id);
    this.conns.delete(conn);
    for (const u of conn.unsubs) u();
    for (const [callId, role] of conn.calls) {
      this.calls.sideLost(callId, role, conn.id).catch(() =>
        log("signal.error", { kind: "side_lost" })
      );
    }
    conn.calls.clear();
    if (conn.slot) releaseSlot(this.opts.kv, conn.slot).catch(() => {});
    if (conn.role === "device" && conn.identity.handle && conn.deviceId) {
      markOffline(this.opts.kv, conn.identity.handle, conn.deviceId).catch(
        () => {},
      );
    }
  }

  private tick(): void {
    const now = Date.now();
    const slots: Slot[] = [];
    for (const c of this.conns) if (c.slot) slots.push(c.slot);
    renewSlots(this.opts.kv, slots, this.leaseMs).catch(() => {});
    for (const c of this.conns) {
      if (now - c.lastSeen > this.heartbeatMs * 3) {
        this.closeConn(c, CLOSE.heartbeatTimeout, "no heartbeat");
        continue;
      }
      if (c.role === "device") {
        markOnline(
          this.opts.kv,
          c.identity.handle!,
          c.deviceId!,
          c.whenBusy,
        ).catch(() => {});
      }
      // This socket is alive, so its side of each call is: say so in the
      // record, where a sweep on any isolate reads it.
      for (const [callId, role] of c.calls) {
        touchCall(this.opts.kv, callId, role, c.id, now).catch(() => {});
      }
    }
  }

  private async onFrame(conn: Conn, data: unknown): Promise<void> {
    if (conn.closed) return;
    const parsed = parseClientFrame(data);
    if (!parsed.ok) return this.closeConn(conn, parsed.close, parsed.reason);
    const msg = parsed.msg;
    if (msg.type === "hello") return await this.hello(conn, msg);
    if (!conn.role) {
      return this.closeConn(conn, CLOSE.helloRequired, "say hello first");
    }
    if (msg.type === "heartbeat") return conn.send({ type: "heartbeat-ack" });
    const needs = SOCKET_ROLE[msg.type];
    if (needs && conn.role !== needs.role) {
      return this.closeConn(conn, CLOSE.forbidden, needs.reason);
    }
    switch (msg.type) {
      case "ring":
        return await this.ring(conn, msg);
      case "accept":
      case "decline":
        return await this.answerRing(conn, msg);
      case "resume":
        return await this.resume(conn, msg);
      default:
        return await this.inCall(conn, msg);
    }
  }

  private async hello(conn: Conn, msg: ClientMessageOf<"hello">) {
    if (conn.role) {
      return this.closeConn(conn, CLOSE.helloRequired, "hello twice");
    }
    if (msg.role === "device") {
      if (!conn.identity.handle) {
        return this.closeConn(
          conn,
          CLOSE.notAuthenticated,
          "sign in and claim a handle to receive calls",
        );
      }
      conn.role = "device";
      conn.deviceId = msg.deviceId;
      conn.whenBusy = msg.whenBusy;
      this.subscribe(conn, devicesTopic(conn.identity.handle));
    } else {
      conn.role = "caller";
      conn.callerId = conn.identity.publicKey
        ? `wallet:${conn.identity.publicKey}`
        : `token:${msg.callerToken}`;
    }
    clearTimeout(conn.helloTimer);
    // Messages of this socket's calls come to it alone, by its own id.
    this.subscribe(conn, connTopic(conn.id));
    // Rings and answers may come from any isolate: be subscribed everywhere
    // before being online (devices) or able to ring (callers).
    await this.opts.bus.ready();
    if (conn.role === "device") {
      await markOnline(
        this.opts.kv,
        conn.identity.handle!,
        conn.deviceId!,
        conn.whenBusy,
      );
    }
    log("signal.hello", { kind: conn.role });
    conn.send({
      type: "welcome",
      role: conn.role,
      ...(conn.role === "device" ? { handle: conn.identity.handle! } : {}),
      heartbeatMs: this.heartbeatMs,
      ringMs: this.opts.config.ringMs,
    });
    if (conn.role === "device") {
      // Calls that rang before this device was here still ring for it.
      for (const r of await ringingFor(this.opts.kv, conn.identity.handle!)) {
        conn.send({ type: "incoming", callId: r.callId, from: r.from });
      }
    }
  }

  private subscribe(conn: Conn, topic: string): void {
    conn.unsubs.push(
      this.opts.bus.subscribe(topic, (m) => this.deliver(conn, m as Envelope)),
    );
  }

  /**
   * This socket speaks for a side of the call: its ticks refresh that side's
   * sign of life, and its close starts that side's resume grace.
   */
  private join(conn: Conn, callId: string, role: Role): void {
    conn.calls.set(callId, role);
  }

  /** The call ended (or went elsewhere) for this socket: nothing more to keep. */
  private leave(conn: Conn, callId: string): void {
    conn.calls.delete(callId);
  }

  /** Bus delivery to one socket: drop the call from its set when it ends. */
  private deliver(conn: Conn, env: Envelope): void {
    if (conn.closed) return;
    if (env.exceptDevice && env.exceptDevice === conn.deviceId) return;
    const m = env.msg;
    if (
      m.type === "ended" || m.type === "hangup" ||
      m.type === "answered-elsewhere"
    ) this.leave(conn, m.callId);
    conn.send(m);
  }

  private async ring(conn: Conn, msg: ClientMessageOf<"ring">) {
    if (conn.calls.size >= 3) {
      return conn.send({
        type: "error",
        code: "rate_limited",
        message: "Too many calls at once from this page.",
        callId: msg.callId,
      });
    }
    // This socket's own topic is subscribed since hello, so no answer is
    // missed; it is the call's caller only if this ring creates the call.
    const result = await this.calls.ring({
      callId: msg.callId,
      to: msg.to,
      callerId: conn.callerId!,
      from: conn.identity.handle,
      callerConn: conn.id,
      limitBy: conn.identity.publicKey
        ? { wallet: conn.identity.publicKey }
        : { address: conn.identity.address },
    });
    if (!result.ok) {
      // A refused ring changes nothing about this socket's calls.
      if (result.code === "ended") {
        return conn.send({
          type: "ended",
          callId: msg.callId,
          reason: result.reason,
          resumeToken: result.resumeToken,
        });
      }
      return conn.send({
        type: "error",
        code: result.code,
        message: result.message,
        callId: msg.callId,
      });
    }
    this.join(conn, msg.callId, "caller");
    conn.send({
      type: "ringing",
      callId: msg.callId,
      devices: result.devices,
      resumeToken: result.resumeToken,
    });
  }

  private async answerRing(
    conn: Conn,
    msg: ClientMessageOf<"accept" | "decline">,
  ) {
    const handle = conn.identity.handle!;
    if (msg.type === "decline") {
      const r = await this.calls.decline(msg.callId, handle);
      if (r === "forbidden") {
        return this.closeConn(conn, CLOSE.forbidden, "not your call");
      }
      if (r === "not_ringing") {
        conn.send({
          type: "error",
          code: "not_ringing",
          message: "This call is no longer ringing.",
          callId: msg.callId,
        });
      }
      return;
    }
    // The device's own topic is subscribed since hello, so the caller's
    // offer (sent to the connection the record names) cannot race past.
    const r = await this.calls.accept(
      msg.callId,
      handle,
      conn.deviceId!,
      conn.id,
    );
    if (!r.ok) {
      if (r.code === "forbidden") {
        return this.closeConn(conn, CLOSE.forbidden, "not your call");
      }
      return conn.send(
        r.code === "answered"
          ? { type: "answered-elsewhere", callId: msg.callId }
          : {
            type: "error",
            code: "not_ringing",
            message: "This call is no longer ringing.",
            callId: msg.callId,
          },
      );
    }
    this.join(conn, msg.callId, "callee");
    conn.send({
      type: "connected-call",
      callId: msg.callId,
      resumeToken: r.resumeToken,
    });
  }

  private async resume(conn: Conn, msg: ClientMessageOf<"resume">) {
    const r = await this.calls.resume(msg.callId, msg.token, conn.id);
    const fits = r.ok &&
      (r.role === "caller"
        ? conn.role === "caller"
        : conn.role === "device" && conn.identity.handle === r.handle);
    if (!r.ok || !fits) {
      return conn.send({
        type: "error",
        code: "bad_resume",
        message: "That call cannot be resumed from here.",
        callId: msg.callId,
      });
    }
    if (r.state !== "ended") this.join(conn, msg.callId, r.role);
    conn.send({ type: "resumed", callId: msg.callId, state: r.state });
  }

  /**
   * Messages inside a call. The call record says who the caller's and the
   * callee's connections are; a socket that is neither is closed, whatever
   * it believes, and a message goes only to the connection the record names.
   */
  private async inCall(
    conn: Conn,
    msg: ClientMessageOf<InCallType>,
  ) {
    const rec = await getCall(this.opts.kv, msg.callId);
    const role: Role | null = !rec
      ? null
      : rec.callerConn === conn.id
      ? "caller"
      : rec.calleeConn === conn.id
      ? "callee"
      : null;
    if (!rec || !role) {
      return this.closeConn(conn, CLOSE.forbidden, "not your call");
    }
    if (!SENDERS[msg.type].includes(role)) {
      return this.closeConn(
        conn,
        CLOSE.forbidden,
        `the ${role} cannot send ${msg.type}`,
      );
    }
    // Late messages for an ended call (a last candidate, a second hang-up)
    // are dropped quietly.
    if (rec.state === "ended") {
      this.leave(conn, msg.callId);
      return;
    }
    switch (msg.type) {
      case "cancel":
        return await this.calls.cancel(msg.callId);
      case "report":
        return await this.calls.report(msg.callId, msg.relayed);
      case "hangup":
        this.leave(conn, msg.callId);
        return await this.calls.hangup(msg.callId, role, msg.reason);
    }
    const to = role === "caller" ? rec.calleeConn : rec.callerConn;
    if (rec.state !== "answered" || !to) {
      return conn.send({
        type: "error",
        code: "not_answered",
        message: "No one has answered this call yet.",
        callId: msg.callId,
      });
    }
    // offer, answer, candidate, ice-restart, verify: relayed as they are.
    await this.publish(connTopic(to), relayed(msg));
  }
}

/** The relayed copy: the same fields, re-assembled so nothing else slips through. */
function relayed(
  msg: ClientMessageOf<
    "offer" | "answer" | "candidate" | "ice-restart" | "verify"
  >,
): ServerMessage {
  switch (msg.type) {
    case "offer":
      return { type: "offer", callId: msg.callId, sdp: msg.sdp };
    case "answer":
      return { type: "answer", callId: msg.callId, sdp: msg.sdp };
    case "candidate":
      return {
        type: "candidate",
        callId: msg.callId,
        candidate: msg.candidate,
      };
    case "ice-restart":
      return { type: "ice-restart", callId: msg.callId };
    case "verify":
      return {
        type: "verify",
        callId: msg.callId,
        cert: msg.cert,
        certSig: msg.certSig,
        statement: msg.statement,
        sig: msg.sig,
      };
  }
}
