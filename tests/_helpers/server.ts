/**
 * Starts `main.ts` as its own process on a free loopback port, with the
 * permissions and environment a test chooses, and waits for the line that
 * says it listens (no sleeps).
 */
import { GENEROUS_LIMITS } from "./limits.ts";

const ROOT = new URL("../../", import.meta.url);

export interface RunningServer extends AsyncDisposable {
  port: number;
  /** The server process id (benchmarks read its memory from /proc). */
  pid: number;
  origin: string;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** SIGTERM: the server shuts down cleanly; resolves once it has exited. */
  stop(): Promise<void>;
  /**
   * SIGKILL: the process dies at once, as a crashed isolate does (no
   * shutdown code runs, sockets just drop); resolves once it has exited.
   */
  kill(): Promise<void>;
}

export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * Reads a spawned Deno server's stdout and stderr until it prints that it
 * listens (no sleeps); fails with everything it printed if it exits first.
 * `output()` is what it printed so far; `pumps` ends when both streams close.
 */
export async function untilListening(
  child: Deno.ChildProcess,
  what: string,
): Promise<{ output: () => string; pumps: Promise<unknown> }> {
  let out = "";
  const decoder = new TextDecoder();
  const { promise: ready, resolve: markReady } = Promise.withResolvers<
    void
  >();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) {
      out += decoder.decode(chunk, { stream: true });
      // The whole line: `deno serve --parallel` says "with N threads" after
      // the address, and a read may end between the two.
      if (/Listening on http:\/\/\S+:\d+\/.*\n/.test(out)) markReady();
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const exited = child.status.then((s) => {
    throw new Error(`${what} exited with ${s.code} before listening:\n${out}`);
  });
  try {
    await Promise.race([ready, exited]);
  } catch (e) {
    await pumps;
    throw e;
  }
  exited.catch(() => {});
  return { output: () => out, pumps };
}

export async function startServer(opts: {
  permissions: string[];
  env: Record<string, string>;
  port?: number;
}): Promise<RunningServer> {
  const port = opts.port ?? freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...opts.permissions, "main.ts"],
    cwd: ROOT,
    env: { ...opts.env, PORT: String(port), NO_COLOR: "1" },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const { output, pumps } = await untilListening(child, "server");
  const signal = async (sig: Deno.Signal) => {
    try {
      child.kill(sig);
    } catch {
      // already gone
    }
    await child.status;
    await pumps;
  };
  const stop = () => signal("SIGTERM");
  return {
    port,
    pid: child.pid,
    origin: `http://localhost:${port}`,
    output,
    stop,
    kill: () => signal("SIGKILL"),
    [Symbol.asyncDispose]: stop,
  };
}

/** Runs main.ts to completion (for start-up failures) and returns its output. */
export async function runMainToExit(
  env: Record<string, string>,
): Promise<{ code: number; output: string }> {
  const res = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "--allow-read", "main.ts"],
    cwd: ROOT,
    env: { ...env, PORT: String(freePort()), NO_COLOR: "1" },
    clearEnv: true,
  }).output();
  const d = new TextDecoder();
  return {
    code: res.code,
    output: d.decode(res.stdout) + d.decode(res.stderr),
  };
}

/**
 * What Reach's server may do when its KV file lives in `dir` (the only place
 * it may write), as the README's start commands give it.
 */
export const serverPermissions = (dir: string): string[] => [
  "--allow-net",
  "--allow-env",
  "--allow-read",
  `--allow-write=${dir}`,
];

/**
 * Reach as a person meets it: main.ts in test mode with its own KV file in a
 * temp folder (the only place it may write), removed when disposed.
 */
export async function startAppServer(
  env: Record<string, string> = {},
  opts: { dir?: string; port?: number } = {},
): Promise<RunningServer & { kvPath: string; dir: string }> {
  const dir = opts.dir ?? await Deno.makeTempDir({ prefix: "reach-e2e-" });
  const key = (n: number) => new Uint8Array(32).fill(n).toBase64();
  const server = await startServer({
    permissions: serverPermissions(dir),
    env: {
      REACH_ENV: "test",
      REACH_HMAC_KEY: key(1),
      REACH_DATA_KEYS: `k1:${key(2)}`,
      REACH_KV_PATH: `${dir}/kv.sqlite3`,
      ...GENEROUS_LIMITS,
      ...env,
    },
    port: opts.port,
  });
  // A temp folder made here goes with the server; one passed in (to outlive
  // it, e.g. for a restart on the same KV) is the caller's to remove.
  const removeDir = async () => {
    if (!opts.dir) await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  const stop = async () => {
    await server.stop();
    await removeDir();
  };
  const kill = async () => {
    await server.kill();
    await removeDir();
  };
  return {
    ...server,
    kvPath: `${dir}/kv.sqlite3`,
    dir,
    stop,
    kill,
    [Symbol.asyncDispose]: stop,
  };
}
