// Content-Security-Policy model of Fresh 1.x (src/runtime/csp.ts): the same
// directive names, constants and `useCSP` hook. Shared by server and browser.

import { createContext } from "preact";
import { useContext } from "preact/hooks";

export const SELF = "'self'";
export const UNSAFE_INLINE = "'unsafe-inline'";
export const UNSAFE_EVAL = "'unsafe-eval'";
export const UNSAFE_HASHES = "'unsafe-hashes'";
export const NONE = "'none'";
export const STRICT_DYNAMIC = "'strict-dynamic'";

export function nonce(val: string): string {
  return `'nonce-${val}'`;
}

export interface ContentSecurityPolicy {
  directives: ContentSecurityPolicyDirectives;
  reportOnly: boolean;
}

export interface ContentSecurityPolicyDirectives {
  // Fetch directives
  childSrc?: string[];
  connectSrc?: string[];
  defaultSrc?: string[];
  fontSrc?: string[];
  frameSrc?: string[];
  imgSrc?: string[];
  manifestSrc?: string[];
  mediaSrc?: string[];
  objectSrc?: string[];
  prefetchSrc?: string[];
  scriptSrc?: string[];
  scriptSrcElem?: string[];
  scriptSrcAttr?: string[];
  styleSrc?: string[];
  styleSrcElem?: string[];
  styleSrcAttr?: string[];
  workerSrc?: string[];
  // Document directives
  baseUri?: string[];
  sandbox?: string[];
  // Navigation directives
  formAction?: string[];
  frameAncestors?: string[];
  navigateTo?: string[];
  /** The URI to report CSP violations to. */
  reportUri?: string;
}

export const CSP_CONTEXT = createContext<ContentSecurityPolicy | undefined>(
  undefined,
);

/** Mutate the page's policy while it renders (only when `config.csp` is on). */
export function useCSP(mutator: (csp: ContentSecurityPolicy) => void): void {
  const csp = useContext(CSP_CONTEXT);
  if (csp) mutator(csp);
}

/** Fresh 1.x's starting policy for a page with `config.csp = true`. */
export function defaultCsp(): ContentSecurityPolicy {
  return {
    directives: { defaultSrc: [NONE], styleSrc: [UNSAFE_INLINE] },
    reportOnly: false,
  };
}

/** `{scriptSrc: ["a"], frameAncestors: ["b"]}` → `script-src a; frame-ancestors b`. */
export function serializeCSPDirectives(
  directives: ContentSecurityPolicyDirectives,
): string {
  let out = "";
  for (const key in directives) {
    const value = directives[key as keyof ContentSecurityPolicyDirectives];
    if (value === undefined) continue;
    let name = NAMES.get(key);
    if (name === undefined) {
      name = key.replace(/[A-Z]/g, (m) => `-${m.toLowerCase()}`);
      if (NAMES.size < 64) NAMES.set(key, name);
    }
    if (out) out += "; ";
    out += `${name} ${Array.isArray(value) ? value.join(" ") : value}`;
  }
  return out;
}

/** `scriptSrc` → `script-src`, once per directive (every page pays this). */
const NAMES = new Map<string, string>();
