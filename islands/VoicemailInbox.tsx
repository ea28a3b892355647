import { useEffect, useState } from "preact/hooks";
import { callApi } from "../lib/client/api.ts";
import { loadInboxKey } from "../lib/client/inbox_key.ts";
import {
  type Envelope,
  openVoicemail,
  VoicemailError,
} from "../lib/voicemail/envelope.ts";

interface Item {
  callId: string;
  createdAt: string;
  size: number;
  read: boolean;
}

interface Opened {
  url?: string;
  name?: string;
  durationMs?: number;
  error?: string;
}

const CANNOT_PLAY =
  "This voicemail was sealed before this browser could receive voicemail, so it cannot be played here. Play it in the browser that was receiving your calls then.";

/** The owner's voicemail inbox: decrypted and played only in this browser. */
export default function VoicemailInbox({ handle }: { handle: string }) {
  const [items, setItems] = useState<Item[] | null>(null);
  const [opened, setOpened] = useState<Record<string, Opened>>({});
  const [error, setError] = useState("");

  async function load() {
    const res = await callApi<{ voicemails: Item[]; unread: number }>(
      "/api/me/voicemails",
      { method: "GET" },
    );
    if (!res.ok) return setError(res.message);
    setItems(res.data.voicemails);
    // Decrypt each here, in this browser: the server only has ciphertext.
    const key = await loadInboxKey();
    for (const v of res.data.voicemails) {
      open(v.callId, key).then((o) =>
        setOpened((p) => ({ ...p, [v.callId]: o }))
      );
    }
  }

  async function open(
    callId: string,
    key: Awaited<ReturnType<typeof loadInboxKey>>,
  ): Promise<Opened> {
    if (!key) {
      return { error: CANNOT_PLAY };
    }
    const res = await callApi<Envelope>(`/api/me/voicemails/${callId}`, {
      method: "GET",
    });
    if (!res.ok) return { error: res.message };
    try {
      const vm = await openVoicemail(res.data, key, { callId, handle });
      const url = URL.createObjectURL(
        new Blob([vm.audio as BlobPart], { type: vm.mime }),
      );
      return { url, name: vm.name, durationMs: vm.durationMs };
    } catch (e) {
      const code = e instanceof VoicemailError ? e.code : "";
      return {
        error: code === "not_for_this_device"
          ? CANNOT_PLAY
          : "This voicemail could not be decrypted: it may have been tampered with.",
      };
    }
  }

  useEffect(() => {
    load();
  }, []);

  const unread = items?.filter((i) => !i.read).length ?? 0;
  useEffect(() => {
    document.title = unread
      ? `(${unread}) Your page · Reach`
      : "Your page · Reach";
  }, [unread]);

  async function markRead(callId: string) {
    const it = items?.find((i) => i.callId === callId);
    if (!it || it.read) return;
    await callApi(`/api/me/voicemails/${callId}/read`);
    setItems((xs) =>
      xs!.map((i) => i.callId === callId ? { ...i, read: true } : i)
    );
  }

  async function remove(callId: string) {
    const res = await callApi(`/api/me/voicemails/${callId}`, {
      method: "DELETE",
    });
    if (!res.ok) return setError(res.message);
    setItems((xs) => xs!.filter((i) => i.callId !== callId));
  }

  if (error) return <p class="error" role="alert">{error}</p>;
  if (!items) return <p class="hint">Loading voicemail…</p>;
  if (!items.length) return <p class="hint">No voicemail.</p>;
  return (
    <ul class="voicemails" aria-label={`${unread} unread voicemail`}>
      {items.map((v) => {
        const o = opened[v.callId];
        return (
          <li key={v.callId} class={v.read ? "vm" : "vm unread"}>
            <p>
              {!v.read && <strong class="badge">New</strong>}{" "}
              <time dateTime={v.createdAt}>
                {new Date(v.createdAt).toLocaleString()}
              </time>
              {o?.durationMs !== undefined &&
                ` · ${Math.round(o.durationMs / 1000)} s`}
              {o?.name && ` · from ${o.name}`}
            </p>
            {o?.url && (
              <audio
                controls
                src={o.url}
                aria-label="Voicemail"
                onPlay={() => markRead(v.callId)}
              />
            )}
            {o?.error && <p class="note">{o.error}</p>}
            {!o && <p class="hint">Decrypting…</p>}
            <button
              type="button"
              class="button"
              onClick={() => remove(v.callId)}
            >
              Delete
            </button>
          </li>
        );
      })}
    </ul>
  );
}
