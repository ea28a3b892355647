/** JSON answers and bounded, validated JSON request bodies. */
import type { z } from "zod";

export function json(data: unknown, init: ResponseInit = {}): Response {
  const headers = new Headers(init.headers);
  headers.set("content-type", "application/json; charset=utf-8");
  headers.set("cache-control", headers.get("cache-control") ?? "no-store");
  return new Response(JSON.stringify(data), { ...init, headers });
}

/** Every error answer has the same shape: `{error: code, message: sentence}`. */
export function jsonError(
  status: number,
  error: string,
  message: string,
  init: ResponseInit = {},
): Response {
  return json({ error, message }, { ...init, status });
}

export const MAX_JSON_BYTES = 16 * 1024;

/**
 * Reads a JSON body of at most `maxBytes`, validated by `schema`. Returns the
 * data, or a ready error Response (413, 415, 400) that says what is wrong.
 */
export async function readJson<S extends z.ZodType>(
  req: Request,
  schema: S,
  maxBytes = MAX_JSON_BYTES,
): Promise<{ data: z.infer<S> } | { error: Response }> {
  const type = req.headers.get("content-type") ?? "";
  if (!/^application\/json\b/i.test(type)) {
    return {
      error: jsonError(
        415,
        "unsupported_media_type",
        "Send the request body as JSON (Content-Type: application/json).",
      ),
    };
  }
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > maxBytes) return { error: tooLarge(maxBytes) };
  let bytes: Uint8Array;
  try {
    bytes = await readLimited(req, maxBytes);
  } catch {
    return { error: tooLarge(maxBytes) };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return {
      error: jsonError(
        400,
        "invalid_json",
        "The request body is not valid JSON.",
      ),
    };
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const where = first.path.length ? `${first.path.join(".")}: ` : "";
    return {
      error: jsonError(400, "invalid_request", `${where}${first.message}`),
    };
  }
  return { data: parsed.data };
}

function tooLarge(maxBytes: number): Response {
  return jsonError(
    413,
    "payload_too_large",
    `The request body is larger than ${maxBytes} bytes.`,
  );
}

/** The body's exact bytes; throws when it passes `maxBytes` (nothing more is read). */
export async function readLimited(
  req: Request,
  maxBytes: number,
): Promise<Uint8Array> {
  if (!req.body) return new Uint8Array();
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > maxBytes) {
      await reader.cancel();
      throw new Error("too large");
    }
    chunks.push(value);
  }
  const all = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return all;
}
