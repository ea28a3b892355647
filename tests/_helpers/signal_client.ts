/**
 * A signaling client for protocol tests: a real WebSocket to a real server,
 * with the Origin and cookie a browser would send, and a buffered inbox to
 * wait for the next message of a type (no sleeps).
 */
import {
  type ClientMessage,
  type ServerMessage,
  SUBPROTOCOL,
} from "@/signaling/protocol.ts";
import { ORIGIN, type TestClient } from "./app.ts";

type Of<T extends ServerMessage["type"]> = Extract<ServerMessage, { type: T }>;

export class SignalClient implements AsyncDisposable {
  inbox: ServerMessage[] = [];
  private waiters: {
    type: string;
    pred: (m: ServerMessage) => boolean;
    resolve: (m: ServerMessage) => void;
    reject: (e: Error) => void;
  }[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  /** The automatic heartbeat's timer, while it runs. */
  private beat: ReturnType<typeof setInterval> | undefined;

  private constructor(readonly ws: WebSocket, heartbeat = false) {
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data) as ServerMessage;
      // Like a browser client: once welcomed, heartbeat at the pace the
      // server asks for, until the socket closes.
      if (heartbeat && m.type === "welcome" && this.beat === undefined) {
        this.beat = setInterval(() => {
          if (ws.readyState === WebSocket.OPEN) {
            this.send({ type: "heartbeat" });
          }
        }, m.heartbeatMs);
      }
      const i = this.waiters.findIndex((w) => w.type === m.type && w.pred(m));
      if (i >= 0) this.waiters.splice(i, 1)[0].resolve(m);
      else this.inbox.push(m);
    };
    this.closed = new Promise((resolve) => {
      ws.onclose = (e) => {
        this.stopHeartbeat();
        resolve({ code: e.code, reason: e.reason });
        // Nothing more will come: fail whoever still waits, with the reason.
        for (const w of this.waiters.splice(0)) {
          w.reject(
            new Error(
              `socket closed ${e.code} ${e.reason} while waiting for ${w.type}`,
            ),
          );
        }
      };
    });
  }

  static async open(
    base: string,
    opts: {
      client?: TestClient;
      origin?: string;
      protocol?: string;
      /** Extra handshake headers (e.g. x-forwarded-for behind a test proxy). */
      headers?: Record<string, string>;
      /**
       * Send `heartbeat` every `welcome.heartbeatMs` once welcomed, until the
       * socket closes. Off by default: many tests rely on a silent socket.
       */
      heartbeat?: boolean;
    } = {},
  ): Promise<SignalClient> {
    const headers: Record<string, string> = {
      ...opts.headers,
      origin: opts.origin ?? ORIGIN,
    };
    const cookies = opts.client ? [...opts.client.cookies] : [];
    if (cookies.length) {
      headers.cookie = cookies.map(([k, v]) => `${k}=${v}`).join("; ");
    }
    const ws = new WebSocket(`${base}/api/signal`, {
      protocols: [opts.protocol ?? SUBPROTOCOL],
      headers,
    } as unknown as string[]);
    const c = new SignalClient(ws, opts.heartbeat);
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener("open", () => resolve(), { once: true });
      ws.addEventListener("error", () => reject(new Error("ws error")), {
        once: true,
      });
    });
    return c;
  }

  send(msg: ClientMessage | Record<string, unknown>): void {
    this.ws.send(JSON.stringify(msg));
  }

  sendRaw(data: string): void {
    this.ws.send(data);
  }

  /** The next message of this type (already received, or the next to come). */
  next<T extends ServerMessage["type"]>(
    type: T,
    pred: (m: Of<T>) => boolean = () => true,
  ): Promise<Of<T>> {
    const i = this.inbox.findIndex((m) => m.type === type && pred(m as Of<T>));
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0] as Of<T>);
    if (this.ws.readyState >= WebSocket.CLOSING) {
      return Promise.reject(
        new Error(`socket closed while waiting for ${type}`),
      );
    }
    return new Promise((resolve, reject) =>
      this.waiters.push({
        type,
        pred: pred as (m: ServerMessage) => boolean,
        resolve: resolve as (m: ServerMessage) => void,
        reject,
      })
    );
  }

  private stopHeartbeat(): void {
    clearInterval(this.beat);
    this.beat = undefined;
  }

  async close(): Promise<void> {
    this.stopHeartbeat();
    if (this.ws.readyState <= WebSocket.OPEN) this.ws.close();
    await this.closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

export async function device(
  base: string,
  client: TestClient,
  deviceId = crypto.randomUUID(),
  whenBusy: "busy" | "ring" = "busy",
  opts: { heartbeat?: boolean } = {},
): Promise<SignalClient> {
  const c = await SignalClient.open(base, { client, ...opts });
  c.send({ type: "hello", role: "device", deviceId, whenBusy });
  await c.next("welcome");
  return c;
}

export async function caller(
  base: string,
  client?: TestClient,
  headers?: Record<string, string>,
  opts: { heartbeat?: boolean; callerToken?: string } = {},
): Promise<SignalClient> {
  const { callerToken, ...rest } = opts;
  const c = await SignalClient.open(base, { client, headers, ...rest });
  c.send({
    type: "hello",
    role: "caller",
    callerToken: callerToken ??
      crypto.getRandomValues(new Uint8Array(16)).toHex(),
  });
  await c.next("welcome");
  return c;
}
