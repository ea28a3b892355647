/** Runs `fn` with a real Deno KV file in a fresh temp folder, removed after. */
export async function withKv<T>(
  fn: (kv: Deno.Kv, path: string) => Promise<T>,
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "reach-kv-" });
  const kv = await Deno.openKv(`${dir}/kv.sqlite3`);
  try {
    return await fn(kv, `${dir}/kv.sqlite3`);
  } finally {
    kv.close();
    await Deno.remove(dir, { recursive: true });
  }
}
