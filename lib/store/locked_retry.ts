/**
 * Deno KV on a local SQLite file shared by several workers (deno serve
 * --parallel, or the KV bus) can throw "database is locked" from a write
 * whose checks passed while another worker committed in between, instead of
 * waiting. Nothing was written then, so the same write may simply be tried
 * again; its checks are re-evaluated, and a real conflict still comes back as
 * `{ok: false}`. This wraps a Kv so every write does that.
 */

const ATTEMPTS = 25;

function isLocked(e: unknown): boolean {
  return e instanceof Error &&
    /database is locked|database is busy/i.test(e.message);
}

async function retry<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (!isLocked(e) || attempt >= ATTEMPTS) throw e;
      // Back off a little, randomly, so racing workers stop colliding.
      await new Promise((r) => setTimeout(r, Math.random() * attempt * 2));
    }
  }
}

function wrapAtomic(op: Deno.AtomicOperation): Deno.AtomicOperation {
  const proxy: Deno.AtomicOperation = new Proxy(op, {
    get(target, prop) {
      if (prop === "commit") return () => retry(() => target.commit());
      const value = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      // Builder methods return the operation: keep returning the proxy.
      return (...args: unknown[]) => {
        const out = value.apply(target, args);
        return out === target ? proxy : out;
      };
    },
  });
  return proxy;
}

const WRITES = new Set(["set", "delete", "enqueue"]);

export function retryWhenLocked(kv: Deno.Kv): Deno.Kv {
  return new Proxy(kv, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (prop === "atomic") return () => wrapAtomic(target.atomic());
      if (typeof value !== "function") return value;
      if (typeof prop === "string" && WRITES.has(prop)) {
        return (...args: unknown[]) => retry(() => value.apply(target, args));
      }
      return value.bind(target);
    },
  });
}
