// $fresh/runtime.ts — usable on the server and in islands (browser).

export { asset, IS_BROWSER } from "./src/asset.ts";
export { Head, HEAD_CONTEXT, type HeadProps } from "./src/head.ts";
export {
  type ContentSecurityPolicy,
  type ContentSecurityPolicyDirectives,
  CSP_CONTEXT,
  nonce,
  NONE,
  SELF,
  STRICT_DYNAMIC,
  UNSAFE_EVAL,
  UNSAFE_HASHES,
  UNSAFE_INLINE,
  useCSP,
} from "./src/csp.ts";
