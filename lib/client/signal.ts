/**
 * The browser end of the signaling socket (signaling/PROTOCOL.md): hello,
 * heartbeats, and reconnection with backoff. After a reconnect it says hello
 * again and calls `onReconnect`, so the owner can resume its calls. Messages
 * sent while disconnected wait in a short queue. Besides the owner given at
 * construction, others may `listen` (each call of lib/client/call/ does).
 */
import type { ClientMessage, ServerMessage } from "@/signaling/protocol.ts";
import { openSignalSocket } from "./signal_open.ts";

const MAX_QUEUE = 200;

export type Hello = Extract<ClientMessage, { type: "hello" }>;
export type SocketState = "connecting" | "open" | "reconnecting" | "closed";

export interface SignalListener {
  onMessage?: (msg: ServerMessage) => void;
  onState?: (
    state: SocketState,
    detail?: { code: number; reason: string },
  ) => void;
  /** After a reconnect's welcome: resume calls here. */
  onReconnect?: () => void;
}

export interface SignalOptions extends SignalListener {
  hello: Hello;
  /**
   * A socket opened already (openSignalSocket), for the first connection;
   * not yet open or open, else a new one is opened.
   */
  socket?: WebSocket;
}

/** What a call needs of the socket: SignalSocket, or a fake in tests. */
export interface SignalClient {
  /** "open" once the server's welcome came (SignalSocket). */
  readonly state?: SocketState;
  send(msg: ClientMessage): void;
  /** Adds a listener; returns what removes it. */
  listen(l: SignalListener): () => void;
  close(): void;
}

/** Close codes after which reconnecting would not help. */
const FINAL = new Set([4000, 4001, 4003, 4008, 1009]);

export class SignalSocket implements SignalClient {
  private ls = new Set<SignalListener>();
  private ws: WebSocket | null = null;
  private queue: string[] = [];
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private retry = 0;
  private stopped = false;
  private welcomed = false;
  private everWelcomed = false;
  state: SocketState = "connecting";

  constructor(private o: SignalOptions) {
    this.ls.add(o);
    this.connect();
  }

  listen(l: SignalListener): () => void {
    this.ls.add(l);
    return () => this.ls.delete(l);
  }

  /** Tells every listener (those added meanwhile wait for the next event). */
  private emit(f: (l: SignalListener) => void) {
    for (const l of [...this.ls]) f(l);
  }

  private setState(s: SocketState, detail?: { code: number; reason: string }) {
    this.state = s;
    this.emit((l) => l.onState?.(s, detail));
  }

  private connect() {
    const given = this.o.socket;
    this.o.socket = undefined;
    const ws = given && given.readyState <= WebSocket.OPEN
      ? given
      : openSignalSocket();
    this.ws = ws;
    this.welcomed = false;
    // The server says nothing before the hello, so a socket that opened
    // before it was handed over has missed nothing but its `open`.
    if (ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify(this.o.hello));
    } else ws.onopen = () => ws.send(JSON.stringify(this.o.hello));
    ws.onmessage = (e) => {
      let msg: ServerMessage;
      try {
        msg = JSON.parse(e.data);
      } catch {
        return;
      }
      if (msg.type === "welcome") {
        this.welcomed = true;
        this.retry = 0;
        this.setState("open");
        clearInterval(this.heartbeat);
        this.heartbeat = setInterval(
          () => this.raw({ type: "heartbeat" }),
          msg.heartbeatMs,
        );
        if (this.everWelcomed) this.emit((l) => l.onReconnect?.());
        this.everWelcomed = true;
        for (const q of this.queue.splice(0)) ws.send(q);
      }
      if (msg.type !== "heartbeat-ack") this.emit((l) => l.onMessage?.(msg));
    };
    ws.onclose = (e) => {
      clearInterval(this.heartbeat);
      this.ws = null;
      if (this.stopped) return;
      if (FINAL.has(e.code)) {
        this.stopped = true;
        this.setState("closed", { code: e.code, reason: e.reason });
        return;
      }
      this.setState("reconnecting", { code: e.code, reason: e.reason });
      const delay = Math.min(5000, 250 * 2 ** this.retry++);
      setTimeout(() => {
        if (!this.stopped) this.connect();
      }, delay);
    };
  }

  private raw(msg: ClientMessage) {
    if (this.ws?.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(msg));
    }
  }

  send(msg: ClientMessage): void {
    const text = JSON.stringify(msg);
    if (this.ws?.readyState === WebSocket.OPEN && this.welcomed) {
      this.ws.send(text);
    } else if (this.queue.length < MAX_QUEUE) {
      this.queue.push(text);
    }
  }

  /** Drops the connection as a network failure would (tests and "reconnect now"). */
  drop(): void {
    this.ws?.close(4100, "dropped by client");
  }

  close(): void {
    this.stopped = true;
    clearInterval(this.heartbeat);
    this.ws?.close(1000, "bye");
    this.setState("closed");
  }
}
