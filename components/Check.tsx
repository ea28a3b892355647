import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { HIDE_IP, readPref, writePref } from "../lib/client/call/prefs.ts";

/** A labelled checkbox: the pages' switches and call options. */
export function Check(props: {
  checked: boolean;
  disabled: boolean;
  onChange: (on: boolean) => void;
  children: ComponentChildren;
  class?: string;
  role?: "switch";
}) {
  return (
    <label class={props.class ?? "check"}>
      <input
        type="checkbox"
        role={props.role}
        checked={props.checked}
        disabled={props.disabled}
        onChange={(e) => props.onChange((e.target as HTMLInputElement).checked)}
      />{" "}
      {props.children}
    </label>
  );
}

/** "Hide my IP": one preference for the calls this browser places and takes. */
export function HideIp(
  { disabled, children }: { disabled: boolean; children: ComponentChildren },
) {
  const [on, setOn] = useState(false);
  useEffect(() => setOn(readPref(HIDE_IP)), []);
  return (
    <Check
      checked={on}
      disabled={disabled}
      onChange={(v) => {
        writePref(HIDE_IP, v);
        setOn(v);
      }}
    >
      {children}
    </Check>
  );
}
