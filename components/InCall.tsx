import { clock } from "../lib/clock.ts";
import { useEffect, useRef, useState } from "preact/hooks";
import {
  type CallSession,
  type ConnectionDetails,
  levelMeter,
} from "../lib/client/rtc.ts";

/** The in-call controls both ends share: timer, level, mute, hang up, details. */
export function InCall(props: {
  session: CallSession;
  remote: MediaStream | null;
  startedAt: number;
  peerLabel: string;
  reconnecting: boolean;
  /** Remote audio stays muted until the peer is verified (undefined: no check). */
  verified?: boolean;
  /** A line about the peer's identity, shown under the state. */
  identity?: string;
  onHangup: () => void;
}) {
  const { session, remote } = props;
  const [now, setNow] = useState(Date.now());
  const [muted, setMuted] = useState(false);
  const [level, setLevel] = useState(0);
  const [details, setDetails] = useState<ConnectionDetails | null>(null);
  const audio = useRef<HTMLAudioElement>(null);

  useEffect(() => {
    if (audio.current && remote) audio.current.srcObject = remote;
    const meter = remote ? levelMeter(remote) : null;
    const tick = setInterval(() => {
      setNow(Date.now());
      if (meter) setLevel(meter.read());
    }, 250);
    const stats = setInterval(async () => {
      setDetails(await session.details());
    }, 1000);
    session.details().then(setDetails);
    return () => {
      clearInterval(tick);
      clearInterval(stats);
      meter?.stop();
    };
  }, [session, remote]);

  const time = clock(now - props.startedAt);
  return (
    <div class="in-call">
      <audio ref={audio} autoPlay muted={props.verified === false} />
      <p class="call-state" role="status" aria-live="polite">
        {props.reconnecting
          ? "Reconnecting…"
          : `Connected with ${props.peerLabel}`}{" "}
        <span class="timer">{time}</span>
      </p>
      {props.identity && <p class="identity">{props.identity}</p>}
      <div class="meter" aria-label="Their voice level">
        <span style={`width: ${Math.round(level * 100)}%`} />
      </div>
      <div class="actions">
        <button
          type="button"
          class="button"
          aria-pressed={muted}
          onClick={() => {
            session.setMuted(!muted);
            setMuted(!muted);
          }}
        >
          {muted ? "Unmute" : "Mute"}
        </button>
        <button type="button" class="button danger" onClick={props.onHangup}>
          Hang up
        </button>
      </div>
      <ConnectionPanel details={details} />
    </div>
  );
}

/** What chrome://webrtc-internals would show, in words. */
export function ConnectionPanel({ details: d }: {
  details: ConnectionDetails | null;
}) {
  if (!d) return null;
  return (
    <details class="connection-details">
      <summary>Connection details</summary>
      <dl
        data-dtls-state={d.dtlsState}
        data-srtp-cipher={d.srtpCipher}
        data-local-fingerprint={d.localFingerprint}
        data-remote-fingerprint={d.remoteFingerprint}
        data-local-candidate={d.localCandidateType}
        data-remote-candidate={d.remoteCandidateType}
        data-packets-sent={d.packetsSent}
        data-packets-received={d.packetsReceived}
        data-ice-restarts={d.iceRestarts}
      >
        <dt>Encryption (DTLS)</dt>
        <dd>
          {d.dtlsState || "—"} {d.tlsVersion === "FEFC"
            ? "DTLS 1.3"
            : d.tlsVersion === "FEFD"
            ? "DTLS 1.2"
            : d.tlsVersion} {d.dtlsCipher}
        </dd>
        <dt>Voice cipher (SRTP)</dt>
        <dd>{d.srtpCipher || "—"}</dd>
        <dt>Your certificate fingerprint</dt>
        <dd class="key">{d.localFingerprint || "—"}</dd>
        <dt>Their certificate fingerprint</dt>
        <dd class="key">{d.remoteFingerprint || "—"}</dd>
        <dt>Path</dt>
        <dd>
          {d.localCandidateType
            ? `${
              d.relayed ? "Relayed through TURN" : "Direct"
            } (${d.localCandidateType} → ${d.remoteCandidateType})`
            : "—"}
        </dd>
        <dt>Audio packets</dt>
        <dd>{d.packetsSent} sent, {d.packetsReceived} received</dd>
        <dt>Reconnections (ICE restarts)</dt>
        <dd>{d.iceRestarts}</dd>
      </dl>
    </details>
  );
}
