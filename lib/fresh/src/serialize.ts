// Island props <-> JSON. Pure functions, used by the server (serialize) and
// the browser boot module (deserialize).
//
// Format: {"v": <value>, "s": [<signal values>]}. Plain JSON values stay as
// they are; special values are tagged objects:
//   {"_f":"s","i":n}   signal n of the "s" table (one instance per signal)
//   {"_f":"u8","v":b64} Uint8Array
//   {"_f":"b","v":"12"} bigint
//   {"_f":"o","v":{}}   a plain object that itself has an "_f" key
// Functions, symbols, undefined and JSX elements are dropped (null in arrays).

const SIGNAL_BRAND = Symbol.for("preact-signals");

interface SignalLike {
  brand: symbol;
  peek(): unknown;
}

function isSignal(x: object): x is SignalLike {
  return (x as { brand?: unknown }).brand === SIGNAL_BRAND &&
    typeof (x as { peek?: unknown }).peek === "function";
}

function isVNode(x: object): boolean {
  return "type" in x && "props" in x && x.constructor === undefined;
}

function toBase64(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

function fromBase64(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

const DROP = Symbol("drop");

export function serialize(value: unknown): string {
  const signals = new Map<SignalLike, number>();
  const table: unknown[] = [];
  const ancestors = new Set<object>();

  function enc(x: unknown): unknown {
    switch (typeof x) {
      case "string":
      case "boolean":
        return x;
      case "number":
        return Number.isFinite(x) ? x : null;
      case "bigint":
        return { _f: "b", v: x.toString() };
      case "undefined":
      case "function":
      case "symbol":
        return DROP;
    }
    if (x === null) return null;
    const obj = x as object;
    if (isSignal(obj)) {
      let i = signals.get(obj);
      if (i === undefined) {
        i = table.length;
        signals.set(obj, i);
        table.push(null);
        table[i] = wrap(obj, () => enc(obj.peek()));
      }
      return { _f: "s", i };
    }
    if (obj instanceof Uint8Array) return { _f: "u8", v: toBase64(obj) };
    if (isVNode(obj)) return DROP;
    if (typeof (obj as { toJSON?: unknown }).toJSON === "function") {
      return enc((obj as { toJSON(): unknown }).toJSON());
    }
    return wrap(obj, () => {
      if (Array.isArray(obj)) {
        return obj.map((item) => {
          const e = enc(item);
          return e === DROP ? null : e;
        });
      }
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(obj)) {
        const e = enc(v);
        if (e !== DROP) out[k] = e;
      }
      return Object.hasOwn(out, "_f") ? { _f: "o", v: out } : out;
    });
  }

  function wrap(obj: object, f: () => unknown): unknown {
    if (ancestors.has(obj)) {
      throw new TypeError("Cannot serialize island props: circular structure");
    }
    ancestors.add(obj);
    try {
      const r = f();
      return r === DROP ? null : r;
    } finally {
      ancestors.delete(obj);
    }
  }

  const v = enc(value);
  return JSON.stringify({ v: v === DROP ? null : v, s: table });
}

/** Make JSON safe to place inside a <script> element. */
export function escapeJsonForScript(json: string): string {
  return json.replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

export type SignalFactory = (value: unknown) => unknown;

/**
 * Inverse of `serialize`. `signal` builds signals (pass `@preact/signals`'s
 * `signal`); without it, signals come back as their plain values.
 */
export function deserialize(text: string, signal?: SignalFactory): unknown {
  const { v, s } = JSON.parse(text) as { v: unknown; s: unknown[] };
  const made = new Map<number, unknown>();

  function dec(x: unknown): unknown {
    if (x === null || typeof x !== "object") return x;
    if (Array.isArray(x)) return x.map(dec);
    const o = x as Record<string, unknown>;
    switch (o._f) {
      case "s": {
        const i = o.i as number;
        if (!made.has(i)) {
          const inner = dec(s[i]);
          made.set(i, signal ? signal(inner) : inner);
        }
        return made.get(i);
      }
      case "u8":
        return fromBase64(o.v as string);
      case "b":
        return BigInt(o.v as string);
      case "o":
        return decObject(o.v as Record<string, unknown>);
    }
    return decObject(o);
  }

  function decObject(o: Record<string, unknown>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, val] of Object.entries(o)) out[k] = dec(val);
    return out;
  }

  return dec(v);
}
