/** Opens the one Deno KV this process uses: a local file, ":memory:", or Deploy's. */
import type { Config } from "../config.ts";
import { retryWhenLocked } from "./locked_retry.ts";

let opened: Promise<Deno.Kv> | undefined;

export function openKv(config: Pick<Config, "kvPath">): Promise<Deno.Kv> {
  opened ??= openAt(config.kvPath);
  return opened;
}

async function openAt(path: string | undefined): Promise<Deno.Kv> {
  if (path && path !== ":memory:") {
    const dir = path.replace(/[^/]*$/, "");
    // The default path lives under a git-ignored folder that may not exist yet.
    if (dir) await Deno.mkdir(dir, { recursive: true }).catch(() => {});
  }
  return retryWhenLocked(await (path ? Deno.openKv(path) : Deno.openKv()));
}

/** Replaces the process-wide KV (tests use a temp file per test). */
export function setKv(kv: Deno.Kv | undefined): void {
  opened = kv ? Promise.resolve(retryWhenLocked(kv)) : undefined;
}
