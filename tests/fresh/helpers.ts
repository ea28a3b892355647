// Shared helpers for the lib/fresh tests.

import { createHandler, type FreshConfig } from "$fresh/server.ts";
import manifest from "./fixture/fresh.gen.ts";

export const FIXTURE_DIR = new URL("./fixture/", import.meta.url).pathname;
export const NO_BUILD_DIR = "/nonexistent/fresh-test-out";

export type TestHandler = (
  path: string,
  init?: RequestInit,
) => Promise<Response>;

/** The fixture app as a function of path, without a socket. */
export async function fixture(config: FreshConfig = {}): Promise<TestHandler> {
  const handler = await createHandler(manifest, {
    build: { outDir: NO_BUILD_DIR },
    ...config,
  });
  return (path, init) =>
    handler(new Request(`http://localhost${path}`, init), {
      remoteAddr: { transport: "tcp", hostname: "10.0.0.7", port: 4321 },
      completed: Promise.resolve(),
    });
}

/** Build the fixture's islands with `dev.ts build` into a fresh temp dir. */
export async function buildFixture(): Promise<string> {
  const outDir = await Deno.makeTempDir({ prefix: "fresh-fixture-out-" });
  const res = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "dev.ts", "build"],
    cwd: FIXTURE_DIR,
    env: { FIXTURE_OUT_DIR: outDir },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!res.success) {
    throw new Error(new TextDecoder().decode(res.stderr));
  }
  return outDir;
}

export function text(html: string, id: string): string | undefined {
  return html.match(new RegExp(`id="${id}"[^>]*>([^<]*)<`))?.[1];
}

export function scripts(html: string): string[] {
  return html.match(/<script\b[^>]*>/g) ?? [];
}
