import { useState } from "preact/hooks";
import { useHydrated } from "../lib/client/hydrated.ts";

interface Props {
  handle: string;
  online: boolean;
}

export default function CallButton({ handle, online }: Props) {
  const hydrated = useHydrated();
  const [status, setStatus] = useState("");
  function call() {
    setStatus(
      online
        ? `Calling @${handle} is not available in this version of Reach yet.`
        : `@${handle} is not receiving calls right now. Try again later.`,
    );
  }
  return (
    <div class="call">
      <button
        type="button"
        class="button call-button"
        disabled={!hydrated}
        onClick={call}
      >
        Call @{handle}
      </button>
      <p class="status" role="status" aria-live="polite">{status}</p>
    </div>
  );
}
