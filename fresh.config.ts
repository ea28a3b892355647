import { defineConfig } from "$fresh/server.ts";
import { getConfig } from "./lib/config.ts";
import { secureFrameworkResponse } from "./lib/security_headers.ts";

// Port: `server.port` here, else the PORT environment variable, else 8000.
export default defineConfig({
  // What the framework answers past routes/_middleware.ts (redirects, the
  // last-resort 500) carries the same security headers as everything else.
  onFrameworkResponse: (req, res) =>
    secureFrameworkResponse(req, res, getConfig()),
});
