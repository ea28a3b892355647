import { useEffect, useRef, useState } from "preact/hooks";
import {
  getMicrophone,
  levelMeter,
  microphoneError,
} from "../lib/client/rtc.ts";
import { type InboxKey, sealVoicemail } from "../lib/voicemail/envelope.ts";

interface Props {
  handle: string;
  callId: string;
  /** The caller's resume token for this call: proves the upload is ours. */
  callToken: string;
  maxSeconds: number;
}

type Phase =
  | { kind: "checking" }
  | { kind: "unavailable"; message: string }
  | { kind: "ready" }
  | { kind: "recording"; startedAt: number }
  | { kind: "review"; blob: Blob; url: string; durationMs: number }
  | { kind: "sending"; progress: number }
  | { kind: "sent" }
  | { kind: "failed"; message: string };

const MIME = "audio/webm;codecs=opus";

/** Record, review and send a voicemail sealed in this browser to @handle's devices. */
export function VoicemailRecorder(
  { handle, callId, callToken, maxSeconds }: Props,
) {
  const [phase, setPhase] = useState<Phase>({ kind: "checking" });
  const [keys, setKeys] = useState<InboxKey[]>([]);
  const [name, setName] = useState("");
  const [level, setLevel] = useState(0);
  const [now, setNow] = useState(Date.now());
  const rec = useRef<{ stop(): void } | null>(null);
  const sealed = useRef<string | null>(null);

  useEffect(() => {
    fetch(`/handles/${handle}/inbox-keys`).then((r) => r.json()).then(
      (b: { keys?: InboxKey[] }) => {
        if (b.keys?.length) {
          setKeys(b.keys);
          setPhase({ kind: "ready" });
        } else {
          setPhase({
            kind: "unavailable",
            message: `@${handle} has no browser set up to receive voicemail.`,
          });
        }
      },
    ).catch(() =>
      setPhase({
        kind: "unavailable",
        message: "Voicemail is not reachable right now.",
      })
    );
    return () => rec.current?.stop();
  }, []);

  async function record() {
    let mic: MediaStream;
    try {
      mic = await getMicrophone();
    } catch (e) {
      return setPhase({ kind: "failed", message: microphoneError(e) });
    }
    const chunks: Blob[] = [];
    const mr = new MediaRecorder(
      mic,
      MediaRecorder.isTypeSupported(MIME) ? { mimeType: MIME } : {},
    );
    const meter = levelMeter(mic);
    const startedAt = Date.now();
    const tick = setInterval(() => {
      setNow(Date.now());
      setLevel(meter.read());
      if (Date.now() - startedAt >= maxSeconds * 1000) stop();
    }, 100);
    function stop() {
      clearInterval(tick);
      if (mr.state !== "inactive") mr.stop();
    }
    mr.ondataavailable = (e) => e.data.size && chunks.push(e.data);
    mr.onstop = () => {
      meter.stop();
      mic.getTracks().forEach((t) => t.stop());
      const blob = new Blob(chunks, { type: mr.mimeType || "audio/webm" });
      const durationMs = Math.min(maxSeconds * 1000, Date.now() - startedAt);
      sealed.current = null;
      setPhase({
        kind: "review",
        blob,
        url: URL.createObjectURL(blob),
        durationMs,
      });
    };
    rec.current = { stop };
    mr.start(250);
    setPhase({ kind: "recording", startedAt });
  }

  async function send() {
    if (phase.kind !== "review" && phase.kind !== "failed") return;
    try {
      if (!sealed.current && phase.kind === "review") {
        const env = await sealVoicemail({
          callId,
          handle,
          audio: new Uint8Array(await phase.blob.arrayBuffer()),
          mime: phase.blob.type,
          durationMs: phase.durationMs,
          ...(name.trim() ? { name: name.trim().slice(0, 60) } : {}),
        }, keys);
        sealed.current = JSON.stringify(env);
      }
    } catch {
      return setPhase({
        kind: "failed",
        message: "Could not seal the voicemail.",
      });
    }
    setPhase({ kind: "sending", progress: 0 });
    // The same sealed bytes on every retry: the server keeps one copy.
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/voicemail/${callId}`);
    xhr.setRequestHeader("content-type", "application/json");
    xhr.setRequestHeader("x-reach-call-token", callToken);
    xhr.upload.onprogress = (e) =>
      e.lengthComputable &&
      setPhase({ kind: "sending", progress: e.loaded / e.total });
    xhr.onload = () => {
      if (xhr.status === 200 || xhr.status === 201) {
        return setPhase({ kind: "sent" });
      }
      let message = `Sending failed (${xhr.status}).`;
      try {
        message = JSON.parse(xhr.responseText).message ?? message;
      } catch { /* keep the status */ }
      setPhase({ kind: "failed", message });
    };
    xhr.onerror = () =>
      setPhase({
        kind: "failed",
        message: "The upload was interrupted. Check your connection.",
      });
    xhr.send(sealed.current);
  }

  const left = phase.kind === "recording"
    ? Math.max(0, maxSeconds - Math.floor((now - phase.startedAt) / 1000))
    : maxSeconds;
  return (
    <div class="voicemail">
      {phase.kind === "checking" && <p class="hint">Checking voicemail…</p>}
      {phase.kind === "unavailable" && <p class="hint">{phase.message}</p>}
      {phase.kind === "ready" && (
        <button type="button" class="button primary" onClick={record}>
          Leave a voicemail
        </button>
      )}
      {phase.kind === "recording" && (
        <>
          <p class="status" role="status">Recording… {left}s left</p>
          <div class="meter" aria-label="Your voice level">
            <span style={`width: ${Math.round(level * 100)}%`} />
          </div>
          <button
            type="button"
            class="button danger"
            onClick={() => rec.current?.stop()}
          >
            Stop
          </button>
        </>
      )}
      {(phase.kind === "review" || phase.kind === "failed") && (
        <>
          {phase.kind === "review" && (
            <>
              <audio controls src={phase.url} aria-label="Your voicemail" />
              <label for="vm-name">
                Your name (optional, encrypted with the message)
              </label>
              <input
                id="vm-name"
                maxLength={60}
                value={name}
                onInput={(e) => {
                  sealed.current = null;
                  setName((e.target as HTMLInputElement).value);
                }}
              />
            </>
          )}
          {phase.kind === "failed" && (
            <p class="error" role="alert">{phase.message}</p>
          )}
          <div class="actions">
            {(phase.kind === "review" || sealed.current) && (
              <button type="button" class="button primary" onClick={send}>
                {phase.kind === "failed" ? "Try again" : "Send voicemail"}
              </button>
            )}
            <button type="button" class="button" onClick={record}>
              Record again
            </button>
          </div>
        </>
      )}
      {phase.kind === "sending" && (
        <>
          <p class="status" role="status">
            Sending… {Math.round(phase.progress * 100)}%
          </p>
          <progress max={1} value={phase.progress} />
        </>
      )}
      {phase.kind === "sent" && (
        <p class="status" role="status">
          Voicemail sent to @{handle}. Only their browsers can play it.
        </p>
      )}
    </div>
  );
}
