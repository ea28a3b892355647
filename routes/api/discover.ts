import type { Handlers } from "$fresh/server.ts";
import { fail, failureResponse } from "@/lib/http.ts";

/**
 * The old plaintext lookup, retired: 410 `discovery_moved`, whoever asks,
 * and the body (which would hold phone numbers) is never read. Browsers now
 * blind numbers and match locally (lib/phone/DISCOVERY.md).
 */
export const handler: Handlers = {
  POST() {
    return failureResponse(fail("discovery_moved"));
  },
};
