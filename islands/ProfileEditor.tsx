import { useState } from "preact/hooks";
import { callApi } from "../lib/client/api.ts";
import { textOn } from "../lib/color.ts";
import { useHydrated } from "../lib/client/hydrated.ts";

interface Profile {
  handle: string;
  displayName: string;
  greeting: string;
  accentColor: string;
}

const HEX = /^#[0-9a-fA-F]{6}$/;

export default function ProfileEditor(props: { profile: Profile }) {
  const hydrated = useHydrated();
  const [saved, setSaved] = useState(props.profile);
  const [draft, setDraft] = useState(props.profile);
  const [busy, setBusy] = useState(false);
  const [status, setStatus] = useState("");
  const [error, setError] = useState("");
  const dirty = draft.displayName !== saved.displayName ||
    draft.greeting !== saved.greeting ||
    draft.accentColor !== saved.accentColor;
  const colorOk = HEX.test(draft.accentColor);

  function field(name: keyof Profile) {
    return (e: Event) => {
      setDraft({ ...draft, [name]: (e.target as HTMLInputElement).value });
      setStatus("");
    };
  }

  async function save(e: Event) {
    e.preventDefault();
    if (!colorOk) {
      setError("Accent colour must be a hex colour like #2563eb.");
      return;
    }
    setBusy(true);
    setError("");
    setStatus("Saving…");
    const res = await callApi<Profile>("/api/me/profile", {
      method: "PATCH",
      body: {
        displayName: draft.displayName,
        greeting: draft.greeting,
        accentColor: draft.accentColor,
      },
    });
    setBusy(false);
    if (res.ok) {
      setSaved(res.data);
      setDraft(res.data);
      setStatus("Saved. Your public page shows it now.");
    } else {
      // Keep what was typed: nothing is lost on a refused save.
      setStatus("");
      setError(res.message);
    }
  }

  return (
    <form class="profile-editor" onSubmit={save}>
      <fieldset disabled={!hydrated}>
        <div class="field">
          <label for="pe-name">Display name</label>
          <input
            id="pe-name"
            name="displayName"
            maxLength={50}
            required
            value={draft.displayName}
            onInput={field("displayName")}
          />
        </div>
        <div class="field">
          <label for="pe-greeting">Greeting</label>
          <textarea
            id="pe-greeting"
            name="greeting"
            maxLength={280}
            rows={3}
            value={draft.greeting}
            onInput={field("greeting")}
          />
          <p class="hint">{280 - draft.greeting.length} characters left</p>
        </div>
        <div class="field">
          <label for="pe-accent">Accent colour</label>
          <div class="color-row">
            <input
              type="color"
              aria-label="Pick accent colour"
              value={colorOk ? draft.accentColor : "#2563eb"}
              onInput={field("accentColor")}
            />
            <input
              id="pe-accent"
              name="accentColor"
              maxLength={7}
              value={draft.accentColor}
              aria-invalid={!colorOk}
              onInput={field("accentColor")}
            />
          </div>
        </div>
        <div
          class="preview brand-card"
          style={colorOk
            ? `--accent: ${draft.accentColor}; --on-accent: ${
              textOn(draft.accentColor)
            }`
            : undefined}
          aria-label="Preview"
        >
          <span class="avatar" aria-hidden="true">
            {(draft.displayName || draft.handle).slice(0, 1).toUpperCase()}
          </span>
          <strong>{draft.displayName || draft.handle}</strong>
          <span class="muted">@{draft.handle}</span>
          {draft.greeting && <p>{draft.greeting}</p>}
        </div>
        <div class="actions">
          <button
            type="submit"
            class="button primary"
            disabled={busy || !dirty}
          >
            {busy ? "Saving…" : "Save profile"}
          </button>
          {dirty && !busy && (
            <button
              type="button"
              class="button"
              onClick={() => setDraft(saved)}
            >
              Discard changes
            </button>
          )}
        </div>
      </fieldset>
      <p class="status" role="status" aria-live="polite">{status}</p>
      {error && <p class="error" role="alert">{error}</p>}
    </form>
  );
}
