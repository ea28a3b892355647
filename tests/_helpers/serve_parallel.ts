/**
 * The production entry on every core: `deno serve --parallel serve.ts` as its
 * own process with the permissions and environment a test or benchmark
 * chooses (DENO_JOBS workers), on a free loopback port; waits for the line
 * that says it listens. Plus what talks to it: an HTTP sign-up, and a raw
 * WebSocket client that reads the handshake's `x-reach-worker` header (the
 * browser WebSocket API cannot), so a test knows which worker holds which
 * socket.
 */
import { concatBytes } from "@noble/hashes/utils.js";
import { freePort, untilListening } from "./server.ts";
import { newWallet, signOffer } from "./wallet.ts";
import { SUBPROTOCOL } from "@/signaling/protocol.ts";

const ROOT = new URL("../../", import.meta.url);

export interface ParallelServer extends AsyncDisposable {
  port: number;
  pid: number;
  base: string;
  output(): string;
  stop(): Promise<void>;
}

export async function startParallelServer(opts: {
  permissions: string[];
  env: Record<string, string>;
  workers: number;
}): Promise<ParallelServer> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "serve",
      "--parallel",
      ...opts.permissions,
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "serve.ts",
    ],
    cwd: ROOT,
    env: { ...opts.env, DENO_JOBS: String(opts.workers), NO_COLOR: "1" },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const { output, pumps } = await untilListening(child, "deno serve");
  const stop = async () => {
    const kill = (sig: Deno.Signal) => {
      try {
        child.kill(sig);
      } catch {
        // already gone
      }
    };
    kill("SIGTERM");
    // `deno serve` drains open connections first (this process's fetch
    // keeps some alive): a few seconds, then SIGKILL.
    const timer = setTimeout(() => kill("SIGKILL"), 3000);
    await child.status;
    clearTimeout(timer);
    await pumps;
  };
  return {
    port,
    pid: child.pid,
    base: `http://127.0.0.1:${port}`,
    output,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** Signs a new wallet in over HTTP and claims `handle`; returns its cookie. */
export async function signUp(
  base: string,
  origin: string,
  handle: string,
): Promise<string> {
  const o = { origin };
  const offer = await (await fetch(`${base}/api/auth/nonce`, {
    method: "POST",
    headers: o,
  })).json();
  const verify = await fetch(`${base}/api/auth/verify`, {
    method: "POST",
    headers: { ...o, "content-type": "application/json" },
    body: JSON.stringify(signOffer(newWallet(), offer)),
  });
  if (verify.status !== 200) throw new Error(`verify ${verify.status}`);
  const cookie = verify.headers.get("set-cookie")!.split(";")[0];
  await verify.body?.cancel();
  const claim = await fetch(`${base}/api/handles`, {
    method: "POST",
    headers: { ...o, cookie, "content-type": "application/json" },
    body: JSON.stringify({ handle }),
  });
  if (claim.status !== 201) {
    throw new Error(`claim @${handle}: ${claim.status} ${await claim.text()}`);
  }
  return cookie;
}

type Msg = Record<string, unknown> & { type: string };

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * A WebSocket client over a plain TCP connection (RFC 6455, text frames),
 * enough for the signaling protocol, that keeps the handshake's headers.
 */
export class RawSignal {
  readonly inbox: Msg[] = [];
  #waiters: {
    pred: (m: Msg) => boolean;
    resolve: (m: Msg) => void;
    reject: (e: Error) => void;
  }[] = [];
  #buf: Uint8Array = new Uint8Array(0);
  #text: Uint8Array[] = [];
  #closed = false;
  readonly done: Promise<void>;

  private constructor(
    readonly conn: Deno.Conn,
    readonly headers: Headers,
    rest: Uint8Array,
  ) {
    this.#buf = rest;
    this.done = this.#read();
  }

  /** The worker that holds this socket (`x-reach-worker` of the 101). */
  get worker(): string {
    return this.headers.get("x-reach-worker") ?? "";
  }

  static async open(
    port: number,
    headers: Record<string, string>,
  ): Promise<RawSignal> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const key = crypto.getRandomValues(new Uint8Array(16)).toBase64();
    const lines = [
      "GET /api/signal HTTP/1.1",
      `Host: 127.0.0.1:${port}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      `Sec-WebSocket-Key: ${key}`,
      "Sec-WebSocket-Version: 13",
      `Sec-WebSocket-Protocol: ${SUBPROTOCOL}`,
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ];
    await conn.write(enc.encode(lines.join("\r\n") + "\r\n\r\n"));
    let buf: Uint8Array = new Uint8Array(0);
    let end = -1;
    while (end < 0) {
      const chunk = new Uint8Array(4096);
      const n = await conn.read(chunk);
      if (n === null) throw new Error("connection closed during handshake");
      buf = concatBytes(buf, chunk.subarray(0, n));
      end = dec.decode(buf).indexOf("\r\n\r\n");
    }
    const head = dec.decode(buf).slice(0, end);
    const rest = buf.subarray(enc.encode(head).length + 4);
    const [status, ...fields] = head.split("\r\n");
    if (!/^HTTP\/1\.1 101\b/.test(status)) {
      conn.close();
      throw new Error(`handshake: ${status}`);
    }
    const h = new Headers();
    for (const f of fields) {
      const i = f.indexOf(":");
      h.append(f.slice(0, i).trim(), f.slice(i + 1).trim());
    }
    return new RawSignal(conn, h, rest);
  }

  send(msg: Record<string, unknown>): void {
    this.#frame(0x1, enc.encode(JSON.stringify(msg)));
  }

  /** The next message of this type (already received, or the next to come). */
  next(type: string, pred: (m: Msg) => boolean = () => true): Promise<Msg> {
    const want = (m: Msg) => m.type === type && pred(m);
    const i = this.inbox.findIndex(want);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]);
    if (this.#closed) {
      return Promise.reject(new Error(`closed while waiting for ${type}`));
    }
    return new Promise((resolve, reject) =>
      this.#waiters.push({ pred: want, resolve, reject })
    );
  }

  async close(): Promise<void> {
    if (!this.#closed) {
      try {
        this.#frame(0x8, new Uint8Array([0x03, 0xe8]));
      } catch {
        // gone already
      }
    }
    await this.done;
  }

  #frame(opcode: number, payload: Uint8Array): void {
    const mask = crypto.getRandomValues(new Uint8Array(4));
    const n = payload.length;
    const head = n < 126
      ? [0x80 | opcode, 0x80 | n]
      : n < 65536
      ? [0x80 | opcode, 0x80 | 126, n >> 8, n & 0xff]
      : [
        0x80 | opcode,
        0x80 | 127,
        0,
        0,
        0,
        0,
        n >>> 24,
        (n >> 16) & 0xff,
        (
          n >> 8
        ) & 0xff,
        n & 0xff,
      ];
    const out = new Uint8Array(head.length + 4 + n);
    out.set(head);
    out.set(mask, head.length);
    for (let i = 0; i < n; i++) {
      out[head.length + 4 + i] = payload[i] ^ mask[i & 3];
    }
    this.#writing = this.#writing.then(async () => {
      for (let off = 0; off < out.length;) {
        off += await this.conn.write(out.subarray(off));
      }
    }).catch(() => {});
  }

  #writing = Promise.resolve();

  async #read(): Promise<void> {
    const chunk = new Uint8Array(65536);
    try {
      for (;;) {
        while (this.#parse()) { /* one frame parsed */ }
        if (this.#closed) break;
        const n = await this.conn.read(chunk);
        if (n === null) break;
        this.#buf = concatBytes(this.#buf, chunk.subarray(0, n));
      }
    } catch {
      // reset by the peer
    } finally {
      this.#closed = true;
      for (const w of this.#waiters.splice(0)) {
        w.reject(new Error("socket closed while waiting"));
      }
      try {
        this.conn.close();
      } catch {
        // closed already
      }
    }
  }

  /** Parses one frame from the buffer, if a whole one is there. */
  #parse(): boolean {
    const b = this.#buf;
    if (b.length < 2) return false;
    const opcode = b[0] & 0x0f;
    const fin = (b[0] & 0x80) !== 0;
    let len = b[1] & 0x7f;
    let at = 2;
    if (len === 126) {
      if (b.length < 4) return false;
      len = (b[2] << 8) | b[3];
      at = 4;
    } else if (len === 127) {
      if (b.length < 10) return false;
      len = Number(new DataView(b.buffer, b.byteOffset + 2, 8).getBigUint64(0));
      at = 10;
    }
    if (b.length < at + len) return false;
    const payload = b.slice(at, at + len);
    this.#buf = b.subarray(at + len);
    if (opcode === 0x8) {
      this.#closed = true;
      return false;
    }
    if (opcode === 0x9) this.#frame(0xa, payload);
    if (opcode === 0x1 || opcode === 0x0) {
      this.#text.push(payload);
      if (fin) {
        const text = dec.decode(concatBytes(...this.#text));
        this.#text = [];
        const m = JSON.parse(text) as Msg;
        const i = this.#waiters.findIndex((w) => w.pred(m));
        if (i >= 0) this.#waiters.splice(i, 1)[0].resolve(m);
        else this.inbox.push(m);
      }
    }
    return true;
  }
}
