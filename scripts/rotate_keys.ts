/**
 * `deno task rotate-keys`: after a new key is put first in REACH_DATA_KEYS
 * (or a new pepper first in REACH_PHONE_PEPPERS, or a new discovery key first
 * in REACH_DISCOVERY_KEYS), reseals and rehashes every phone record under the
 * newest one and remakes every findable number's contact-discovery directory
 * entry under the newest discovery key (lib/store/rotation.ts). Safe to stop
 * (Ctrl-C) and run again. Remove an old key from the ring only after a run
 * that reports 0 failed.
 *
 * Progress goes to stderr, one summary line to stdout; only counts and key
 * ids are printed, never a phone number. Exit status: 0 when every record is
 * under the newest key and pepper, 1 when some could not be rotated, 130
 * when interrupted.
 */
import { getConfig } from "../lib/config.ts";
import { openKv } from "../lib/store/kv.ts";
import {
  rotateKeys,
  type RotationProgress,
  type RotationResult,
} from "../lib/store/rotation.ts";
import { resealPushSubs } from "../lib/store/push_subs.ts";

const WIDTH = 30;

export function progressBar(p: Readonly<RotationProgress>): string {
  const total = Math.max(p.total, p.scanned);
  const filled = total ? Math.round((p.scanned / total) * WIDTH) : WIDTH;
  return `[${"#".repeat(filled)}${"-".repeat(WIDTH - filled)}] ` +
    `${p.scanned}/${total} re-encrypted ${p.reEncrypted} re-hashed ${p.reHashed}`;
}

export function summary(r: RotationResult): string {
  return `rotate-keys: ${r.scanned}/${r.total} phone records visited, ` +
    `${r.reEncrypted} re-encrypted to ${r.dataKid}, ` +
    `${r.reHashed} re-hashed to ${r.pepperKid}, ${r.current} already current, ` +
    `${r.failed} failed, ${r.conflicts} conflicts, ` +
    `${r.rebuilt} directory entries rebuilt under ${r.discoveryKid}, ` +
    `${Math.round(r.ms)} ms` +
    (r.aborted ? " (interrupted: run again to finish)" : "");
}

async function main(): Promise<number> {
  const config = getConfig();
  const kv = await openKv(config);
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  const tty = Deno.stderr.isTerminal();
  const enc = new TextEncoder();
  const write = (s: string) => Deno.stderr.writeSync(enc.encode(s));
  // A terminal gets one redrawn line; a log gets a line per tenth.
  let shown = -1;
  const draw = (p: Readonly<RotationProgress>, force = false) => {
    const step = p.total ? Math.floor((p.scanned / p.total) * 100) : 100;
    const every = tty ? 1 : 10;
    if (!force && Math.floor(step / every) === Math.floor(shown / every)) {
      return;
    }
    shown = step;
    write(tty ? `\r${progressBar(p)}` : `${progressBar(p)}\n`);
  };
  try {
    const result = await rotateKeys(kv, config, {
      signal: abort.signal,
      onProgress: (p) => draw(p),
    });
    draw(result, shown === -1 || result.aborted);
    if (tty) write("\n");
    console.log(summary(result));
    if (result.aborted) return 130;
    // Push subscriptions are sealed with the same data keys.
    const push = await resealPushSubs(kv, config.dataKeys);
    console.log(
      `rotate-keys: ${push.resealed} push subscriptions resealed, ${push.failed} could not be opened`,
    );
    return result.failed || result.conflicts || push.failed ? 1 : 0;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    kv.close();
  }
}

if (import.meta.main) Deno.exit(await main());
