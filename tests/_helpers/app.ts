/**
 * A real Reach app for HTTP tests: the real handler from `createHandler`, a
 * real Deno KV file in a temp folder, test secrets, and a small client that
 * keeps cookies and sends our Origin like a browser does.
 */
import assert from "node:assert/strict";
import { createHandler } from "$fresh/server.ts";
import freshConfig from "@/fresh.config.ts";
import manifest from "@/fresh.gen.ts";
import { type Config, loadConfig, setConfig } from "@/lib/config.ts";
import { setLogSink } from "@/lib/log.ts";
import { setKv } from "@/lib/store/kv.ts";
import { type SiwsFields } from "@/lib/identity/siws_message.ts";
import { resetHub } from "@/signaling/instance.ts";
import { GENEROUS_LIMITS } from "./limits.ts";
import { newWallet, signOffer, type TestWallet } from "./wallet.ts";

export const ORIGIN = "http://localhost:8000";

export const TEST_ENV = {
  REACH_ENV: "test",
  REACH_ORIGIN: ORIGIN,
  REACH_HMAC_KEY: new Uint8Array(32).fill(7).toBase64(),
  REACH_DATA_KEYS: `t1:${new Uint8Array(32).fill(9).toBase64()}`,
  ...GENEROUS_LIMITS,
};

const INFO = {
  remoteAddr: { transport: "tcp" as const, hostname: "127.0.0.1", port: 40000 },
  completed: Promise.resolve(),
} as unknown as Deno.ServeHandlerInfo;

export interface TestApp extends AsyncDisposable {
  kv: Deno.Kv;
  /** The KV file (tests that read it as SQLite, e.g. for expiries). */
  kvPath: string;
  config: Config;
  handler: (req: Request) => Promise<Response>;
  /** A client; `opts.headers` go on every request it sends (e.g. X-Forwarded-For). */
  client(opts?: { headers?: HeadersInit }): TestClient;
  /** Serves the app on a loopback port (for WebSockets); returns its ws:// base. */
  listen(): string;
}

export async function testApp(
  env: Record<string, string> = {},
): Promise<TestApp> {
  const dir = await Deno.makeTempDir({ prefix: "reach-test-" });
  const kv = await Deno.openKv(`${dir}/kv.sqlite3`);
  const config = loadConfig({ ...TEST_ENV, ...env });
  setConfig(config);
  setKv(kv);
  // Quiet by default; the log audit installs its own sink to read every line.
  setLogSink(() => {});
  const h = await createHandler(manifest, freshConfig);
  const handler = (req: Request) => h(req, INFO);
  let server: Deno.HttpServer | undefined;
  return {
    kv,
    kvPath: `${dir}/kv.sqlite3`,
    config,
    handler,
    client: (opts) => new TestClient(handler, opts?.headers),
    listen() {
      server ??= Deno.serve(
        { hostname: "127.0.0.1", port: 0, onListen: () => {} },
        (req, info) => h(req, info),
      );
      return `ws://127.0.0.1:${(server.addr as Deno.NetAddr).port}`;
    },
    async [Symbol.asyncDispose]() {
      await resetHub();
      await server?.shutdown();
      setKv(undefined);
      kv.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

export class TestClient {
  cookies = new Map<string, string>();
  origin: string | null = ORIGIN;

  constructor(
    private handler: (req: Request) => Promise<Response>,
    private headers?: HeadersInit,
  ) {}

  async request(
    path: string,
    init: { method?: string; body?: unknown; headers?: HeadersInit } = {},
  ): Promise<Response> {
    const headers = new Headers(this.headers);
    new Headers(init.headers).forEach((v, k) => headers.set(k, v));
    if (this.cookies.size) {
      headers.set(
        "cookie",
        [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; "),
      );
    }
    const method = init.method ?? "GET";
    if (method !== "GET" && method !== "HEAD" && this.origin) {
      headers.set("origin", this.origin);
    }
    let body: BodyInit | undefined;
    if (init.body !== undefined) {
      body = typeof init.body === "string"
        ? init.body
        : JSON.stringify(init.body);
      if (!headers.has("content-type")) {
        headers.set("content-type", "application/json");
      }
    }
    const res = await this.handler(
      new Request(ORIGIN + path, { method, headers, body }),
    );
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      if (/Max-Age=0/i.test(c) || !value) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }

  async json<T = Record<string, unknown>>(
    path: string,
    init: { method?: string; body?: unknown; headers?: HeadersInit } = {},
  ): Promise<{ status: number; body: T; res: Response }> {
    const res = await this.request(path, init);
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null, res };
  }

  /** The whole SIWS sign-in: nonce, sign, verify. */
  async signIn(wallet: TestWallet) {
    const offer = await this.json<Omit<SiwsFields, "address">>(
      "/api/auth/nonce",
      { method: "POST" },
    );
    if (offer.status !== 200) throw new Error(`nonce ${offer.status}`);
    return await this.json<{ publicKey: string; handle: string | null }>(
      "/api/auth/verify",
      { method: "POST", body: signOffer(wallet, offer.body) },
    );
  }
}

/**
 * A signed-in person (with `handle` claimed, unless null) whose requests
 * come from `address` (through the test proxy header).
 */
export async function person(
  app: TestApp,
  handle: string | null,
  address = "198.51.100.1",
): Promise<TestClient> {
  const c = app.client({ headers: { "x-forwarded-for": address } });
  assert.equal((await c.signIn(newWallet())).status, 200);
  if (handle) {
    const r = await c.json("/api/handles", {
      method: "POST",
      body: { handle },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  }
  return c;
}

/** A new person who signs in with a fresh wallet and claims `handle`. */
export async function owner(
  app: { client(): TestClient },
  handle: string,
): Promise<TestClient> {
  const c = app.client();
  const signed = await c.signIn(newWallet());
  if (signed.status !== 200) throw new Error(`sign-in ${signed.status}`);
  const res = await c.json("/api/handles", {
    method: "POST",
    body: { handle },
  });
  if (res.status !== 201) {
    throw new Error(
      `claiming @${handle}: ${res.status} ${JSON.stringify(res.body)}`,
    );
  }
  return c;
}
