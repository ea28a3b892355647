/** Security headers every response carries, and the Origin check. */
import type { Config } from "./config.ts";
import { jsonError } from "./http.ts";

/** For responses that are not pages (JSON, files): nothing may run or frame them. */
export const NON_PAGE_CSP = "default-src 'none'; frame-ancestors 'none'";

/**
 * For HTML that did not set its own policy: styles, images and the web app
 * manifest, never scripts.
 */
export const SCRIPTLESS_PAGE_CSP =
  "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "manifest-src 'self'; " +
  "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

export function applySecurityHeaders(
  headers: Headers,
  config: Pick<Config, "env">,
): void {
  headers.set("x-content-type-options", "nosniff");
  headers.set("referrer-policy", "no-referrer");
  headers.set(
    "permissions-policy",
    "microphone=(self), camera=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
  );
  headers.set("cross-origin-opener-policy", "same-origin");
  headers.set("x-frame-options", "DENY");
  if (!headers.has("content-security-policy")) {
    const html = (headers.get("content-type") ?? "").startsWith("text/html");
    headers.set(
      "content-security-policy",
      html ? SCRIPTLESS_PAGE_CSP : NON_PAGE_CSP,
    );
  }
  if (config.env === "production") {
    headers.set(
      "strict-transport-security",
      "max-age=63072000; includeSubDomains",
    );
  }
}

/** API paths answer every error in the JSON shape `{error, message}`. */
export function isApiPath(pathname: string): boolean {
  return pathname.startsWith("/api/");
}

/** The JSON 500 an API client gets when Reach itself failed. */
export function apiServerError(): Response {
  return jsonError(
    500,
    "server_error",
    "Reach hit an error while answering; please try again.",
  );
}

/** `res`, or a copy of it whose headers may be changed. */
export function withMutableHeaders(res: Response): Response {
  try {
    res.headers.set("x-reach", "1");
    res.headers.delete("x-reach");
    return res;
  } catch {
    return new Response(res.body, res);
  }
}

/**
 * For what the framework answers past the middleware chain (its
 * `onFrameworkResponse` hook, set in fresh.config.ts): trailing-slash
 * redirects, and the 500 after an error escaped routes/_middleware.ts. An API
 * path's 500 becomes the JSON error; every answer gets the security headers.
 */
export function secureFrameworkResponse(
  req: Request,
  res: Response,
  config: Pick<Config, "env">,
): Response {
  let out: Response;
  if (res.status >= 500 && isApiPath(new URL(req.url).pathname)) {
    res.body?.cancel().catch(() => {});
    out = apiServerError();
  } else {
    out = withMutableHeaders(res);
  }
  applySecurityHeaders(out.headers, config);
  return out;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * State-changing requests must come from our own origin. Browsers send
 * `Origin` on every cross-origin request and on same-origin POST/PATCH/DELETE,
 * so a missing or foreign Origin is refused.
 */
export function isCrossOriginWrite(
  req: Request,
  config: Pick<Config, "origin">,
): boolean {
  if (SAFE_METHODS.has(req.method)) return false;
  return req.headers.get("origin") !== config.origin;
}
