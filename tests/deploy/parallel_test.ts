/**
 * Every core: the production entry under `deno serve --parallel serve.ts`
 * (two workers, production mode, network/env/read access plus writes to its
 * KV file's folder only) serves pages, and relays a call between a caller
 * socket and a device socket that sit on different workers, through the
 * broadcast bus.
 */
import assert from "node:assert/strict";
import { GENEROUS_LIMITS } from "../_helpers/limits.ts";
import { serverPermissions } from "../_helpers/server.ts";
import {
  RawSignal,
  signUp,
  startParallelServer,
} from "../_helpers/serve_parallel.ts";

const ORIGIN = "https://reach.example";
const key = (n: number) => new Uint8Array(32).fill(n).toBase64();

Deno.test({
  name:
    "deploy shape: deno serve --parallel serves pages and relays a call across workers",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "reach-parallel-" });
    const sockets: RawSignal[] = [];
    try {
      await using server = await startParallelServer({
        workers: 2,
        permissions: serverPermissions(dir),
        env: {
          REACH_ENV: "production",
          REACH_ORIGIN: ORIGIN,
          REACH_HMAC_KEY: key(1),
          REACH_DATA_KEYS: `k1:${key(2)}`,
          // One KV file for both workers (":memory:" would be one each).
          REACH_KV_PATH: `${dir}/kv.sqlite3`,
          ...GENEROUS_LIMITS,
        },
      });
      assert.match(server.output(), /with 2 threads/);
      const home = await fetch(`${server.base}/`);
      assert.equal(home.status, 200);
      assert.ok((await home.text()).includes("A callable @handle"));

      const cookie = await signUp(server.base, ORIGIN, "par_bob");
      const open = async (headers: Record<string, string>) => {
        const s = await RawSignal.open(server.port, {
          origin: ORIGIN,
          ...headers,
        });
        sockets.push(s);
        assert.match(s.worker, /^[0-9a-f]{12}$/, "the worker is named");
        return s;
      };

      // Bob's device, then callers until one lands on another worker.
      const dev = await open({ cookie });
      dev.send({
        type: "hello",
        role: "device",
        deviceId: crypto.randomUUID(),
        whenBusy: "busy",
      });
      await dev.next("welcome");
      let alice: RawSignal | undefined;
      const seen = new Set([dev.worker]);
      for (let i = 0; i < 40 && !alice; i++) {
        const c = await open({});
        seen.add(c.worker);
        if (c.worker !== dev.worker) alice = c;
      }
      assert.ok(alice, `40 sockets all landed on worker ${dev.worker}`);
      assert.equal(seen.size, 2, "two workers, no more");
      alice.send({
        type: "hello",
        role: "caller",
        callerToken: crypto.getRandomValues(new Uint8Array(16)).toHex(),
      });
      await alice.next("welcome");

      // Ring, accept, bodies both ways, hang up: each crosses the bus.
      const callId = crypto.randomUUID();
      const id = (m: Record<string, unknown>) => m.callId === callId;
      alice.send({ type: "ring", callId, to: "par_bob" });
      const [ringing] = await Promise.all([
        alice.next("ringing", id),
        dev.next("incoming", id),
      ]);
      assert.equal(ringing.devices, 1);
      dev.send({ type: "accept", callId });
      await Promise.all([
        dev.next("connected-call", id),
        alice.next("accepted", id),
      ]);
      const offer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=parallel\r\n";
      alice.send({ type: "offer", callId, sdp: offer });
      assert.equal((await dev.next("offer", id)).sdp, offer);
      const answer = "v=0\r\ns=parallel-answer\r\n";
      dev.send({ type: "answer", callId, sdp: answer });
      assert.equal((await alice.next("answer", id)).sdp, answer);
      const candidate = {
        candidate: "candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host",
        sdpMid: "0",
        sdpMLineIndex: 0,
      };
      alice.send({ type: "candidate", callId, candidate });
      assert.deepEqual((await dev.next("candidate", id)).candidate, candidate);
      alice.send({ type: "hangup", callId, reason: "normal" });
      assert.equal((await dev.next("hangup", id)).reason, "normal");

      for (const s of sockets) await s.close();
      await server.stop();
      assert.ok(
        !/PermissionDenied|NotCapable|Requires .* access/.test(server.output()),
        server.output(),
      );
    } finally {
      for (const s of sockets) await s.close().catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});
