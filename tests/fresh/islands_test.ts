import assert from "node:assert/strict";
import { type Signal, signal } from "@preact/signals";
import { deserialize } from "../../lib/fresh/src/serialize.ts";
import { collectIslands, islandId } from "../../lib/fresh/src/islands.ts";
import { fixture, scripts } from "./helpers.ts";

Deno.test("island ids: lower-cased file name and export name", () => {
  assert.equal(
    islandId("./islands/CallButton.tsx", "default"),
    "callbutton_default",
  );
  assert.equal(islandId("./islands/a/Rec.tsx", "Meter"), "rec_meter");
  const ids = collectIslands({
    "./islands/X.tsx": { default: () => null, Other: () => null, notFn: 1 },
  }).map((i) => i.id);
  assert.deepEqual(ids, ["x_default", "x_other"]);
});

Deno.test("islands are wrapped in markers; nested islands are not", async () => {
  const get = await fixture();
  const html = await (await get("/islands")).text();
  const markers = [...html.matchAll(/<!--(\/?frsh-[^>]*)-->/g)].map((m) =>
    m[1]
  );
  assert.deepEqual(markers, [
    "frsh-counter_default:0:",
    "frsh-slot-counter_default:0:children",
    "/frsh-slot-counter_default:0:children",
    "/frsh-counter_default:0:",
    "frsh-counter_default:1:",
    "/frsh-counter_default:1:",
    "frsh-counter_badge:2:",
    "/frsh-counter_badge:2:",
  ]);
  // the Badge rendered inside Counter is plain server HTML
  assert.equal(html.match(/<b class="badge">nested<\/b>/g)?.length, 2);
  assert.ok(
    html.includes(
      '<!--frsh-slot-counter_default:0:children--><span id="slot-child">server child</span><!--/frsh-slot-counter_default:0:children-->',
    ),
  );
  // without a build there is nothing to hydrate with: no scripts at all
  assert.deepEqual(scripts(html), []);
});

Deno.test("pages without islands ship no script tags", async () => {
  const get = await fixture();
  for (const path of ["/", "/blog/x", "/admin", "/no/such/page"]) {
    const html = await (await get(path)).text();
    assert.deepEqual(scripts(html), [], path);
  }
});

Deno.test("island props round-trip through the state script", async () => {
  const { buildFixture } = await import("./helpers.ts");
  const outDir = await buildFixture();
  try {
    const get = await fixture({ build: { outDir } });
    const html = await (await get("/islands")).text();
    const m = html.match(
      /<script id="(__FRSH_STATE_[0-9a-f-]{36})" type="application\/json" nonce="([0-9a-f]{32})">([^<]*)<\/script>/,
    );
    assert.ok(m, html);
    const [, stateId, nonce, json] = m;
    const props = deserialize(json, signal) as Record<string, unknown>[];
    assert.equal(props.length, 3);
    const [first, second, badge] = props;
    assert.equal((first.count as Signal<number>).value, 3);
    assert.equal(first.count, second.count, "shared signal → one instance");
    assert.ok(first.bytes instanceof Uint8Array);
    assert.deepEqual([...first.bytes as Uint8Array], [1, 2, 255]);
    assert.equal(first.big, 12345678901234567890n);
    assert.equal(first.label, "first");
    assert.deepEqual(first.meta, { nested: [1, "two", null], _f: "literal" });
    assert.ok(!("onClick" in first) && !("children" in first));
    assert.deepEqual(badge, { text: "hi" });

    const tags = scripts(html);
    assert.equal(tags.length, 2);
    assert.ok(tags.every((t) => t.includes(`nonce="${nonce}"`)));
    const boot = html.match(
      /<script type="module" nonce="[0-9a-f]+">([^<]*)<\/script>/,
    )![1];
    assert.match(
      boot,
      /^import\{boot\}from"\/_frsh\/js\/[0-9a-f]{40}\/lib\/fresh\/src\/client\/boot\.js";boot\(/,
    );
    assert.ok(boot.includes(JSON.stringify(stateId)));
    assert.ok(boot.includes('"counter_default":["/_frsh/js/'));
    assert.ok(boot.includes('"counter_badge":["/_frsh/js/'));
    // scripts go at the end of <body>
    assert.ok(html.indexOf("<script") > html.lastIndexOf("frsh-counter_badge"));
    assert.ok(html.endsWith("</script></body></html>"));
  } finally {
    await Deno.remove(outDir, { recursive: true });
  }
});
