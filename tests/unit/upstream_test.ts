/**
 * lib/upstream.ts against a local double of a provider on loopback: a
 * Deno.serve that answers 200, 4xx, 5xx, a body that is not JSON, a body in
 * the wrong shape, or hangs; and a bare TCP listener that closes the
 * connection (before answering, or half-way through the body).
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { callUpstream, UpstreamError } from "@/lib/upstream.ts";

const TOKEN = "upstream-test-token-0123456789abcdef";
const NAME = "Test Provider";
const Answer = z.object({ ok: z.literal(true), n: z.number() });

type Mode =
  | "200"
  | "400"
  | "404"
  | "429"
  | "500"
  | "503"
  | "not_json"
  | "bad_shape"
  | "hang"
  | "slow_body";

interface Double extends AsyncDisposable {
  base: string;
  mode: Mode;
  requests: {
    method: string;
    path: string;
    auth: string | null;
    body: string;
  }[];
}

function startDouble(): Double {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const state = { mode: "200" as Mode, requests: [] as Double["requests"] };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      state.requests.push({
        method: req.method,
        path: new URL(req.url).pathname,
        auth: req.headers.get("authorization"),
        body: await req.text(),
      });
      const echo = (status: number) =>
        Response.json(
          // Error bodies carry the token back, as a provider might quote a
          // request: it must never reach the error's message.
          { ok: status < 300, n: 7, error: `bad token ${TOKEN}` },
          { status },
        );
      switch (state.mode) {
        case "not_json":
          return new Response(`<html>${TOKEN}</html>`, {
            headers: { "content-type": "application/json" },
          });
        case "bad_shape":
          return Response.json({ ok: "yes", secret: TOKEN });
        case "hang":
          await released;
          return echo(500);
        case "slow_body": {
          // Headers now, the body never (until disposed).
          const body = new ReadableStream<Uint8Array>({
            async start(c) {
              c.enqueue(new TextEncoder().encode('{"ok":'));
              await released;
              c.close();
            },
          });
          return new Response(body, {
            headers: { "content-type": "application/json" },
          });
        }
        default:
          return echo(Number(state.mode));
      }
    },
  );
  return Object.assign(state, {
    base: `http://127.0.0.1:${server.addr.port}`,
    async [Symbol.asyncDispose]() {
      release();
      await server.shutdown();
    },
  });
}

/**
 * A TCP listener that reads the request and closes: at once, or after
 * sending headers that promise a longer body than follows.
 */
function startCloser(how: "at_once" | "mid_body") {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const done = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      try {
        await conn.read(new Uint8Array(4096));
        if (how === "mid_body") {
          await conn.write(new TextEncoder().encode(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n" +
              'content-length: 100\r\n\r\n{"ok":tr',
          ));
        }
      } catch { /* the client gave up first */ }
      try {
        conn.close();
      } catch { /* already closed */ }
    }
  })();
  return {
    base: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    async [Symbol.asyncDispose]() {
      listener.close();
      await done.catch(() => {});
    },
  };
}

function post(base: string, body: unknown = { ask: 1 }): Request {
  return new Request(`${base}/v1/thing`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${TOKEN}`,
      "content-type": "application/json",
    },
    body: JSON.stringify(body),
  });
}

async function failure(
  request: Request,
  opts: { timeoutMs?: number; fetch?: typeof fetch } = {},
): Promise<UpstreamError> {
  const err = await callUpstream(NAME, request, {
    timeoutMs: opts.timeoutMs ?? 2000,
    schema: Answer,
    fetch: opts.fetch,
  }).then(() => null, (e) => e);
  assert.ok(err instanceof UpstreamError, `got ${err}`);
  assert.equal(err.upstream, NAME);
  assert.ok(err.message.startsWith(NAME), err.message);
  for (const leak of [TOKEN, "127.0.0.1", "/v1/thing", "html"]) {
    assert.ok(!err.message.includes(leak), `message leaks ${leak}`);
  }
  return err;
}

Deno.test("upstream: a 2xx answer comes back parsed by the schema; the request goes as given", async () => {
  await using d = startDouble();
  const answer = await callUpstream(NAME, post(d.base, { ttl: 60 }), {
    timeoutMs: 2000,
    schema: Answer,
  });
  assert.deepEqual(answer, { ok: true, n: 7 });
  assert.deepEqual(d.requests, [{
    method: "POST",
    path: "/v1/thing",
    auth: `Bearer ${TOKEN}`,
    body: '{"ttl":60}',
  }]);
});

for (const status of [400, 404, 429, 500, 503]) {
  Deno.test(`upstream: ${status} is reason "status" with the status, and no body in the message`, async () => {
    await using d = startDouble();
    d.mode = String(status) as Mode;
    const err = await failure(post(d.base));
    assert.equal(err.reason, "status");
    assert.equal(err.status, status);
    assert.equal(err.message, `${NAME} answered ${status}.`);
    assert.equal(d.requests.length, 1, "no retry");
  });
}

Deno.test("upstream: a 2xx that is not JSON, or not the schema's shape, is bad_response", async () => {
  await using d = startDouble();
  d.mode = "not_json";
  const notJson = await failure(post(d.base));
  assert.equal(notJson.reason, "bad_response");
  assert.equal(notJson.status, 200);
  d.mode = "bad_shape";
  const shape = await failure(post(d.base));
  assert.equal(shape.reason, "bad_response");
  assert.ok(!shape.message.includes("yes"));
});

Deno.test("upstream: a provider that hangs is a timeout, at the deadline", async () => {
  await using d = startDouble();
  d.mode = "hang";
  const started = performance.now();
  const err = await failure(post(d.base), { timeoutMs: 200 });
  const took = performance.now() - started;
  assert.equal(err.reason, "timeout");
  assert.equal(err.status, undefined);
  assert.ok(took >= 150 && took < 3000, `gave up after ${took} ms`);
});

Deno.test("upstream: a body that stops coming is a timeout too (the deadline covers the body)", async () => {
  await using d = startDouble();
  d.mode = "slow_body";
  const started = performance.now();
  const err = await failure(post(d.base), { timeoutMs: 200 });
  assert.equal(err.reason, "timeout");
  assert.ok(performance.now() - started < 3000);
});

Deno.test("upstream: a connection closed before any answer is a network failure", async () => {
  await using c = startCloser("at_once");
  const err = await failure(post(c.base));
  assert.equal(err.reason, "network");
  assert.equal(err.status, undefined);
});

Deno.test("upstream: a connection closed half-way through the body is a network failure", async () => {
  await using c = startCloser("mid_body");
  const err = await failure(post(c.base));
  assert.equal(err.reason, "network");
});

Deno.test("upstream: nothing listening is a network failure", async () => {
  // A port that was just free: bind, note it, release.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const err = await failure(post(`http://127.0.0.1:${port}`));
  assert.equal(err.reason, "network");
});

Deno.test("upstream: a fetch that throws is a network failure, and what it threw stays out of the message", async () => {
  const err = await failure(post("http://127.0.0.1:9"), {
    fetch: () => Promise.reject(new TypeError(`refused ${TOKEN}`)),
  });
  assert.equal(err.reason, "network");
});

Deno.test("upstream: an injected fetch gets the request and the deadline's signal", async () => {
  let seen: { url: string; signal?: AbortSignal | null } | undefined;
  const answer = await callUpstream(NAME, post("http://provider.invalid"), {
    timeoutMs: 1000,
    schema: Answer,
    fetch: (input, init) => {
      seen = { url: (input as Request).url, signal: init?.signal };
      return Promise.resolve(Response.json({ ok: true, n: 1 }));
    },
  });
  assert.deepEqual(answer, { ok: true, n: 1 });
  assert.equal(seen?.url, "http://provider.invalid/v1/thing");
  assert.ok(seen?.signal instanceof AbortSignal);
});
