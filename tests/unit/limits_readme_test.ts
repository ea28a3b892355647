import assert from "node:assert/strict";
import { LIMITS, readLimits } from "@/lib/limits.ts";

Deno.test("limits: the README lists every limit setting with its default", async () => {
  const readme = await Deno.readTextFile(
    new URL("../../README.md", import.meta.url),
  );
  for (const spec of Object.values(LIMITS)) {
    const row = readme.split("\n").find((l) => l.includes(`\`${spec.env}\``));
    assert.ok(row, `README lists ${spec.env}`);
    assert.ok(
      row.includes(String(spec.default)),
      `${spec.env} default ${spec.default}`,
    );
  }
  assert.ok(readme.includes("REACH_PROXY_HEADER"));
});

Deno.test("limits: settings must be whole numbers; bad values are named", () => {
  const problems: string[] = [];
  const l = readLimits({
    REACH_LIMIT_RINGS_PER_ADDRESS: "25",
    REACH_LIMIT_CLAIMS_PER_ADDRESS: "0",
    REACH_LIMIT_SOCKETS_PER_ADDRESS: "lots",
  }, problems);
  assert.equal(l.ringsPerAddress, 25);
  assert.equal(problems.length, 2);
  assert.ok(
    problems.some((p) => p.startsWith("REACH_LIMIT_CLAIMS_PER_ADDRESS")),
  );
  assert.ok(
    problems.some((p) => p.startsWith("REACH_LIMIT_SOCKETS_PER_ADDRESS")),
  );
});
