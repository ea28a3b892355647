/**
 * A local stand-in for Cloudflare Realtime TURN's credential endpoint,
 * speaking the documented API:
 *
 *   POST {base}/turn/keys/{keyId}/credentials/generate-ice-servers
 *   Authorization: Bearer {token}
 *   Content-Type: application/json
 *   {"ttl": seconds}
 *
 * answered with `201 {"iceServers": [{urls: [stun…]}, {urls: [turn…],
 * username, credential}]}`. It records every request it gets, and can be told
 * to fail (401, 500, a body that is not JSON, or to hang until the caller
 * gives up).
 */

export const DOUBLE_KEY_ID = "test-turn-key-id";
export const DOUBLE_TOKEN = "test-turn-api-token-0123456789abcdef";

export type DoubleMode =
  | "ok"
  | "401"
  | "500"
  | "not_json"
  | "bad_shape"
  | "hang";

export interface RecordedRequest {
  method: string;
  path: string;
  authorization: string | null;
  contentType: string | null;
  body: string;
}

export interface CloudflareDouble extends AsyncDisposable {
  /** The API base to configure, e.g. http://127.0.0.1:PORT/v1 */
  apiBase: string;
  requests: RecordedRequest[];
  /** The credentials each successful answer carried, in order. */
  issued: { username: string; credential: string }[];
  mode: DoubleMode;
}

const STUN = ["stun:stun.cloudflare.com:3478", "stun:stun.cloudflare.com:53"];
const TURN = [
  "turn:turn.cloudflare.com:3478?transport=udp",
  "turn:turn.cloudflare.com:53?transport=udp",
  "turn:turn.cloudflare.com:3478?transport=tcp",
  "turn:turn.cloudflare.com:80?transport=tcp",
  "turns:turn.cloudflare.com:5349?transport=tcp",
  "turns:turn.cloudflare.com:443?transport=tcp",
];

export const DOUBLE_STUN_URLS = STUN;
export const DOUBLE_TURN_URLS = TURN;

export function startCloudflareDouble(
  opts: { keyId?: string; token?: string } = {},
): CloudflareDouble {
  const keyId = opts.keyId ?? DOUBLE_KEY_ID;
  const token = opts.token ?? DOUBLE_TOKEN;
  const path = `/v1/turn/keys/${keyId}/credentials/generate-ice-servers`;
  // Hanging requests wait on this; disposing releases them.
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));

  const state: Omit<CloudflareDouble, "apiBase" | typeof Symbol.asyncDispose> =
    { requests: [], issued: [], mode: "ok" };

  const answer = (status: number, body: unknown) =>
    Response.json(body, { status });

  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      const url = new URL(req.url);
      const body = await req.text();
      state.requests.push({
        method: req.method,
        path: url.pathname,
        authorization: req.headers.get("authorization"),
        contentType: req.headers.get("content-type"),
        body,
      });
      if (url.pathname !== path) {
        return answer(404, { success: false, errors: ["no such key"] });
      }
      if (req.method !== "POST") {
        return answer(405, { success: false, errors: ["use POST"] });
      }
      if (req.headers.get("authorization") !== `Bearer ${token}`) {
        return answer(401, { success: false, errors: ["unauthorized"] });
      }
      if (!/^application\/json\b/.test(req.headers.get("content-type") ?? "")) {
        return answer(415, { success: false, errors: ["send JSON"] });
      }
      let ttl: unknown;
      try {
        ttl = JSON.parse(body).ttl;
      } catch {
        return answer(400, { success: false, errors: ["bad JSON"] });
      }
      if (!Number.isInteger(ttl) || (ttl as number) < 1) {
        return answer(400, { success: false, errors: ["bad ttl"] });
      }
      switch (state.mode) {
        case "401":
          return answer(401, { success: false, errors: ["unauthorized"] });
        case "500":
          return answer(500, { success: false, errors: ["internal"] });
        case "not_json":
          return new Response("<html>oops</html>", {
            status: 201,
            headers: { "content-type": "application/json" },
          });
        case "bad_shape":
          return answer(201, { iceServers: { urls: 42 } });
        case "hang":
          // Never answers in time: waits until the double is disposed.
          await released;
          return answer(500, { success: false, errors: ["too late"] });
      }
      const username = crypto.getRandomValues(new Uint8Array(48)).toHex();
      const credential = crypto.getRandomValues(new Uint8Array(48)).toHex();
      state.issued.push({ username, credential });
      return answer(201, {
        iceServers: [
          { urls: STUN },
          { urls: TURN, username, credential },
        ],
      });
    },
  );
  const port = server.addr.port;
  return Object.assign(state, {
    apiBase: `http://127.0.0.1:${port}/v1`,
    async [Symbol.asyncDispose]() {
      release();
      await server.shutdown();
    },
  });
}
