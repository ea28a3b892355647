import assert from "node:assert/strict";
import { type Signal, signal } from "@preact/signals";
import { h } from "preact";
import {
  deserialize,
  escapeJsonForScript,
  serialize,
} from "../../lib/fresh/src/serialize.ts";

Deno.test("serialize/deserialize: JSON, Uint8Array, bigint, signals", () => {
  const shared = signal(5);
  const value = [
    {
      n: 1,
      s: "x",
      b: true,
      nil: null,
      arr: [1, "a", undefined, () => 1],
      bytes: new Uint8Array([0, 1, 254, 255]),
      big: -123456789012345678901234567890n,
      sig: shared,
      nestedSig: signal({ list: [signal(1n)] }),
      fn: () => {},
      jsx: h("div", null),
      undef: undefined,
      tagged: { _f: "u8", v: "not bytes" },
      date: new Date(0),
    },
    { sig: shared },
  ];
  const text = serialize(value);
  const out = deserialize(text, signal) as Record<string, unknown>[];
  const a = out[0];
  assert.equal(a.n, 1);
  assert.equal(a.s, "x");
  assert.equal(a.b, true);
  assert.equal(a.nil, null);
  assert.deepEqual(a.arr, [1, "a", null, null]);
  assert.ok(a.bytes instanceof Uint8Array);
  assert.deepEqual([...(a.bytes as Uint8Array)], [0, 1, 254, 255]);
  assert.equal(a.big, -123456789012345678901234567890n);
  assert.equal((a.sig as Signal<number>).value, 5);
  assert.equal(a.sig, out[1].sig, "one signal instance for both islands");
  const nested = (a.nestedSig as Signal<{ list: Signal<bigint>[] }>).value;
  assert.equal(nested.list[0].value, 1n);
  assert.ok(!("fn" in a) && !("jsx" in a) && !("undef" in a));
  assert.deepEqual(a.tagged, { _f: "u8", v: "not bytes" });
  assert.equal(a.date, "1970-01-01T00:00:00.000Z");

  // without a signal factory, signals come back as plain values
  const plain = deserialize(text) as Record<string, unknown>[];
  assert.equal(plain[0].sig, 5);
});

Deno.test("serialize rejects circular props", () => {
  const o: Record<string, unknown> = {};
  o.self = o;
  assert.throws(() => serialize(o), /circular/);
});

Deno.test("escapeJsonForScript keeps </script> out of inline JSON", () => {
  const text = escapeJsonForScript(serialize({ s: "</script><!--" }));
  assert.ok(!text.includes("<") && !text.includes(">"));
  assert.deepEqual(deserialize(text), { s: "</script><!--" });
});
