/**
 * The hub: this isolate's signaling sockets. It validates every frame,
 * checks that a socket speaks only for its own role and calls, drives the
 * call state machine (signaling/calls.ts) and relays offer/answer/candidate
 * bodies opaquely through the bus, so the two ends may sit on different
 * isolates. It never reads, stores or logs those bodies.
 *
 * The relay's hot path: a frame is parsed once on arrival (protocol.ts), a
 * relayed message on a route the socket already knows (see Route: checked
 * against the call record once, then kept true by notices and heartbeat
 * ticks) is re-assembled, serialised once and handed to the other side's
 * socket: directly when it is on this isolate, else on its own topic, and
 * that hub sends the very string to its socket.
 */
import type { Config } from "../lib/config.ts";
import { log } from "../lib/log.ts";
import { PushFanout } from "../lib/push/ring.ts";
import { type Bus, type BusMessage, RESOLVED } from "./bus.ts";
import { type AcceptWon, Calls, type Notify } from "./calls.ts";
import {
  canonicalRelayed,
  type ClientMessage,
  type ClientMessageOf,
  CLOSE,
  parseClientFrame,
  type ParseResult,
  sealedProblem,
  type ServerMessage,
  SUBPROTOCOL,
} from "./protocol.ts";
import {
  markOffline,
  markOnline,
  markOnlineMany,
} from "../lib/store/presence.ts";
import {
  releaseSlot,
  renewSlots,
  type Slot,
  takeSlot,
} from "../lib/store/rate.ts";
import {
  type CallRecord,
  getCall,
  ringingFor,
  type Touch,
  touchCalls,
} from "../lib/store/calls.ts";
import { Sweeper } from "./sweep.ts";
import { TokenBucket } from "../lib/rate_limit.ts";
import { sha256Hex } from "../lib/crypto/hash.ts";
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
    | "push"
    | "dataKeys"
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
 * socket believes. (relayNow has the relayed types' rule inline; the fast
 * path tests check the two agree.)
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
/** Messages relayed to the other side as they are. */
type RelayedType = "offer" | "answer" | "candidate" | "ice-restart" | "verify";
const RELAYED = new Set<string>(
  [
    "offer",
    "answer",
    "candidate",
    "ice-restart",
    "verify",
  ] satisfies RelayedType[],
);
/** The same test as `RELAYED.has(msg.type)`, without hashing the type. */
const isRelayed = (
  msg: ClientMessage,
): msg is ClientMessageOf<RelayedType> => {
  const t = msg.type;
  return t === "candidate" || t === "offer" || t === "answer" ||
    t === "ice-restart" || t === "verify";
};
/**
 * A relayed message as a hub serialises it (`JSON.stringify(relayed(msg))`:
 * its type comes first), so the receiving hub hands it to the socket unread.
 */
const RELAYED_JSON =
  /^\{"type":"(?:offer|answer|candidate|ice-restart|verify)"/;

/**
 * Where a socket's relayed messages for one call go: its side and the other
 * side's connection, as the call record said when last read. Dropped at
 * once by whatever changes them (the other side resumed elsewhere, a
 * hang-up, the end: each tells this socket's hub), and confirmed against
 * the record by every heartbeat tick (see {@link ROUTE_TTL_BEATS}).
 */
interface Route {
  role: Role;
  /** The other side's topic. */
  topic: string;
  /**
   * The other side's socket when it is on this isolate: relayed messages
   * are handed to it directly, not through the bus (the bus would deliver
   * them here anyway, a microtask later).
   */
  peer: Conn | undefined;
  until: number;
}
/**
 * How long a route is used without the call record confirming it, in
 * heartbeat intervals: each tick's write of the record confirms it, so a
 * live call's route reads nothing; a route whose notice was lost is wrong
 * for at most about one interval.
 */
const ROUTE_TTL_BEATS = 1.5;

/**
 * Notices between hubs about one socket's call, on that socket's own topic
 * (never passed to the socket): `#detach`, another socket resumed its side,
 * so it no longer speaks for nor hears the call; `#route`, the other side
 * moved, so read the record again.
 *
 * A resume sends `#detach` to the old socket before the record changes and
 * `#route` to the other side after (see resume). On one isolate both take
 * effect at once. Across isolates they travel on the bus, so what another
 * hub relayed in the moment before it heard them may still arrive, as a
 * message relayed just before a resume always could (only ICE candidates;
 * PROTOCOL.md: not replayed); what the old socket sends after hearing
 * `#detach` is dropped, or refused with 4003 once the record moved on.
 */
interface Notice {
  type: "#detach" | "#route";
  callId: string;
}

/** Publish options for a socket's own topic: exactly one socket anywhere holds it. */
const SOLE = { sole: true } as const;
const CONN_PREFIX = connTopic("");

class Conn {
  readonly id = crypto.randomUUID();
  role: "device" | "caller" | null = null;
  deviceId: string | null = null;
  whenBusy: "busy" | "ring" = "busy";
  callerId: string | null = null;
  /** Calls this socket created, won or resumed (for the resume grace on close). */
  calls = new Map<string, Role>();
  /** Known routes of this socket's answered calls, by call id (see Route). */
  routes = new Map<string, Route>();
  /** Calls another socket resumed this socket's side of. */
  detached = new Set<string>();
  /** Frames waiting in `queue`; at 0 a relayed frame on a known route goes at once. */
  pending = 0;
  unsubs: (() => void)[] = [];
  helloTimer: ReturnType<typeof setTimeout> | undefined;
  /** The frame being handled; the next waits for it. */
  queue: Promise<void> = Promise.resolve();
  lastSeen = Date.now();
  closed = false;

  constructor(
    readonly socket: WebSocket,
    /** Who the session says this is; forgotten when it says hello as a caller. */
    public identity: Identity,
    readonly slot: Slot | null,
    /** The flood limit: this socket's own bucket. */
    readonly flood: TokenBucket,
  ) {}

  send(msg: ServerMessage): void {
    if (this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(msg));
    }
  }

  /** Sends a server message already serialised (by this hub or another). */
  sendText(json: string): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(json);
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
  /** Web Push to subscribed browsers of a handle (rings and their ends). */
  readonly push: PushFanout;
  /** Per-socket flood limit: each socket gets a bucket of this size. */
  private flood: { burst: number; perSecond: number };
  /** This isolate's sockets by connection id. */
  private byId = new Map<string, Conn>();
  /** How long a route is used unconfirmed (see Route). */
  private readonly routeTtlMs: number;
  private ticker: ReturnType<typeof setInterval>;

  constructor(private opts: HubOptions) {
    this.heartbeatMs = opts.config.heartbeatMs;
    this.resumeGraceMs = opts.config.resumeGraceMs;
    this.helloMs = opts.helloMs ?? 5_000;
    this.flood = opts.flood ?? { burst: 200, perSecond: 50 };
    this.routeTtlMs = this.heartbeatMs * ROUTE_TTL_BEATS;
    const notify: Notify = (topic, msg, exceptDevice) =>
      this.publish(topic, msg, exceptDevice);
    this.push = new PushFanout({ kv: opts.kv, config: opts.config });
    if (!opts.config.push.enabled && opts.config.push.reason === "no_keys") {
      log("push.disabled", { reason: "no_vapid_keys" });
    }
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
      push: this.push,
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
    const conn = new Conn(
      socket,
      identity,
      slot,
      new TokenBucket(this.flood.burst, this.flood.perSecond),
    );
    this.conns.add(conn);
    this.byId.set(conn.id, conn);
    // A socket that never says hello is closed, whatever else it sends.
    conn.helloTimer = setTimeout(() => {
      if (!conn.role) {
        this.closeConn(conn, CLOSE.helloRequired, "no hello in time");
      }
    }, this.helloMs);
    socket.addEventListener("message", (e) => {
      if (conn.closed) return;
      const now = Date.now();
      conn.lastSeen = now;
      // The flood limit is checked on arrival, so the queue stays short.
      if (!conn.flood.take(now)) {
        return this.closeConn(conn, CLOSE.rateLimited, "too many messages");
      }
      const data = e.data;
      // A relayed message on a route this socket already knows goes at once
      // (no KV read, no promise), unless earlier frames still wait; one
      // already in its relayed form goes as it came, never parsed.
      if (conn.pending === 0 && typeof data === "string") {
        const c = canonicalRelayed(data);
        if (c && this.relayTextNow(conn, c.type, c.callId, data)) return;
      }
      const parsed = parseClientFrame(data);
      if (conn.pending === 0 && parsed.ok && this.relayNow(conn, parsed.msg)) {
        return;
      }
      // One frame at a time per socket: relayed messages keep their order
      // even when one waits for a KV read of its call record.
      conn.pending++;
      conn.queue = conn.queue.then(() => this.onFrame(conn, parsed));
    });
    socket.addEventListener("close", () => this.onClose(conn));
    socket.addEventListener("error", () => this.onClose(conn));
  }

  /** Stops timers, closes every socket with 1001, and closes the bus. */
  async shutdown(): Promise<void> {
    clearInterval(this.ticker);
    await this.sweeper.stop();
    this.calls.close();
    // Pushes in flight are aborted, not waited out to their timeout.
    await this.push.close();
    for (const c of [...this.conns]) {
      this.closeConn(c, CLOSE.goingAway, "server shutting down");
    }
    await this.opts.bus.close();
  }

  private publish(topic: string, msg: ServerMessage, exceptDevice?: string) {
    // A socket's own topic (never with exceptDevice): the message exactly as
    // that socket gets it, serialised once.
    if (topic.startsWith(CONN_PREFIX)) {
      return this.opts.bus.publishText(topic, JSON.stringify(msg), SOLE);
    }
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
    this.conns.delete(conn);
    this.byId.delete(conn.id);
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
    const online: Parameters<typeof markOnlineMany>[1] = [];
    const touches: (Touch & { c: Conn })[] = [];
    for (const c of this.conns) {
      if (now - c.lastSeen > this.heartbeatMs * 3) {
        this.closeConn(c, CLOSE.heartbeatTimeout, "no heartbeat");
        continue;
      }
      if (c.role === "device") {
        online.push({
          handle: c.identity.handle!,
          deviceId: c.deviceId!,
          whenBusy: c.whenBusy,
        });
      }
      for (const [callId, side] of c.calls) {
        touches.push({ callId, side, conn: c.id, c });
      }
    }
    markOnlineMany(this.opts.kv, online, now).catch(() => {});
    // These sockets are alive, so their sides of their calls are: say so in
    // the records, where a sweep on any isolate reads them (both sides of a
    // call held here in one write). Each record written also confirms (or
    // drops) the socket's route for the call.
    if (!touches.length) return;
    touchCalls(this.opts.kv, touches, now).then((written) => {
      for (const t of touches) {
        const rec = written.get(`${t.callId}:${t.side}`);
        if (rec !== undefined) this.confirmRoute(t.c, t.callId, t.side, rec);
      }
    }, () => {});
  }

  /** Handles one queued frame (parsed on arrival); the next waits for it. */
  private async onFrame(conn: Conn, parsed: ParseResult): Promise<void> {
    try {
      await this.handle(conn, parsed);
    } catch (err) {
      log("signal.error", { kind: (err as Error)?.name ?? "Error" });
      this.closeConn(conn, CLOSE.badFrame, "server error");
    } finally {
      conn.pending--;
    }
  }

  private async handle(conn: Conn, parsed: ParseResult): Promise<void> {
    if (conn.closed) return;
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
        // A frame that waited behind another may find its route known now.
        if (this.relayNow(conn, msg)) return;
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
      // Sealed sender: a caller is anonymous to the server even when its
      // socket carries a session cookie. Who is calling travels sealed to
      // the callee's devices (`ring.sealed`); nothing here reads the session.
      conn.role = "caller";
      conn.identity = {
        publicKey: null,
        handle: null,
        address: conn.identity.address,
      };
      conn.callerId = `token:${msg.callerToken}`;
    }
    clearTimeout(conn.helloTimer);
    // Messages of this socket's calls come to it alone, by its own id, as
    // the JSON text the socket gets.
    conn.unsubs.push(
      this.opts.bus.subscribeText(
        connTopic(conn.id),
        (json) => this.deliverText(conn, json),
      ),
    );
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
      // The sealed identity was never stored: the replay has none.
      for (const r of await ringingFor(this.opts.kv, conn.identity.handle!)) {
        conn.send({ type: "incoming", callId: r.callId, replay: true });
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
    conn.detached.delete(callId);
  }

  /** The call ended (or went elsewhere) for this socket: nothing more to keep. */
  private leave(conn: Conn, callId: string): void {
    conn.calls.delete(callId);
    conn.routes.delete(callId);
  }

  /**
   * A heartbeat tick wrote the call record (`rec`, null when this socket no
   * longer speaks for its side or the call is over): a route that still
   * matches it is good for another interval; one that does not is dropped,
   * so the next message reads the record. Never installs a route: a notice
   * that came after the read, or a route read since, stays as it is.
   */
  private confirmRoute(
    conn: Conn,
    callId: string,
    role: Role,
    rec: CallRecord | null,
  ): void {
    const route = conn.routes.get(callId);
    if (!route) return;
    const to = rec?.state !== "answered"
      ? undefined
      : role === "caller"
      ? rec.calleeConn
      : rec.callerConn;
    if (
      to && route.role === role && route.topic === connTopic(to) &&
      conn.calls.get(callId) === role
    ) route.until = Date.now() + this.routeTtlMs;
    else conn.routes.delete(callId);
  }

  /** A notice about one of this socket's calls (see Notice). */
  private applyNotice(conn: Conn, n: Notice): void {
    conn.routes.delete(n.callId);
    if (n.type === "#detach") {
      conn.calls.delete(n.callId);
      conn.detached.add(n.callId);
    }
  }

  /**
   * Sends a notice to a socket's hub: at once if the socket is here, else on
   * its topic; resolves once it is posted (broadcast) or written (kv).
   */
  private async notice(
    connId: string,
    type: Notice["type"],
    callId: string,
  ): Promise<void> {
    const here = this.byId.get(connId);
    if (here) return this.applyNotice(here, { type, callId });
    const n: Notice = { type, callId };
    await this.opts.bus.publishText(connTopic(connId), JSON.stringify(n), SOLE);
  }

  /**
   * Delivery on a socket's own topic: relayed messages go to the socket as
   * the sender's hub serialised them, unread (unless another socket resumed
   * one of this socket's calls: then each is checked); notices are applied;
   * other messages are read for the calls they end, then sent as they are.
   */
  private deliverText(conn: Conn, json: string): void {
    if (conn.closed) return;
    if (conn.detached.size === 0 && RELAYED_JSON.test(json)) {
      return conn.sendText(json);
    }
    const read = JSON.parse(json);
    // From a hub of an older version: an envelope, not the message.
    if (typeof read.type !== "string") return this.deliver(conn, read);
    const m = read as ServerMessage | Notice;
    if (m.type === "#detach" || m.type === "#route") {
      return this.applyNotice(conn, m);
    }
    if ("callId" in m && m.callId !== undefined) {
      if (RELAYED.has(m.type) && conn.detached.has(m.callId)) return;
      if (
        m.type === "ended" || m.type === "hangup" ||
        m.type === "answered-elsewhere"
      ) this.leave(conn, m.callId);
    }
    conn.sendText(json);
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
    const bad = sealedProblem(msg);
    if (bad) {
      return conn.send({
        type: "error",
        code: "bad_sealed",
        message: bad,
        callId: msg.callId,
      });
    }
    // This socket's own topic is subscribed since hello, so no answer is
    // missed; it is the call's caller only if this ring creates the call.
    const result = await this.calls.ring({
      callId: msg.callId,
      to: msg.to,
      callerId: conn.callerId!,
      sealed: msg.sealed,
      callerConn: conn.id,
      limitBy: { address: conn.identity.address },
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
    // Once the accept is written and before the caller hears of it, so its
    // offer finds this side's route and `connected-call` has gone ahead.
    const won = (r: AcceptWon) => {
      this.join(conn, msg.callId, "callee");
      conn.send({
        type: "connected-call",
        callId: msg.callId,
        resumeToken: r.resumeToken,
      });
      // The record this accept wrote names both sides: their routes are
      // known now, so the offer and the answer need no read of it (as
      // inCall would set them after reading it; ticks confirm them, notices
      // drop them).
      this.knowRoute(conn, msg.callId, "callee", this.routeTo(r.callerConn));
      const caller = this.byId.get(r.callerConn);
      if (caller) {
        this.knowRoute(caller, msg.callId, "caller", this.routeTo(conn.id));
      }
    };
    const r = await this.calls.accept(
      msg.callId,
      handle,
      conn.deviceId!,
      conn.id,
      won,
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
  }

  /** The route to connection `to`, good for routeTtlMs. */
  private routeTo(to: string): Omit<Route, "role"> {
    return {
      topic: connTopic(to),
      peer: this.byId.get(to),
      until: Date.now() + this.routeTtlMs,
    };
  }

  /**
   * Keeps `conn`'s route for its side of a call, if it still speaks for
   * that side; returns the route.
   */
  private knowRoute(
    conn: Conn,
    callId: string,
    role: Role,
    to: Omit<Route, "role">,
  ): Route {
    const route = { role, ...to };
    if (!conn.closed && conn.calls.get(callId) === role) {
      conn.routes.set(callId, route);
    }
    return route;
  }

  private async resume(conn: Conn, msg: ClientMessageOf<"resume">) {
    const refuse = () =>
      conn.send({
        type: "error",
        code: "bad_resume",
        message: "That call cannot be resumed from here.",
        callId: msg.callId,
      });
    // Which side the token opens, and whether this socket may be that side,
    // before anything changes.
    const before = await getCall(this.opts.kv, msg.callId);
    if (!before) return refuse();
    const hash = await sha256Hex(msg.token);
    const side: Role | null = hash === before.callerResume
      ? "caller"
      : hash === before.calleeResume
      ? "callee"
      : null;
    const fits = side === "caller"
      ? conn.role === "caller"
      : side === "callee" && conn.role === "device" &&
        conn.identity.handle === before.calleeHandle;
    if (!side || !fits) return refuse();
    // The socket that spoke for this side stops first, before the record
    // names this one: from here on nothing relayed reaches it, and what it
    // sends is dropped (refused with 4003 once the record moves on).
    const old = side === "caller" ? before.callerConn : before.calleeConn;
    if (before.state !== "ended" && old && old !== conn.id) {
      await this.notice(old, "#detach", msg.callId);
    }
    const r = await this.calls.resume(msg.callId, msg.token, conn.id);
    if (!r.ok) return refuse();
    if (r.state !== "ended") {
      this.join(conn, msg.callId, r.role);
      // The other side's route still names the old socket: it reads the
      // record again (read after the resume, so a side that moved meanwhile
      // is the one told).
      const now = await getCall(this.opts.kv, msg.callId);
      const other = r.role === "caller" ? now?.calleeConn : now?.callerConn;
      if (other) await this.notice(other, "#route", msg.callId);
    }
    conn.send({ type: "resumed", callId: msg.callId, state: r.state });
  }

  /**
   * Messages inside a call. The call record says who the caller's and the
   * callee's connections are; a socket that is neither is closed, whatever
   * it believes, and a message goes only to the connection the record names.
   * (A relayed message whose route is known skips this read: relayNow.)
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
    // Another socket is resuming this side: until the record names it (or
    // if that resume failed), this socket's messages are dropped.
    if (conn.detached.has(msg.callId)) return;
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
    // offer, answer, candidate, ice-restart, verify: relayed as they are,
    // and the route kept while this socket speaks for the call.
    await this.relay(
      this.knowRoute(conn, msg.callId, role, this.routeTo(to)),
      msg,
    );
  }

  /**
   * The hot path: a relayed message for a call whose route this socket
   * knows goes without a KV read. False when the slow path must decide (no
   * route, an expired one, a sender the route does not allow, another type).
   */
  private relayNow(conn: Conn, msg: ClientMessage): boolean {
    if (!isRelayed(msg)) return false;
    const route = this.knownRoute(conn, msg.type, msg.callId);
    if (!route) return false;
    this.failClosed(conn, this.relay(route, msg));
    return true;
  }

  /**
   * relayNow for a frame already in its relayed form (protocol.ts
   * `canonicalRelayed`): the frame itself is what the other side gets.
   */
  private relayTextNow(
    conn: Conn,
    type: RelayedType,
    callId: string,
    text: string,
  ): boolean {
    const route = this.knownRoute(conn, type, callId);
    if (!route) return false;
    this.failClosed(conn, this.relayText(route, callId, text));
    return true;
  }

  /** This socket's route for the call, if it is known and lets it send `type`. */
  private knownRoute(
    conn: Conn,
    type: RelayedType,
    callId: string,
  ): Route | null {
    const route = conn.routes.get(callId);
    if (!route || route.until <= conn.lastSeen) return null;
    // SENDERS, for the relayed types: offers from the caller, answers from
    // the callee, the rest from either.
    if (
      type === "offer"
        ? route.role !== "caller"
        : type === "answer" && route.role !== "callee"
    ) return null;
    return route;
  }

  /** A relay that could not be done closes the sender's socket. */
  private failClosed(conn: Conn, sent: Promise<void>): void {
    if (sent === RESOLVED) return;
    sent.catch((err) => {
      log("signal.error", { kind: (err as Error)?.name ?? "Error" });
      this.closeConn(conn, CLOSE.badFrame, "server error");
    });
  }

  /** Sends the relayed copy, serialised once, to the other side. */
  private relay(
    route: Route,
    msg: ClientMessageOf<RelayedType>,
  ): Promise<void> {
    return this.relayText(route, msg.callId, JSON.stringify(relayed(msg)));
  }

  /** To the other side's socket: directly when it is here, else on its topic. */
  private relayText(route: Route, callId: string, json: string): Promise<void> {
    const peer = route.peer;
    if (peer && !peer.closed) {
      // As deliverText would: not to a socket another one resumed from.
      if (peer.detached.size === 0 || !peer.detached.has(callId)) {
        peer.sendText(json);
      }
      return RESOLVED;
    }
    return this.opts.bus.publishText(route.topic, json, SOLE);
  }
}

/**
 * The relayed copy: the same fields, re-assembled so nothing else slips
 * through. The hot three come from parseClientFrame already so: exactly
 * the schema's fields in its order, whether zod or its twin
 * (protocol.ts `fastRelayed`) validated them, so they go as they are.
 */
function relayed(
  msg: ClientMessageOf<
    "offer" | "answer" | "candidate" | "ice-restart" | "verify"
  >,
): ServerMessage {
  switch (msg.type) {
    case "offer":
    case "answer":
    case "candidate":
      return msg;
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
