/**
 * `deno task preview` from a fresh clone: it builds, then serves main.ts like
 * production (no secrets needed: development mode) on the default local KV
 * file; and a KV main.ts cannot open stops it at start-up with a message,
 * rather than answering 500 to every request.
 */
import assert from "node:assert/strict";
import { freePort, runMainToExit, untilListening } from "../_helpers/server.ts";

const ROOT = new URL("../../", import.meta.url);

/** Copies the files a clone would have (tracked and not ignored) to a new folder. */
async function freshClone(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "reach-clone-" });
  const out = await new Deno.Command("git", {
    args: ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    cwd: ROOT,
  }).output();
  assert.equal(out.code, 0, "git ls-files");
  const files = new TextDecoder().decode(out.stdout).split("\0").filter(
    Boolean,
  );
  for (const f of files) {
    const from = new URL(f, ROOT);
    try {
      await Deno.stat(from);
    } catch {
      continue; // deleted in the work tree
    }
    const to = `${dir}/${f}`;
    await Deno.mkdir(to.replace(/\/[^/]*$/, ""), { recursive: true });
    await Deno.copyFile(from, to);
  }
  return dir;
}

Deno.test("preview: a fresh clone's `deno task preview` serves / with 200", async () => {
  const dir = await freshClone();
  const port = freePort();
  const env: Record<string, string> = {
    PORT: String(port),
    NO_COLOR: "1",
    // `deno` inside the task must come from the task runner, not the PATH.
    PATH: "/usr/bin:/bin",
  };
  for (const k of ["HOME", "DENO_DIR", "XDG_CACHE_HOME"]) {
    const v = Deno.env.get(k);
    if (v) env[k] = v;
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "preview"],
    cwd: dir,
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let pumps: Promise<unknown> = Promise.resolve();
  try {
    const started = await untilListening(child, "deno task preview");
    pumps = started.pumps;
    const home = await fetch(`http://localhost:${port}/`);
    assert.equal(home.status, 200, started.output());
    assert.ok((await home.text()).includes("A callable @handle"));
    // The data lives in the clone's git-ignored .reach/, as the README says.
    assert.ok((await Deno.stat(`${dir}/.reach/reach.kv`)).isFile);
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await pumps;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("start-up: a KV main.ts cannot open stops it with a message, not 500s", async () => {
  const key = (n: number) => new Uint8Array(32).fill(n).toBase64();
  const dir = await Deno.makeTempDir({ prefix: "reach-nokv-" });
  try {
    // Read-only permissions: the KV file cannot be created.
    const { code, output } = await runMainToExit({
      REACH_ENV: "test",
      REACH_HMAC_KEY: key(1),
      REACH_DATA_KEYS: `k1:${key(2)}`,
      REACH_KV_PATH: `${dir}/kv.sqlite3`,
    });
    assert.equal(code, 1, output);
    assert.match(output, /cannot open its Deno KV/);
    assert.ok(output.includes(`${dir}/kv.sqlite3`), "names the file");
    assert.doesNotMatch(output, /Listening on/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
