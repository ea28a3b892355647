/**
 * When a live call must end, read from its KV record alone, so whichever
 * isolate looks (the one holding a socket, or any sweeper after that one
 * died) reaches the same verdict. Pure functions: no KV, no clock.
 *
 * - A ringing call ends `missed` at `ringUntil`.
 * - Each side that holds a socket proves it is alive: its isolate writes
 *   `callerSeen` / `calleeSeen` every heartbeat tick. A side is gone when
 *   its socket closed and it did not resume within `graceMs`
 *   (`…LostAt + graceMs`), or when nothing refreshed it for `silentMs` (its
 *   isolate died) and then `graceMs` more passed.
 * - The first deadline to pass decides: a ringing call whose caller is gone
 *   is `cancelled`; an answered call whose side is gone ends (decision
 *   `answered`, hang-up reason `connection_lost`) with its duration up to
 *   that side's last sign of life.
 */
import type { CallRecord } from "./call_types.ts";

export type Side = "caller" | "callee";

/** The fields the deadlines are read from. */
export type Timed = Pick<
  CallRecord,
  | "state"
  | "ringUntil"
  | "answeredAt"
  | "callerSeen"
  | "calleeSeen"
  | "callerLostAt"
  | "calleeLostAt"
  | "silentMs"
  | "graceMs"
>;

/** The last time a side was known to hold a socket. */
export function lastSign(rec: Timed, side: Side): number {
  return side === "caller"
    ? rec.callerLostAt ?? rec.callerSeen
    : rec.calleeLostAt ?? rec.calleeSeen ?? rec.answeredAt ?? 0;
}

/** When a side counts as gone, or null for a side the call does not have. */
export function sideDeadline(rec: Timed, side: Side): number | null {
  if (side === "callee" && rec.state !== "answered") return null;
  const lostAt = side === "caller" ? rec.callerLostAt : rec.calleeLostAt;
  if (lostAt !== undefined) return lostAt + rec.graceMs;
  return lastSign(rec, side) + rec.silentMs + rec.graceMs;
}

/** What ends a call whose deadline passed. */
export type Expiry =
  | { decision: "missed" }
  | { decision: "cancelled"; lost: "caller" }
  | { decision: "answered"; lost: Side; endAt: number };

/** The earliest deadline of a live call (Infinity once it has ended). */
export function deadlineOf(rec: Timed): number {
  if (rec.state === "ended") return Infinity;
  const caller = sideDeadline(rec, "caller")!;
  if (rec.state === "ringing") return Math.min(rec.ringUntil, caller);
  return Math.min(caller, sideDeadline(rec, "callee")!);
}

/** Whether (and how) a call ends at `now`; null while it is live. */
export function expiry(rec: Timed, now: number): Expiry | null {
  if (rec.state === "ended" || deadlineOf(rec) > now) return null;
  const caller = sideDeadline(rec, "caller")!;
  if (rec.state === "ringing") {
    return rec.ringUntil <= caller
      ? { decision: "missed" }
      : { decision: "cancelled", lost: "caller" };
  }
  const callee = sideDeadline(rec, "callee")!;
  const lost: Side = caller <= callee ? "caller" : "callee";
  return { decision: "answered", lost, endAt: lastSign(rec, lost) };
}
