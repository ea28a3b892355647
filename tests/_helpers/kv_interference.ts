/**
 * A Deno KV wrapper for contention tests: it makes deterministic what
 * parallel claims do to each other by chance.
 */
import { type BloomMeta } from "@/lib/store/bloom.ts";
import { keys } from "@/lib/store/keys.ts";

/**
 * `kv`, where just before every claim's atomic commits, another claim's bits
 * land in the filter: every chunk of every live generation is written again
 * (same bytes, new versionstamp, under a check like any real writer's). That is what parallel claims of other
 * handles do to each other; here it happens every time, not by chance.
 */
export function filterChangesUnderClaims(kv: Deno.Kv): Deno.Kv {
  async function touchFilter() {
    const meta = (await kv.get<BloomMeta>(keys.bloomMeta())).value;
    if (!meta) return;
    for (const gen of [meta.current, meta.next]) {
      if (!gen) continue;
      for (let b = 0; b < gen.blocks; b++) {
        const chunk = await kv.get<Uint8Array>(keys.bloomChunk(gen.id, b));
        // Checked, as every real writer does: if it changed meanwhile, that
        // is a change too, and no bits are lost.
        if (chunk.value) {
          await kv.atomic().check(chunk).set(chunk.key, chunk.value).commit();
        }
      }
    }
  }
  return new Proxy(kv, {
    get(target, prop) {
      if (prop !== "atomic") {
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      }
      return () => {
        const op = target.atomic();
        let claims = false;
        const proxy: Deno.AtomicOperation = new Proxy(op, {
          get(o, q) {
            if (q === "commit") {
              return async () => {
                if (claims) await touchFilter();
                return await o.commit();
              };
            }
            const value = Reflect.get(o, q, o);
            if (typeof value !== "function") return value;
            return (...args: unknown[]) => {
              const key = args[0] as Deno.KvKey;
              if (q === "set" && key[0] === keys.handle("")[0]) claims = true;
              const out = value.apply(o, args);
              return out === o ? proxy : out;
            };
          },
        });
        return proxy;
      };
    },
  });
}
