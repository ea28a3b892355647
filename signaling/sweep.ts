/**
 * The sweep: ends calls whose deadlines passed while no isolate was there to
 * act (the one holding their sockets died or was stopped). Every isolate
 * runs one on a timer, and on Deno Deploy a `Deno.cron` job runs one even
 * when no socket is open. It reads only the calls that are due, through the
 * deadline index (lib/store/calls.ts `dueCalls`), and ends each through
 * `settle`, whose atomic check makes two sweepers racing over the same call
 * end it once.
 */
import { dropDueEntry, dueCalls, type Settled } from "../lib/store/calls.ts";
import { log } from "../lib/log.ts";

export interface SweepOptions {
  kv: Deno.Kv;
  /** Ends one call if due (signaling/calls.ts `Calls.settle`). */
  settle: (callId: string, now: number) => Promise<Settled["kind"]>;
  /** How often the timer sweeps. */
  intervalMs: number;
  /** Index entries read per batch. */
  batch?: number;
  /** Calls settled at once. */
  concurrency?: number;
}

export interface SweepResult {
  /** Due index entries read. */
  looked: number;
  /** Calls this sweep ended (others may have ended the rest). */
  ended: number;
}

export class Sweeper {
  private timer: ReturnType<typeof setInterval> | undefined;
  private running: Promise<SweepResult> | null = null;

  constructor(private o: SweepOptions) {}

  start(): void {
    this.timer ??= setInterval(() => {
      this.sweep().catch((e) =>
        log("sweep.error", { kind: e?.name ?? "Error" })
      );
    }, this.o.intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => {});
  }

  /** One sweep; a sweep asked for while one runs shares its result. */
  sweep(now?: number): Promise<SweepResult> {
    this.running ??= this.run(now).finally(() => (this.running = null));
    return this.running;
  }

  private async run(at?: number): Promise<SweepResult> {
    const now = at ?? Date.now();
    const batch = this.o.batch ?? 200;
    const result: SweepResult = { looked: 0, ended: 0 };
    // Each pass settles what is due; settled calls leave the due range (ended
    // or re-indexed later), so the next pass reads only what is left.
    for (let pass = 0; pass < 1000; pass++) {
      const due = await dueCalls(this.o.kv, now, batch);
      if (due.length === 0) break;
      result.looked += due.length;
      let next = 0;
      const worker = async () => {
        while (next < due.length) {
          const entry = due[next++];
          const callId = entry.key[2] as string;
          try {
            const kind = await this.o.settle(callId, now);
            if (kind === "ended") result.ended++;
            // A record that expired leaves its index entry behind: drop it
            // (the check fails harmlessly if another sweeper's end did).
            else if (kind === "gone") await dropDueEntry(this.o.kv, entry);
          } catch (e) {
            log("sweep.error", { kind: (e as Error)?.name ?? "Error" });
          }
        }
      };
      await Promise.all(
        Array.from({ length: this.o.concurrency ?? 16 }, worker),
      );
      if (due.length < batch) break;
    }
    if (result.ended > 0) log("sweep", { ended: result.ended });
    return result;
  }
}
