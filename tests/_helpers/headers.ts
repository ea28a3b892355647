/** Assertions on what every answer carries. */
import assert from "node:assert/strict";

/** Asserts the headers `applySecurityHeaders` gives every answer. */
export function assertSecurityHeaders(res: Response, what: string): void {
  const h = res.headers;
  assert.equal(h.get("x-content-type-options"), "nosniff", what);
  assert.equal(h.get("referrer-policy"), "no-referrer", what);
  assert.equal(h.get("x-frame-options"), "DENY", what);
  assert.equal(h.get("cross-origin-opener-policy"), "same-origin", what);
  assert.match(h.get("permissions-policy") ?? "", /microphone=\(self\)/, what);
  assert.match(
    h.get("content-security-policy") ?? "",
    /frame-ancestors 'none'/,
    what,
  );
}
