/**
 * Structured logging: one JSON line per event, with an event name and only
 * allow-listed fields. Anything else is dropped before it is written, so a
 * careless call cannot leak request bodies, cookies, signatures, IP addresses,
 * SDP, candidates or phone numbers into the logs.
 */
import { callRef } from "./call_ref.ts";

/** Fields a log line may carry; values must be numbers, booleans or short tokens. */
export const ALLOWED_FIELDS = new Set([
  "method",
  "route",
  "status",
  "ms",
  "code",
  "count",
  "kind",
  "reason",
  "env",
  "port",
  "buildId",
  "callId",
  "type",
  "outcome",
  "source",
]);

/** Fields whose value is a call id: written as its keyed reference only. */
const CALL_ID_FIELDS = new Set(["callId"]);

/** Strings longer than this are cut; tokens, not text, belong in logs. */
const MAX_STRING = 80;

export type LogValue = string | number | boolean | null | undefined;
export type LogSink = (line: string) => void;

let sink: LogSink = (line) => console.log(line);

/** Redirects log lines (tests capture them to audit what is written). */
export function setLogSink(next: LogSink): LogSink {
  const prev = sink;
  sink = next;
  return prev;
}

export function formatLogLine(
  event: string,
  fields: Record<string, LogValue> = {},
  now = new Date(),
): string {
  const out: Record<string, LogValue> = {
    t: now.toISOString(),
    event: event.slice(0, MAX_STRING),
  };
  for (const [k, v] of Object.entries(fields)) {
    if (!ALLOWED_FIELDS.has(k) || v === undefined) continue;
    if (CALL_ID_FIELDS.has(k)) {
      if (typeof v === "string") out.call = callRef(v);
      continue;
    }
    if (typeof v === "string") out[k] = v.slice(0, MAX_STRING);
    else if (typeof v === "number" || typeof v === "boolean" || v === null) {
      out[k] = v;
    }
  }
  return JSON.stringify(out);
}

export function log(event: string, fields?: Record<string, LogValue>): void {
  sink(formatLogLine(event, fields));
}
