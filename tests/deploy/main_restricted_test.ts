/**
 * The Deploy shape: after `deno task build`, main.ts serves the whole app
 * with only network, env and read access: no writes, no subprocesses.
 */
import assert from "node:assert/strict";
import { runMainToExit, startServer } from "../_helpers/server.ts";

const key = (n: number) => new Uint8Array(32).fill(n).toBase64();
const PROD_ENV = {
  REACH_ENV: "production",
  REACH_ORIGIN: "https://reach.example",
  REACH_HMAC_KEY: key(1),
  REACH_DATA_KEYS: `k1:${key(2)}`,
  REACH_KV_PATH: ":memory:",
};

Deno.test("deploy shape: main.ts serves pages and island chunks with --allow-net --allow-env --allow-read only", async () => {
  await using server = await startServer({
    permissions: ["--allow-net", "--allow-env", "--allow-read"],
    env: PROD_ENV,
  });
  const base = `http://127.0.0.1:${server.port}`;
  const home = await fetch(`${base}/`);
  assert.equal(home.status, 200);
  const html = await home.text();
  assert.ok(html.includes("A callable @handle"));
  assert.match(
    home.headers.get("strict-transport-security")!,
    /max-age/,
    "production sends HSTS",
  );
  const chunks = [...html.matchAll(/\/_frsh\/js\/[^"' )]+\.js/g)].map((m) =>
    m[0]
  );
  assert.ok(chunks.length > 0, "the page references built island chunks");
  for (const chunk of new Set(chunks)) {
    const js = await fetch(base + chunk);
    assert.equal(js.status, 200, chunk);
    assert.match(js.headers.get("cache-control")!, /immutable/);
    assert.ok((await js.text()).length > 0);
  }
  const missing = await fetch(`${base}/@nobody_here`);
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
  const nonce = await fetch(`${base}/api/auth/nonce`, {
    method: "POST",
    headers: { origin: "https://reach.example" },
  });
  assert.equal(nonce.status, 200, "KV works without write permission");
  assert.equal((await nonce.json()).domain, "reach.example");
  await server.stop();
  assert.ok(
    !/PermissionDenied|NotCapable|Requires .* access/.test(server.output()),
    server.output(),
  );
});

Deno.test("deploy shape: production without secrets refuses to start and names them", async () => {
  const { code, output } = await runMainToExit({ REACH_ENV: "production" });
  assert.notEqual(code, 0);
  for (const name of ["REACH_ORIGIN", "REACH_HMAC_KEY", "REACH_DATA_KEYS"]) {
    assert.ok(output.includes(name), `names ${name}: ${output}`);
  }
});
