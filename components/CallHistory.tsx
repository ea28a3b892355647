/**
 * The owner's recent calls on /me, rendered on the server: when (relative,
 * with the exact time in a title), how long, what happened, and who, as an
 * anonymous per-owner label (callerPseudonym in lib/store/history.ts).
 */
import { clock } from "../lib/clock.ts";
import type { HistoryEntry } from "../lib/store/history.ts";

const OUTCOME: Record<string, string> = {
  answered: "Answered",
  declined: "Declined",
  missed: "Missed",
  cancelled: "Caller hung up",
  unavailable: "You were offline",
  busy: "Busy",
  voicemail: "Voicemail",
};

/** "just now", "5 min ago", "3 h ago", "2 days ago". */
export function relativeTime(then: number, now: number): string {
  const s = Math.max(0, Math.round((now - then) / 1000));
  if (s < 60) return "just now";
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ago`;
  const d = Math.floor(h / 24);
  return d === 1 ? "yesterday" : `${d} days ago`;
}

export default function CallHistory(
  { entries, olderHref, now, isFirstPage = true }: {
    entries: HistoryEntry[];
    /** Link to the next (older) page, or null. */
    olderHref: string | null;
    now: number;
    isFirstPage?: boolean;
  },
) {
  return (
    <div class="call-history">
      {entries.length === 0
        ? (
          <p class="empty">
            {isFirstPage
              ? "No calls yet. Calls to your handle will be listed here."
              : "No older calls."}
          </p>
        )
        : (
          <table>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Who</th>
                <th scope="col">What happened</th>
                <th scope="col">Length</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((e) => {
                const iso = new Date(e.startedAt).toISOString();
                return (
                  <tr key={e.callId} class={`call-${e.decision}`}>
                    <td>
                      <time datetime={iso} title={iso}>
                        {relativeTime(e.startedAt, now)}
                      </time>
                    </td>
                    {
                      /* data-call: a browser that opened this caller's
                      sealed identity shows their handle instead. */
                    }
                    <td data-call={e.callId}>{e.caller}</td>
                    <td>{OUTCOME[e.decision] ?? e.decision}</td>
                    <td>
                      {e.decision === "answered" ? clock(e.durationMs) : "—"}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      {(olderHref || !isFirstPage) && (
        <p class="call-history-nav">
          {!isFirstPage && <a href="/me#recent-calls">Newest calls</a>}{" "}
          {olderHref && <a href={olderHref} rel="next">Older calls</a>}
        </p>
      )}
    </div>
  );
}
