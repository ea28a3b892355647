/**
 * What a call says when it ends, for each side, and which endings allow a
 * voicemail: the one place for these words and that decision. Each side's
 * words are a function of their own, so a page loads only its own.
 */
import type { CallEnd } from "@/signaling/protocol.ts";

/** Why a call ended (the `ended` state's reason). */
export type EndReason =
  /** The server's verdict on an unanswered call (`ended`). */
  | CallEnd
  /** This side hung up. */
  | "local"
  /** The other side hung up (`hangup` normal). */
  | "hungup"
  /** The other side's connection was lost (`hangup` other than normal). */
  | "lost"
  /** The call was over when this side came back (`resumed` ended). */
  | "over"
  /** Another device of the handle answered. */
  | "elsewhere"
  /** The peer's identity proof was bad or missing: the security stop. */
  | "security"
  /** The peer connection failed (detail: CallSession's words). */
  | "failed"
  /** No microphone (detail: microphoneError's words). */
  | "microphone"
  /** The ICE servers could not be fetched. */
  | "network"
  /** The server refused this socket for good (detail: code or reason). */
  | "refused"
  /** No one has the handle called. */
  | "unknown"
  /** An `error` from the server (detail: its message). */
  | "error"
  /** Handling a message threw. */
  | "broken";

/** Unanswered calls may leave a voicemail. */
const VOICEMAIL_AFTER: ReadonlySet<string> = new Set([
  "declined",
  "missed",
  "unavailable",
  "busy",
]);

export const allowsVoicemail = (reason: EndReason): boolean =>
  VOICEMAIL_AFTER.has(reason);

/** Words both sides say alike. */
function common(reason: EndReason, detail: string): string {
  switch (reason) {
    case "lost":
      return "The call ended: the connection was lost.";
    case "local":
      return "You hung up.";
    case "failed":
      return detail || "The connection failed.";
    case "network":
      return "Could not prepare the connection. Check your network and try again.";
    case "refused":
      return `The connection to Reach was refused (${detail}).`;
    case "microphone":
    case "error":
      return detail;
    default:
      return "The call ended.";
  }
}

/** What the caller's page says when its call to `peer` (`@bob`) ends. */
export function callerText(
  reason: EndReason,
  peer: string,
  detail = "",
): string {
  switch (reason) {
    case "declined":
      return `${peer} declined the call.`;
    case "missed":
      return `${peer} did not answer.`;
    case "unavailable":
      return `${peer} is not receiving calls right now.`;
    case "busy":
      return `${peer} is on another call.`;
    case "cancelled":
      return "Call cancelled.";
    case "hungup":
      return `${peer} hung up.`;
    case "security":
      return `Security warning: this call could not be verified (${detail}), so it was ended before any audio played. Someone may be intercepting it.`;
    case "unknown":
      return `No one has the handle ${peer}.`;
    case "broken":
      return "Something went wrong setting up the call.";
  }
  return common(reason, detail);
}

/**
 * What the callee's page notes when a call from `peer` ends; "" for the
 * endings it leaves unsaid (declined here or elsewhere, busy, unavailable).
 */
export function calleeText(
  reason: EndReason,
  peer: string,
  detail = "",
): string {
  switch (reason) {
    case "declined":
    case "unavailable":
    case "busy":
      return "";
    case "missed":
      return "Missed call.";
    case "cancelled":
    case "hungup":
      return "The caller hung up.";
    case "elsewhere":
      return "Answered on another device.";
    case "security":
      return `Security warning: the call from ${peer} could not be verified (${detail}) and was ended. Someone may be intercepting it.`;
    case "broken":
      return "Something went wrong with that call.";
  }
  return common(reason, detail);
}
