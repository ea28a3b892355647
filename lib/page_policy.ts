/**
 * The Content-Security-Policy of every page. The framework adds a fresh
 * per-response nonce to script-src; nothing else may run. Styles allow
 * inline attributes for the owner's validated accent colour only.
 */
import type { useCSP } from "$fresh/runtime.ts";

type Csp = Parameters<Parameters<typeof useCSP>[0]>[0];

export function pagePolicy(csp: Csp): void {
  const d = csp.directives;
  d.defaultSrc = ["'none'"];
  d.scriptSrc = ["'self'", ...(d.scriptSrc ?? []).filter(isNonce)];
  d.styleSrc = ["'self'", "'unsafe-inline'"];
  d.imgSrc = ["'self'", "data:"];
  d.fontSrc = ["'self'"];
  d.connectSrc = ["'self'"];
  d.mediaSrc = ["'self'", "blob:"];
  d.manifestSrc = ["'self'"];
  // Only /sw.js (Ring anywhere) is registered; no other workers.
  d.workerSrc = ["'self'"];
  d.baseUri = ["'none'"];
  d.formAction = ["'self'"];
  d.frameAncestors = ["'none'"];
}

function isNonce(s: string): boolean {
  return s.startsWith("'nonce-");
}
