import { useState } from "preact/hooks";
import { useHydrated } from "../lib/client/hydrated.ts";
import type { FindResult } from "../lib/client/discovery.ts";

const STAGES: Record<string, string> = {
  key: "Fetching the key…",
  evaluating: "Blinding and checking…",
  directory: "Downloading the directory…",
  matching: "Matching on this device…",
};

/**
 * Which of my contacts' numbers have a Reach handle (owners who opted in).
 * A view over lib/client/discovery.ts, which loads only on the first search:
 * the numbers are blinded here and matched here; Reach never sees them.
 */
export default function FindByPhone() {
  const hydrated = useHydrated();
  const [text, setText] = useState("");
  const [busy, setBusy] = useState("");
  const [result, setResult] = useState<FindResult | null>(null);
  const [error, setError] = useState("");

  async function find(e: Event) {
    e.preventDefault();
    const phones = text.split(/[\n,;]+/).map((s) => s.trim()).filter(Boolean);
    if (!phones.length) return setError("Enter at least one number.");
    if (phones.length > 1000) {
      return setError("At most 1000 numbers at a time.");
    }
    setBusy(STAGES.key);
    setError("");
    try {
      const { findByPhone } = await import("../lib/client/discovery.ts");
      setResult(
        await findByPhone(phones, { onProgress: (s) => setBusy(STAGES[s]) }),
      );
    } catch (err) {
      setError((err as Error).message || "The search failed; try again.");
    }
    setBusy("");
  }

  const r = result;
  return (
    <form class="find" onSubmit={find}>
      <label for="find-phones">Numbers, one per line (with country code)</label>
      <textarea
        id="find-phones"
        rows={3}
        value={text}
        disabled={!hydrated}
        onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
      />
      <button type="submit" class="button" disabled={!hydrated || !!busy}>
        {busy ? "Looking…" : "Find on Reach"}
      </button>
      <p class="hint">
        Your browser blinds these numbers before anything is sent and matches
        them itself: Reach never sees them.
      </p>
      {busy && <p class="status">{busy}</p>}
      {error && <p class="error" role="alert">{error}</p>}
      {r && (
        <div class="matches" role="status" aria-live="polite">
          {r.matches.length === 0
            ? <p>None of these numbers has a findable Reach handle.</p>
            : (
              <ul>
                {r.matches.map((m) => (
                  <li key={m.phone}>
                    {m.phone}: <a href={`/@${m.handle}`}>@{m.handle}</a>
                  </li>
                ))}
              </ul>
            )}
          {r.invalid.length > 0 && (
            <p class="hint">Not valid mobile numbers: {r.invalid.join(", ")}</p>
          )}
          {r.problem && <p class="error">{r.problem}</p>}
        </div>
      )}
    </form>
  );
}
