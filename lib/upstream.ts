/**
 * Calling a provider's HTTP API (Twilio Verify for SMS, Cloudflare Realtime
 * for TURN credentials) the one way: a deadline, a JSON answer checked
 * against a schema, and every way it can go wrong as one `UpstreamError`
 * whose `reason` says which:
 *
 * - "timeout": no complete answer before the deadline (headers or body);
 * - "network": the request could not be made or the connection broke;
 * - "status": the provider answered, but not 2xx (`status` holds it);
 * - "bad_response": a 2xx that is not JSON, or not the documented shape;
 * - "invalid_input": refused before any request (a caller's own check).
 *
 * An error's message names the provider and the reason only: never the URL,
 * a credential, the request or the provider's response body, so it is safe
 * to log and to show.
 */
import type { z } from "zod";

export type UpstreamFailure =
  | "timeout"
  | "network"
  | "status"
  | "bad_response"
  | "invalid_input";

export class UpstreamError extends Error {
  constructor(
    /** The provider, as a short name safe to log ("Twilio Verify"). */
    public readonly upstream: string,
    /** What went wrong, as a short token safe to log. */
    public readonly reason: UpstreamFailure,
    message: string,
    /** The provider's HTTP status, when there was one. */
    public readonly status?: number,
  ) {
    super(message);
    this.name = "UpstreamError";
  }
}

export interface UpstreamOptions<S extends z.ZodType> {
  /** How long to wait for the whole answer, body included. */
  timeoutMs: number;
  /** The shape a 2xx answer's JSON must have; unknown fields are the schema's business. */
  schema: S;
  /** The fetch to call with (tests). */
  fetch?: typeof fetch;
}

/**
 * Sends `request` to the provider `name` and returns its 2xx JSON answer,
 * parsed by `opts.schema`; throws UpstreamError otherwise.
 */
export async function callUpstream<S extends z.ZodType>(
  name: string,
  request: Request,
  opts: UpstreamOptions<S>,
): Promise<z.infer<S>> {
  const doFetch = opts.fetch ?? fetch;
  const signal = AbortSignal.timeout(opts.timeoutMs);
  const timeout = () =>
    new UpstreamError(name, "timeout", `${name} did not answer in time.`);
  let res: Response;
  try {
    res = await doFetch(request, { signal });
  } catch (e) {
    throw aborted(e, signal) ? timeout() : new UpstreamError(
      name,
      "network",
      `${name} could not be reached.`,
    );
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => {});
    throw new UpstreamError(
      name,
      "status",
      `${name} answered ${res.status}.`,
      res.status,
    );
  }
  let raw: unknown;
  try {
    raw = await res.json();
  } catch (e) {
    if (aborted(e, signal)) throw timeout();
    // A body cut off mid-way is a broken connection, not a bad answer.
    if (!(e instanceof SyntaxError)) {
      throw new UpstreamError(
        name,
        "network",
        `${name} could not be reached.`,
      );
    }
    throw new UpstreamError(
      name,
      "bad_response",
      `${name} answered with something that is not JSON.`,
      res.status,
    );
  }
  const parsed = opts.schema.safeParse(raw);
  if (!parsed.success) {
    throw new UpstreamError(
      name,
      "bad_response",
      `${name} answered in an unexpected shape.`,
      res.status,
    );
  }
  return parsed.data;
}

function aborted(e: unknown, signal: AbortSignal): boolean {
  return signal.aborted ||
    (e instanceof DOMException &&
      (e.name === "TimeoutError" || e.name === "AbortError"));
}
