import { useState } from "preact/hooks";
import { callApi } from "../lib/client/api.ts";
import { useHydrated } from "../lib/client/hydrated.ts";

/** Which of my contacts' numbers have a Reach handle (owners who opted in). */
export default function FindByPhone() {
  const hydrated = useHydrated();
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const [matches, setMatches] = useState<
    { phone: string; handle: string }[] | null
  >(null);
  const [error, setError] = useState("");

  async function find(e: Event) {
    e.preventDefault();
    const phones = text.split(/[\n,;]+/).map((s) => s.trim()).filter(Boolean);
    if (!phones.length) {
      setError("Enter at least one number.");
      return;
    }
    if (phones.length > 500) {
      setError("At most 500 numbers at a time.");
      return;
    }
    setBusy(true);
    setError("");
    const res = await callApi<{ matches: { phone: string; handle: string }[] }>(
      "/api/discover",
      { body: { phones } },
    );
    setBusy(false);
    if (res.ok) setMatches(res.data.matches);
    else setError(res.message);
  }

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
      <button type="submit" class="button" disabled={!hydrated || busy}>
        {busy ? "Looking…" : "Find on Reach"}
      </button>
      <p class="hint">
        Reach sees these numbers while it answers; it does not store or log
        them.
      </p>
      {error && <p class="error" role="alert">{error}</p>}
      {matches && (
        <div class="matches" role="status" aria-live="polite">
          {matches.length === 0
            ? <p>None of these numbers has a findable Reach handle.</p>
            : (
              <ul>
                {matches.map((m) => (
                  <li key={m.phone}>
                    {m.phone}: <a href={`/@${m.handle}`}>@{m.handle}</a>
                  </li>
                ))}
              </ul>
            )}
        </div>
      )}
    </form>
  );
}
