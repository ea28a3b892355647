import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "@/lib/config.ts";

const key = (n: number) => new Uint8Array(32).fill(n).toBase64();
const PROD = {
  REACH_ENV: "production",
  REACH_ORIGIN: "https://reach.example",
  REACH_HMAC_KEY: key(1),
  REACH_DATA_KEYS: `k2:${key(2)},k1:${key(3)}`,
};

function problems(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(env);
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e.problems;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("config: production without secrets names every missing variable", () => {
  const p = problems({ REACH_ENV: "production" });
  assert.equal(p.length, 3);
  for (const name of ["REACH_ORIGIN", "REACH_HMAC_KEY", "REACH_DATA_KEYS"]) {
    assert.ok(p.some((x) => x.startsWith(name)), name);
  }
  // Dev secrets on disk are never a production fallback.
  assert.throws(
    () =>
      loadConfig({ REACH_ENV: "production" }, {
        REACH_HMAC_KEY: key(1),
        REACH_DATA_KEYS: `d:${key(2)}`,
      }),
    ConfigError,
  );
});

Deno.test("config: malformed secrets are named, not silently replaced", () => {
  assert.ok(
    problems({ ...PROD, REACH_HMAC_KEY: "c2hvcnQ=" })[0].startsWith(
      "REACH_HMAC_KEY",
    ),
  );
  assert.ok(
    problems({ ...PROD, REACH_DATA_KEYS: `k1:${key(1)},k1:${key(2)}` })[0]
      .startsWith("REACH_DATA_KEYS"),
  );
  assert.ok(
    problems({ ...PROD, REACH_ORIGIN: "not a url" })[0].startsWith(
      "REACH_ORIGIN",
    ),
  );
  assert.ok(problems({ ...PROD, PORT: "99999" })[0].startsWith("PORT"));
  assert.ok(
    problems({ ...PROD, REACH_ENV: "staging" })[0].startsWith("REACH_ENV"),
  );
  assert.match(
    problems({ ...PROD, REACH_ORIGIN: "http://reach.example" })[0],
    /https/,
  );
});

Deno.test("config: production with every secret starts, keyring newest first", () => {
  const c = loadConfig(PROD);
  assert.equal(c.env, "production");
  assert.equal(c.domain, "reach.example");
  assert.equal(c.kvPath, undefined, "Deno.openKv() with no path on Deploy");
  assert.deepEqual(c.dataKeys.map((k) => k.kid), ["k2", "k1"]);
  assert.equal(c.secretsSource, "env");
  assert.deepEqual(c.sessionCookie, {
    name: "__Host-reach_session",
    secure: true,
  });
});

Deno.test("config: development uses the dev file, else generates and says so", () => {
  const file = { REACH_HMAC_KEY: key(4), REACH_DATA_KEYS: `dev1:${key(5)}` };
  const fromFile = loadConfig({}, file);
  assert.equal(fromFile.secretsSource, "dev-file");
  assert.deepEqual(fromFile.hmacKey, new Uint8Array(32).fill(4));
  assert.equal(fromFile.origin, "http://localhost:8000");
  assert.equal(fromFile.kvPath, ".reach/reach.kv");
  const generated = loadConfig({});
  assert.equal(generated.secretsSource, "generated");
  assert.notDeepEqual(generated.hmacKey, loadConfig({}).hmacKey);
  assert.throws(
    () => loadConfig({}, { REACH_HMAC_KEY: "bad", REACH_DATA_KEYS: "bad" }),
    /dev-secrets/,
  );
});

Deno.test("config: a plain-http LAN origin gets an unprefixed, non-Secure cookie", () => {
  const lan = loadConfig({ REACH_ORIGIN: "http://192.168.1.5:8000" });
  assert.deepEqual(lan.sessionCookie, { name: "reach_session", secure: false });
  const local = loadConfig({ REACH_ORIGIN: "http://localhost:9000" });
  assert.equal(local.sessionCookie.name, "__Host-reach_session");
  assert.equal(local.domain, "localhost:9000");
});
