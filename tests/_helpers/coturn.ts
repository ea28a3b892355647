/**
 * A real coturn (`turnserver`) on 127.0.0.1 for browser tests, in TURN REST
 * mode (`--use-auth-secret`), with its pid and database files in a temp
 * folder. Ready when its log says the UDP listener is open (read from its
 * output, no sleeps); disposing kills it and removes the folder.
 */
import { createSocket } from "node:dgram";

export const TURNSERVER = Deno.env.get("TURNSERVER_PATH") ??
  "/usr/bin/turnserver";

export interface RunningCoturn extends AsyncDisposable {
  port: number;
  secret: string;
  /** `turn:127.0.0.1:<port>?transport=udp` */
  url: string;
  /** The relay port range handed to coturn. */
  relayPorts: { min: number; max: number };
  /** Everything coturn printed so far. */
  output(): string;
  /** Freezes the server (SIGSTOP): it relays nothing until `resume()`. */
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

/**
 * A UDP port nobody holds now (and whose TCP twin is free too: coturn also
 * listens on TCP). coturn binds with SO_REUSEPORT, so a clash would not fail
 * visibly; hence the probe.
 */
export async function freeUdpPort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const sock = createSocket("udp4");
    const port = await new Promise<number>((resolve, reject) => {
      sock.once("error", reject);
      sock.bind(0, "127.0.0.1", () => resolve(sock.address().port));
    });
    await new Promise<void>((r) => sock.close(() => r()));
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return port;
    } catch {
      // The TCP port of that number is taken; try another.
    }
  }
  throw new Error("no free UDP+TCP port on 127.0.0.1");
}

/**
 * Relay ports below Linux's ephemeral range (32768+), so nothing the OS
 * hands out collides with them; a random block of 50 keeps parallel coturns
 * apart (and coturn skips a relay port it cannot bind).
 */
function relayBlock(): { min: number; max: number } {
  const min = 20000 + 50 * Math.floor(Math.random() * 240);
  return { min, max: min + 49 };
}

export async function startCoturn(
  opts: { secret?: string; port?: number } = {},
): Promise<RunningCoturn> {
  const secret = opts.secret ??
    crypto.getRandomValues(new Uint8Array(24)).toHex();
  const port = opts.port ?? await freeUdpPort();
  const relayPorts = relayBlock();
  const dir = await Deno.makeTempDir({ prefix: "reach-coturn-" });
  const child = new Deno.Command(TURNSERVER, {
    args: [
      "-n",
      // Verbose: the "UDP listener opened" line is only logged with -v.
      "-v",
      "--listening-ip=127.0.0.1",
      "--relay-ip=127.0.0.1",
      `--listening-port=${port}`,
      `--min-port=${relayPorts.min}`,
      `--max-port=${relayPorts.max}`,
      "--use-auth-secret",
      `--static-auth-secret=${secret}`,
      "--realm=test",
      "--fingerprint",
      "--no-tls",
      "--no-dtls",
      "--no-cli",
      "--allow-loopback-peers",
      "--no-software-attribute",
      `--pidfile=${dir}/turnserver.pid`,
      `--userdb=${dir}/turnserver.db`,
      "--log-file=stdout",
      "--simple-log",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();

  let out = "";
  const decoder = new TextDecoder();
  const readyLine = `UDP listener opened on: 127.0.0.1:${port}`;
  let markReady!: () => void;
  const ready = new Promise<void>((r) => (markReady = r));
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) {
      out += decoder.decode(chunk, { stream: true });
      if (out.includes(readyLine)) markReady();
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const status = child.status;
  const exited = status.then((s) => {
    throw new Error(
      `turnserver exited with ${s.code} before listening on ${port}:\n${out}`,
    );
  });
  let paused = false;
  const cleanup = async () => {
    try {
      if (paused) child.kill("SIGCONT");
      child.kill("SIGTERM");
    } catch {
      // already gone
    }
    await status;
    await pumps;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    await Promise.race([ready, exited]);
  } catch (e) {
    await cleanup();
    throw e;
  }
  exited.catch(() => {});
  return {
    port,
    secret,
    url: `turn:127.0.0.1:${port}?transport=udp`,
    relayPorts,
    output: () => out,
    pause: () => {
      child.kill("SIGSTOP");
      paused = true;
    },
    resume: () => {
      child.kill("SIGCONT");
      paused = false;
    },
    stop: cleanup,
    [Symbol.asyncDispose]: cleanup,
  };
}
