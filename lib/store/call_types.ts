/**
 * The shapes of a call and of its log record, in a module of their own so
 * that the call store, its counters (stats.ts) and its deadlines
 * (call_deadline.ts) share them without importing one another.
 */

export type CallDecision =
  | "answered"
  | "declined"
  | "missed"
  | "cancelled"
  | "unavailable"
  | "busy";

export interface CallRecord {
  callId: string;
  state: "ringing" | "answered" | "ended";
  calleeHandle: string;
  callerHash: string;
  calleeHash: string;
  createdAt: number;
  answeredAt?: number;
  endedAt?: number;
  answeredBy?: string;
  decision?: CallDecision;
  relayed?: boolean;
  /** SHA-256 of each side's resume token. */
  callerResume: string;
  calleeResume?: string;
  /** The socket currently speaking for each side (changes on resume). */
  callerConn: string;
  calleeConn?: string;
  /** When ringing ends as missed. */
  ringUntil: number;
  /** Each side's last sign of life: its isolate's heartbeat tick, or a resume. */
  callerSeen: number;
  calleeSeen?: number;
  /** When a side's socket closed; it has `graceMs` to resume. Unset while held. */
  callerLostAt?: number;
  calleeLostAt?: number;
  /** Fixed when the call rang, so every isolate judges its deadlines alike. */
  silentMs: number;
  graceMs: number;
  /** The deadline the record is indexed under: never later than the real one. */
  due: number;
}

export interface CallLogRecord {
  callId: string;
  callerHash: string;
  calleeHash: string;
  startedAt: number;
  durationMs: number;
  decision: CallDecision;
  relayed: boolean;
}
