// BUILD_ID: SHA-1 hex of DENO_DEPLOYMENT_ID, else of the git commit sha,
// else of a random UUID. Server side only.

import { sha1Hex } from "./static.ts";

async function readText(path: string): Promise<string | undefined> {
  try {
    return (await Deno.readTextFile(path)).trim();
  } catch {
    return undefined;
  }
}

/** The commit sha of the git work tree containing `dir`, from .git files. */
export async function gitSha(dir: string): Promise<string | undefined> {
  let d = dir.replace(/\/+$/, "");
  while (d) {
    let gitDir = `${d}/.git`;
    const pointer = await readText(gitDir);
    if (pointer?.startsWith("gitdir:")) {
      gitDir = pointer.slice(7).trim();
      if (!gitDir.startsWith("/")) gitDir = `${d}/${gitDir}`;
    }
    const head = await readText(`${gitDir}/HEAD`);
    if (head !== undefined) {
      if (/^[0-9a-f]{40}$/.test(head)) return head;
      const ref = head.match(/^ref:\s*(.+)$/)?.[1];
      if (!ref) return undefined;
      const sha = await readText(`${gitDir}/${ref}`);
      if (sha && /^[0-9a-f]{40}/.test(sha)) return sha.slice(0, 40);
      const packed = await readText(`${gitDir}/packed-refs`);
      const line = packed?.split("\n").find((l) => l.endsWith(` ${ref}`));
      return line?.slice(0, 40);
    }
    d = d.slice(0, d.lastIndexOf("/"));
  }
  return undefined;
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

export async function computeBuildId(
  dir: string,
  sha?: string,
): Promise<string> {
  const source = env("DENO_DEPLOYMENT_ID") ?? sha ?? await gitSha(dir) ??
    crypto.randomUUID();
  return await sha1Hex(source);
}
