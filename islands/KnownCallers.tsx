import { useEffect, useState } from "preact/hooks";
import { knownCallers } from "../lib/client/call/known_callers.ts";

/**
 * "Recent calls" names only a pseudonym per caller: the server never learns
 * who called. This browser remembers the callers it verified when their
 * calls rang (lib/client/call/known_callers.ts); their handles replace the
 * pseudonym in the rows it knows (`data-call="<callId>"`), and a line says
 * where those names come from.
 */
export default function KnownCallers() {
  const [named, setNamed] = useState(0);
  useEffect(() => {
    const known = knownCallers(localStorage);
    let n = 0;
    for (const el of document.querySelectorAll<HTMLElement>("[data-call]")) {
      const handle = known[el.dataset.call ?? ""];
      if (!handle) continue;
      el.textContent = `@${handle}`;
      el.title = "Verified by this browser when the call rang";
      el.classList.add("known-caller");
      n++;
    }
    setNamed(n);
  }, []);
  return named
    ? (
      <p class="hint known-callers">
        Handles are callers this browser verified when their calls rang; Reach
        itself only knows the other names.
      </p>
    )
    : null;
}
