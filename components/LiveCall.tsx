import type { Call } from "../lib/client/call/base.ts";
import { InCall } from "./InCall.tsx";

/** A call object's in-call view, while connected or reconnecting. */
export function LiveCall({ call }: { call: Call }) {
  const s = call.state;
  if (!("since" in s) || !call.session) return null;
  return (
    <InCall
      session={call.session}
      remote={call.remote}
      startedAt={s.since}
      peerLabel={call.peer}
      reconnecting={s.kind === "reconnecting"}
      verified={call.audible}
      identity={call.identity || undefined}
      onHangup={() => call.hangup()}
    />
  );
}
