/**
 * CSV export of the call log (RFC 4180: CRLF line ends, fields with a comma,
 * quote or line break quoted, quotes doubled), streamed as it is read, with
 * at most `maxRows` rows. Text fields that a spreadsheet would run as a
 * formula (starting with = + - @ or a tab/CR) are prefixed with a quote mark.
 */
import type { StatsDecision } from "../store/stats.ts";
import { callLogIterator, type OpsLogRow, opsRow } from "./calllog.ts";

export const CSV_MAX_ROWS = 50_000;

export const CSV_HEADER = [
  "call_ref",
  "started_at",
  "duration_seconds",
  "decision",
  "relayed",
  "caller_hash",
  "callee_hash",
] as const;

/** One field, quoted when RFC 4180 needs it. */
export function csvField(v: string | number | boolean): string {
  let s = String(v);
  if (typeof v === "string" && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function csvRow(fields: (string | number | boolean)[]): string {
  return fields.map(csvField).join(",") + "\r\n";
}

export function csvLogRow(r: OpsLogRow): string {
  return csvRow([
    r.ref,
    new Date(r.startedAt).toISOString(),
    Math.round(r.durationMs / 1000),
    r.decision,
    r.relayed,
    r.caller,
    r.callee,
  ]);
}

/** The export as a byte stream, read from KV in batches as it is pulled. */
export function callLogCsv(
  kv: Deno.Kv,
  opts: { decision?: StatsDecision | null; maxRows?: number } = {},
): ReadableStream<Uint8Array> {
  const maxRows = opts.maxRows ?? CSV_MAX_ROWS;
  const decision = opts.decision ?? null;
  const enc = new TextEncoder();
  const iter = callLogIterator(kv, { batchSize: 1000 });
  let rows = 0;
  let done = false;
  let headerSent = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let chunk = "";
      if (!headerSent) {
        chunk += csvRow([...CSV_HEADER]);
        headerSent = true;
      }
      // About a thousand rows per chunk.
      for (let i = 0; i < 1000 && rows < maxRows;) {
        const next = await iter.next();
        if (next.done) {
          done = true;
          break;
        }
        if (decision && next.value.value.decision !== decision) continue;
        chunk += csvLogRow(opsRow(next.value.value));
        rows++;
        i++;
      }
      if (chunk) controller.enqueue(enc.encode(chunk));
      if (done || rows >= maxRows) controller.close();
    },
  }, { highWaterMark: 1 });
}
