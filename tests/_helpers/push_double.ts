/**
 * A push service double speaking RFC 8030 on loopback, and an RFC 8291
 * decryptor written from the RFC (Web Crypto ECDH + HKDF + AES-GCM), with no
 * code in common with the sender's library.
 *
 * The double issues subscriptions the way a browser's `PushSubscription`
 * looks (a fresh P-256 key pair and 16-byte auth secret per subscription;
 * endpoint `https://<host>/push/<id>`), and for each push it receives checks
 * what a real push service checks: the VAPID JWT (RFC 8292: ES256, signed by
 * the server's public key, `aud` = this service's origin, `exp` in the next
 * 24 hours, a `mailto:`/`https:` subject), `Content-Encoding: aes128gcm`, a
 * TTL, a body of at most 4096 bytes. Then it decrypts with the
 * subscription's private keys and answers as the test told it for that
 * subscription: 201 (default), 404, 410, 429, 500, or hang (no answer until
 * the sender gives up). Delivered plaintexts are recorded, and handed to
 * `onDeliver` if given (the browser side forwards them to Chromium via CDP's
 * `ServiceWorker.deliverPushMessage`).
 *
 * The sender refuses non-https endpoints, so the server reaches the double
 * through `double.fetch`, which maps `https://<host>/…` to the loopback port
 * (install it with lib/push/send.ts `setPushFetch`) and refuses any other
 * host, so a test never pushes to the network.
 */
import { concatBytes } from "@noble/hashes/utils.js";

export const PUSH_TEST_HOST = "push.test";

const enc = new TextEncoder();

export const b64u = {
  encode: (b: Uint8Array) =>
    b.toBase64({ alphabet: "base64url", omitPadding: true }),
  decode: (s: string) => Uint8Array.fromBase64(s, { alphabet: "base64url" }),
};

// ------------------------------------------------------- RFC 8291 decryptor

/** A user agent's (browser's) push keys. */
export interface UaKeys {
  /** ECDH P-256 private key. */
  privateKey: CryptoKey;
  /** 65-byte uncompressed public key (the subscription's `p256dh`). */
  publicKey: Uint8Array;
  /** 16-byte authentication secret (the subscription's `auth`). */
  auth: Uint8Array;
}

/** Imports a raw P-256 private scalar `d` with its public point as an ECDH key. */
export function importUaPrivateKey(
  d: Uint8Array,
  publicKey: Uint8Array,
): Promise<CryptoKey> {
  return crypto.subtle.importKey(
    "jwk",
    {
      kty: "EC",
      crv: "P-256",
      d: b64u.encode(d),
      x: b64u.encode(publicKey.subarray(1, 33)),
      y: b64u.encode(publicKey.subarray(33, 65)),
      ext: true,
    },
    { name: "ECDH", namedCurve: "P-256" },
    false,
    ["deriveBits"],
  );
}

/** A fresh browser-like key set. */
export async function newUaKeys(): Promise<UaKeys> {
  const pair = await crypto.subtle.generateKey(
    { name: "ECDH", namedCurve: "P-256" },
    true,
    ["deriveBits"],
  ) as CryptoKeyPair;
  return {
    privateKey: pair.privateKey,
    publicKey: new Uint8Array(
      await crypto.subtle.exportKey("raw", pair.publicKey),
    ),
    auth: crypto.getRandomValues(new Uint8Array(16)),
  };
}

async function hkdf(
  salt: Uint8Array,
  ikm: Uint8Array,
  info: Uint8Array,
  bytes: number,
): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey(
    "raw",
    ikm as BufferSource,
    "HKDF",
    false,
    ["deriveBits"],
  );
  return new Uint8Array(
    await crypto.subtle.deriveBits(
      {
        name: "HKDF",
        hash: "SHA-256",
        salt: salt as BufferSource,
        info: info as BufferSource,
      },
      key,
      bytes * 8,
    ),
  );
}

/** RFC 8291 §3.3-3.4 and RFC 8188 §2.2: the secrets one message is sealed with. */
export async function deriveWebPushKeys(
  ua: UaKeys,
  asPublic: Uint8Array,
  salt: Uint8Array,
): Promise<
  {
    ecdhSecret: Uint8Array;
    ikm: Uint8Array;
    cek: Uint8Array;
    nonce: Uint8Array;
  }
> {
  const asKey = await crypto.subtle.importKey(
    "raw",
    asPublic as BufferSource,
    { name: "ECDH", namedCurve: "P-256" },
    false,
    [],
  );
  const ecdhSecret = new Uint8Array(
    await crypto.subtle.deriveBits(
      { name: "ECDH", public: asKey },
      ua.privateKey,
      256,
    ),
  );
  // key_info = "WebPush: info" || 0x00 || ua_public || as_public
  const keyInfo = concatBytes(
    enc.encode("WebPush: info\0"),
    ua.publicKey,
    asPublic,
  );
  const ikm = await hkdf(ua.auth, ecdhSecret, keyInfo, 32);
  const cek = await hkdf(
    salt,
    ikm,
    enc.encode("Content-Encoding: aes128gcm\0"),
    16,
  );
  const nonce = await hkdf(
    salt,
    ikm,
    enc.encode("Content-Encoding: nonce\0"),
    12,
  );
  return { ecdhSecret, ikm, cek, nonce };
}

/**
 * Decrypts an `aes128gcm` body (RFC 8188 header: salt(16) rs(4) idlen(1)
 * keyid(idlen) = the sender's public key; then records of rs bytes) with the
 * browser's keys. Throws on anything malformed or unauthenticated.
 */
export async function decryptWebPush(
  body: Uint8Array,
  ua: UaKeys,
): Promise<Uint8Array> {
  if (body.length < 21) throw new Error("too short for the header");
  const salt = body.subarray(0, 16);
  const rs = new DataView(body.buffer, body.byteOffset + 16, 4).getUint32(0);
  const idlen = body[20];
  if (idlen !== 65) throw new Error("keyid is not a P-256 public key");
  if (rs < 18) throw new Error("record size too small");
  const asPublic = body.subarray(21, 21 + idlen);
  const { cek, nonce } = await deriveWebPushKeys(ua, asPublic, salt);
  const key = await crypto.subtle.importKey(
    "raw",
    cek as BufferSource,
    "AES-GCM",
    false,
    ["decrypt"],
  );
  const records = body.subarray(21 + idlen);
  if (!records.length) throw new Error("no records");
  const out: Uint8Array[] = [];
  for (let seq = 0, at = 0; at < records.length; seq++, at += rs) {
    const record = records.subarray(at, at + rs);
    const last = at + rs >= records.length;
    const iv = nonce.slice();
    // nonce XOR the record's sequence number (96-bit big-endian)
    const view = new DataView(iv.buffer);
    view.setUint32(8, view.getUint32(8) ^ seq);
    const plain = new Uint8Array(
      await crypto.subtle.decrypt(
        { name: "AES-GCM", iv },
        key,
        record as BufferSource,
      ),
    );
    let end = plain.length - 1;
    while (end >= 0 && plain[end] === 0) end--;
    if (end < 0 || plain[end] !== (last ? 2 : 1)) {
      throw new Error("bad padding delimiter");
    }
    out.push(plain.subarray(0, end));
  }
  return concatBytes(...out);
}

// --------------------------------------------------------- VAPID (RFC 8292)

export interface VapidClaims {
  aud: string;
  exp: number;
  sub?: string;
  [k: string]: unknown;
}

export type VapidCheck =
  | {
    ok: true;
    claims: VapidClaims;
    header: Record<string, unknown>;
    k: string;
  }
  | { ok: false; why: string };

/** Checks `Authorization: vapid t=<jwt>, k=<public key>` as a push service does. */
export async function verifyVapid(
  authorization: string | null,
  expect: { audience: string; publicKey?: string; now?: number },
): Promise<VapidCheck> {
  const m = /^vapid\s+t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(
    authorization ?? "",
  );
  if (!m) return { ok: false, why: "no vapid authorization" };
  const [, jwt, k] = m;
  if (expect.publicKey && k !== expect.publicKey) {
    return { ok: false, why: "another server's key" };
  }
  const parts = jwt.split(".");
  if (parts.length !== 3) return { ok: false, why: "not a JWT" };
  let header: Record<string, unknown>, claims: VapidClaims;
  try {
    header = JSON.parse(new TextDecoder().decode(b64u.decode(parts[0])));
    claims = JSON.parse(new TextDecoder().decode(b64u.decode(parts[1])));
  } catch {
    return { ok: false, why: "JWT not JSON" };
  }
  if (header.alg !== "ES256") return { ok: false, why: "not ES256" };
  const key = await crypto.subtle.importKey(
    "raw",
    b64u.decode(k) as BufferSource,
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["verify"],
  );
  const good = await crypto.subtle.verify(
    { name: "ECDSA", hash: "SHA-256" },
    key,
    b64u.decode(parts[2]) as BufferSource,
    enc.encode(`${parts[0]}.${parts[1]}`) as BufferSource,
  );
  if (!good) return { ok: false, why: "bad signature" };
  const now = Math.floor((expect.now ?? Date.now()) / 1000);
  if (claims.aud !== expect.audience) return { ok: false, why: "wrong aud" };
  if (typeof claims.exp !== "number" || claims.exp <= now) {
    return { ok: false, why: "expired" };
  }
  if (claims.exp > now + 24 * 3600) return { ok: false, why: "exp past 24 h" };
  if (
    typeof claims.sub !== "string" || !/^(mailto:|https:)/.test(claims.sub)
  ) return { ok: false, why: "bad sub" };
  return { ok: true, claims, header, k };
}

// ------------------------------------------------------------- the double

export type Behaviour = 201 | 404 | 410 | 429 | 500 | 503 | "hang";

/** A subscription as `PushSubscription.toJSON()` gives it, plus the double's id. */
export interface TestSubscription {
  id: string;
  endpoint: string;
  expirationTime: null;
  keys: { p256dh: string; auth: string };
}

export interface Delivery {
  subId: string;
  /** The decrypted message. */
  text: string;
  /** The message as JSON (null when it is not JSON). */
  data: unknown;
  topic: string | null;
  ttl: number;
  urgency: string | null;
  /** Body bytes on the wire. */
  size: number;
  at: number;
}

export interface SeenRequest {
  subId: string;
  /** What the double answered ("hang": nothing, until the sender gave up). */
  status: number | "hang";
  /** Why a request was refused before its behaviour applied. */
  refused?: string;
  topic: string | null;
  ttl: number | null;
  urgency: string | null;
  at: number;
}

interface Sub {
  id: string;
  ua: UaKeys;
  script: Behaviour[];
  otherwise: Behaviour;
}

export class PushDouble implements AsyncDisposable {
  readonly deliveries: Delivery[] = [];
  readonly requests: SeenRequest[] = [];
  private subs = new Map<string, Sub>();
  private waiters: {
    pred: (d: Delivery) => boolean;
    resolve: (d: Delivery) => void;
  }[] = [];
  private reqWaiters: {
    pred: (r: SeenRequest) => boolean;
    resolve: (r: SeenRequest) => void;
  }[] = [];
  private closing: PromiseWithResolvers<void> = Promise.withResolvers();
  private server!: Deno.HttpServer;
  port = 0;

  private constructor(
    readonly host: string,
    private vapidPublicKey: string,
    private onDeliver?: (d: Delivery) => void | Promise<void>,
  ) {}

  static start(opts: {
    /** The server's VAPID public key: pushes signed by any other are refused. */
    vapidPublicKey: string;
    host?: string;
    onDeliver?: (d: Delivery) => void | Promise<void>;
  }): PushDouble {
    const d = new PushDouble(
      opts.host ?? PUSH_TEST_HOST,
      opts.vapidPublicKey,
      opts.onDeliver,
    );
    d.server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (req) => d.handle(req),
    );
    d.port = (d.server.addr as Deno.NetAddr).port;
    return d;
  }

  get origin(): string {
    return `https://${this.host}`;
  }

  /** A new subscription, as a browser's pushManager.subscribe() would give. */
  async subscribe(): Promise<TestSubscription> {
    const id = crypto.randomUUID().replaceAll("-", "");
    const ua = await newUaKeys();
    this.subs.set(id, { id, ua, script: [], otherwise: 201 });
    return {
      id,
      endpoint: `${this.origin}/push/${id}`,
      expirationTime: null,
      keys: { p256dh: b64u.encode(ua.publicKey), auth: b64u.encode(ua.auth) },
    };
  }

  /** The subscription's browser keys (to decrypt a captured body). */
  keysOf(subId: string): UaKeys {
    return this.subs.get(subId)!.ua;
  }

  /**
   * How the double answers the subscription's next pushes, in order; after
   * those, `otherwise` (default 201) for every later one.
   */
  respond(subId: string, next: Behaviour[], otherwise: Behaviour = 201): void {
    const s = this.subs.get(subId)!;
    s.script = [...next];
    s.otherwise = otherwise;
  }

  /** Forgets a subscription: its endpoint answers 404 from now on. */
  drop(subId: string): void {
    this.subs.delete(subId);
  }

  /** fetch for the sender: https://<host>/… goes to the loopback port. */
  readonly fetch: typeof fetch = (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.protocol !== "https:" || url.host !== this.host) {
      return Promise.reject(
        new TypeError(`the push double refuses ${url.protocol}//${url.host}`),
      );
    }
    const local = `http://127.0.0.1:${this.port}${url.pathname}${url.search}`;
    return input instanceof Request
      ? fetch(new Request(local, input), init)
      : fetch(local, init);
  };

  /** The next delivery matching `pred` (already received, or to come). */
  nextDelivery(
    pred: (d: Delivery) => boolean = () => true,
    timeoutMs = 5_000,
  ): Promise<Delivery> {
    const seen = this.deliveries.find(pred);
    if (seen) return Promise.resolve(seen);
    return this.wait(this.waiters, pred, timeoutMs, "delivery");
  }

  /** The next request matching `pred` (already seen, or to come). */
  nextRequest(
    pred: (r: SeenRequest) => boolean = () => true,
    timeoutMs = 5_000,
  ): Promise<SeenRequest> {
    const seen = this.requests.find(pred);
    if (seen) return Promise.resolve(seen);
    return this.wait(this.reqWaiters, pred, timeoutMs, "request");
  }

  private wait<T>(
    list: { pred: (x: T) => boolean; resolve: (x: T) => void }[],
    pred: (x: T) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<T> {
    return new Promise((resolve, reject) => {
      const w = {
        pred,
        resolve: (x: T) => {
          clearTimeout(t);
          resolve(x);
        },
      };
      const t = setTimeout(() => {
        list.splice(list.indexOf(w), 1);
        reject(
          new Error(`push double: no matching ${what} in ${timeoutMs} ms`),
        );
      }, timeoutMs);
      list.push(w);
    });
  }

  private seen(r: SeenRequest): void {
    this.requests.push(r);
    for (const w of [...this.reqWaiters]) {
      if (w.pred(r)) {
        this.reqWaiters.splice(this.reqWaiters.indexOf(w), 1);
        w.resolve(r);
      }
    }
  }

  private async handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const m = /^\/push\/([0-9a-f]{32})$/.exec(url.pathname);
    const sub = m ? this.subs.get(m[1]) : undefined;
    const base = {
      subId: m?.[1] ?? "",
      topic: req.headers.get("topic"),
      urgency: req.headers.get("urgency"),
      ttl: req.headers.has("ttl") ? Number(req.headers.get("ttl")) : null,
      at: Date.now(),
    };
    const refuse = async (status: number, refused: string) => {
      await req.body?.cancel().catch(() => {});
      this.seen({ ...base, status, refused });
      return new Response(refused, { status });
    };
    if (req.method !== "POST") return await refuse(405, "POST only");
    if (!sub) return await refuse(404, "no such subscription");
    const vapid = await verifyVapid(req.headers.get("authorization"), {
      audience: this.origin,
      publicKey: this.vapidPublicKey,
    });
    if (!vapid.ok) {
      return await refuse(vapid.why.includes("key") ? 403 : 401, vapid.why);
    }
    if (req.headers.get("content-encoding") !== "aes128gcm") {
      return await refuse(415, "not aes128gcm");
    }
    if (base.ttl === null || !Number.isInteger(base.ttl) || base.ttl < 0) {
      return await refuse(400, "no TTL");
    }
    if (base.topic !== null && !/^[A-Za-z0-9_-]{1,32}$/.test(base.topic)) {
      return await refuse(400, "bad Topic");
    }
    const body = new Uint8Array(await req.arrayBuffer());
    if (body.length > 4096) return await refuse(413, "larger than 4096 bytes");
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(
        await decryptWebPush(body, sub.ua),
      );
    } catch (e) {
      return await refuse(400, `cannot decrypt: ${(e as Error).message}`);
    }
    const behaviour = sub.script.shift() ?? sub.otherwise;
    if (behaviour === "hang") {
      this.seen({ ...base, status: "hang" });
      // No answer, ever: the sender gives up at its timeout (this handler
      // ends when the double closes).
      await this.closing.promise;
      return new Response(null, { status: 504 });
    }
    this.seen({ ...base, status: behaviour });
    if (behaviour !== 201) {
      if (behaviour === 410 || behaviour === 404) this.subs.delete(sub.id);
      return new Response(null, {
        status: behaviour,
        headers: behaviour === 429 ? { "retry-after": "0" } : {},
      });
    }
    let data: unknown = null;
    try {
      data = JSON.parse(text);
    } catch {
      // not JSON
    }
    const d: Delivery = {
      subId: sub.id,
      text,
      data,
      topic: base.topic,
      ttl: base.ttl,
      urgency: base.urgency,
      size: body.length,
      at: base.at,
    };
    this.deliveries.push(d);
    for (const w of [...this.waiters]) {
      if (w.pred(d)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(d);
      }
    }
    await this.onDeliver?.(d);
    return new Response(null, {
      status: 201,
      headers: { location: `${this.origin}/message/${crypto.randomUUID()}` },
    });
  }

  async close(): Promise<void> {
    this.closing.resolve();
    await this.server.shutdown();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
