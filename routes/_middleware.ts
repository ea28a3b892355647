import { accessLog } from "../lib/middleware/access_log.ts";
import { apiErrors } from "../lib/middleware/api_errors.ts";
import { refuseCrossOrigin } from "../lib/middleware/cross_origin.ts";
import { secureHeaders } from "../lib/middleware/secure_headers.ts";
import { loadSession } from "../lib/middleware/session.ts";

/**
 * Every request passes these in order, outermost first; each one's answer
 * (or thrown error) goes back out through the ones before it:
 *
 * 1. `accessLog` sees the final status of everything below, errors included.
 * 2. `secureHeaders` gives every answer below it the security headers: the
 *    403 refusal, API JSON errors and pages alike.
 * 3. `refuseCrossOrigin` answers 403 before any session is read.
 * 4. `apiErrors` turns what an API path's session read, nested middleware
 *    (e.g. api/me/_middleware.ts) or route throws or fails into JSON.
 * 5. `loadSession` fills `ctx.state` for nested middleware, routes and pages.
 */
export const handler = [
  accessLog,
  secureHeaders,
  refuseCrossOrigin,
  apiErrors,
  loadSession,
];
