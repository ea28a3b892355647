/**
 * The signaling protocol, reach-signal/1: the zod schemas here are the
 * contract (PROTOCOL.md describes them in prose). The server validates every
 * frame against them; islands import only the types.
 */
import { z } from "zod";
import { utf8Fits } from "./bus.ts";
import { MAX_SEALED_CHARS } from "../lib/identity/sealed_ring.ts";

export const SUBPROTOCOL = "reach-signal.v1";

/** Largest frame the server accepts, in bytes (UTF-8). */
export const MAX_FRAME_BYTES = 16 * 1024;
export const MAX_SDP_CHARS = 12 * 1024;
export const MAX_CANDIDATE_CHARS = 1024;
/**
 * Longest sealed caller identity (`ring.sealed`, as JSON) the server relays:
 * the longest a valid one to 10 devices can be (lib/identity/sealed_ring.ts
 * derives it from the field limits; a real one is about 3.4k).
 */
export { MAX_SEALED_CHARS };

/** Close codes: 1000 normal, 1001 server going away, 1009 frame too large, 4xxx below. */
export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  tooLarge: 1009,
  badFrame: 4000,
  notAuthenticated: 4001,
  helloRequired: 4002,
  forbidden: 4003,
  rateLimited: 4008,
  heartbeatTimeout: 4010,
  replaced: 4011,
} as const;

const callId = z.uuid();
const handle = z.string().regex(/^[a-z0-9_]{3,30}$/);
const sdp = z.string().min(1).max(MAX_SDP_CHARS);

const Candidate = z.strictObject({
  candidate: z.string().max(MAX_CANDIDATE_CHARS),
  sdpMid: z.string().max(32).nullable().optional(),
  sdpMLineIndex: z.number().int().min(0).max(64).nullable().optional(),
  usernameFragment: z.string().max(256).nullable().optional(),
}).nullable();

/** Standard base64 of at most `max` characters. */
const b64 = (max: number) =>
  z.string().max(max).regex(/^[A-Za-z0-9+/]*={0,2}$/);

/**
 * The caller's sealed identity (lib/crypto/sealed_box.ts, label
 * "reach-ring-v1"): only its shape and size are checked here; the server
 * cannot open it. PROTOCOL.md "Sealed sender".
 */
export const SealedBox = z.strictObject({
  v: z.literal(1),
  callId: z.string().max(64),
  handle: z.string().max(32),
  iv: b64(16),
  ct: b64(MAX_SEALED_CHARS),
  recipients: z.array(z.strictObject({
    keyId: z.uuid(),
    epk: b64(44),
    iv: b64(16),
    wrapped: b64(64),
  })).min(1).max(10),
});
export type SealedBox = z.infer<typeof SealedBox>;

export const HangupReason = z.enum([
  "normal",
  "failed",
  "timeout",
  "connection_lost",
]);
export type HangupReason = z.infer<typeof HangupReason>;

/** Messages a browser sends. */
export const ClientMessage = z.discriminatedUnion("type", [
  z.discriminatedUnion("role", [
    z.strictObject({
      type: z.literal("hello"),
      role: z.literal("device"),
      deviceId: z.uuid(),
      /** "busy": new rings get busy while this handle is in a call; "ring": ring anyway. */
      whenBusy: z.enum(["busy", "ring"]).default("busy"),
    }),
    z.strictObject({
      type: z.literal("hello"),
      role: z.literal("caller"),
      /** Random token the caller's browser keeps; identifies an anonymous caller (hashed). */
      callerToken: z.string().regex(/^[0-9a-f]{32,64}$/),
    }),
  ]),
  z.strictObject({
    type: z.literal("ring"),
    callId,
    to: handle,
    /** Who is calling, sealed to the handle's devices; relayed opaque. */
    sealed: SealedBox.optional(),
  }),
  z.strictObject({ type: z.literal("cancel"), callId }),
  z.strictObject({ type: z.literal("accept"), callId }),
  z.strictObject({ type: z.literal("decline"), callId }),
  z.strictObject({ type: z.literal("offer"), callId, sdp }),
  z.strictObject({ type: z.literal("answer"), callId, sdp }),
  z.strictObject({
    type: z.literal("candidate"),
    callId,
    candidate: Candidate,
  }),
  z.strictObject({ type: z.literal("ice-restart"), callId }),
  /** Identity proof for verified calls (lib/identity/device_cert.ts); relayed as is. */
  z.strictObject({
    type: z.literal("verify"),
    callId,
    cert: z.string().max(1024),
    certSig: z.string().max(128),
    statement: z.string().max(1024),
    sig: z.string().max(128),
  }),
  z.strictObject({ type: z.literal("hangup"), callId, reason: HangupReason }),
  z.strictObject({ type: z.literal("report"), callId, relayed: z.boolean() }),
  z.strictObject({
    type: z.literal("resume"),
    callId,
    token: z.string().regex(/^[0-9a-f]{64}$/),
  }),
  z.strictObject({ type: z.literal("heartbeat") }),
]);
export type ClientMessage = z.infer<typeof ClientMessage>;
export type ClientMessageOf<T extends ClientMessage["type"]> = Extract<
  ClientMessage,
  { type: T }
>;

export type CallEnd =
  | "declined"
  | "missed"
  | "cancelled"
  | "unavailable"
  | "busy";

/** Messages the server sends. */
export type ServerMessage =
  | {
    type: "welcome";
    role: "device" | "caller";
    handle?: string;
    heartbeatMs: number;
    ringMs: number;
  }
  /** To the caller: the ring reached `devices` devices. Keep resumeToken to resume after a drop. */
  | { type: "ringing"; callId: string; devices: number; resumeToken: string }
  /**
   * To the handle's devices: a call rings. `sealed`, when the caller sent
   * one, is relayed exactly as received (the server cannot read who is
   * calling). A replay to a device that joins while the call rings says
   * `replay: true` and has none (it was never stored).
   */
  | { type: "incoming"; callId: string; sealed?: SealedBox; replay?: true }
  /** To the caller when a device accepts: send the offer now. */
  | { type: "accepted"; callId: string }
  /** To the device that won the accept. */
  | { type: "connected-call"; callId: string; resumeToken: string }
  | { type: "answered-elsewhere"; callId: string }
  /** resumeToken: only to the caller when the call ended at ring time (it authenticates a voicemail upload). */
  | { type: "ended"; callId: string; reason: CallEnd; resumeToken?: string }
  | { type: "offer"; callId: string; sdp: string }
  | { type: "answer"; callId: string; sdp: string }
  | {
    type: "candidate";
    callId: string;
    candidate: z.infer<typeof Candidate>;
  }
  | { type: "ice-restart"; callId: string }
  | {
    type: "verify";
    callId: string;
    cert: string;
    certSig: string;
    statement: string;
    sig: string;
  }
  | { type: "hangup"; callId: string; reason: HangupReason }
  | {
    type: "resumed";
    callId: string;
    state: "ringing" | "answered" | "ended";
  }
  | { type: "heartbeat-ack" }
  | {
    type: "error";
    code:
      | "unknown_handle"
      | "not_ringing"
      | "not_answered"
      | "call_exists"
      | "rate_limited"
      | "bad_resume"
      | "bad_sealed";
    message: string;
    callId?: string;
  };

export type ParseResult =
  | { ok: true; msg: ClientMessage }
  | { ok: false; close: number; reason: string };

/**
 * Validates one text frame: size, JSON, schema. Never echoes the body.
 *
 * The size check counts no bytes when the length decides (UTF-8 is 1 to 3
 * bytes per UTF-16 unit). The hot relayed types (`candidate`, `offer`,
 * `answer`) go through {@link fastRelayed}, which accepts a subset of what
 * the zod schema accepts and returns exactly what zod would; anything it
 * does not accept is left to zod, which stays the contract
 * (tests/ws/relay_fast_path_test.ts checks the two agree on a fuzzed corpus).
 */
export function parseClientFrame(data: unknown): ParseResult {
  if (typeof data !== "string") {
    return {
      ok: false,
      close: CLOSE.badFrame,
      reason: "binary frames are not accepted",
    };
  }
  if (!utf8Fits(data, MAX_FRAME_BYTES)) {
    return {
      ok: false,
      close: CLOSE.tooLarge,
      reason: `frame larger than ${MAX_FRAME_BYTES} bytes`,
    };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch {
    return { ok: false, close: CLOSE.badFrame, reason: "frame is not JSON" };
  }
  const fast = fastRelayed(raw);
  if (fast) return { ok: true, msg: fast };
  const parsed = ClientMessage.safeParse(raw);
  if (!parsed.success) {
    const type = typeof (raw as { type?: unknown })?.type === "string"
      ? String((raw as { type: string }).type).slice(0, 24)
      : "?";
    return {
      ok: false,
      close: CLOSE.badFrame,
      reason: `invalid ${type} message`,
    };
  }
  return { ok: true, msg: parsed.data };
}

const UUID = z.regexes.uuid();

// ---- frames that can go as they came -----------------------------------------
// Printable ASCII but `"` and `\`: a JSON string's characters that
// JSON.stringify writes as they are (the fast path takes nothing else, so a
// frame's bytes are its characters).
const CH = String.raw`[ !#-\[\]-~]`;
/** The escapes JSON.stringify writes (`\u` ones are left to the slow path). */
const ESC = String.raw`\\["\\bfnrt]`;
const ID = UUID.source.replace(/^\^|\$$/g, "");
/** A JSON string's content of at most `max` characters (each escape is one). */
const upTo = (max: number) => `(?:${CH}|${ESC}){0,${max}}`;
// (One pattern each: on this machine a 3.6 KB SDP is checked in ~6 µs, as
// long as JSON.parse takes, but nothing is allocated.)
const CANONICAL_SDP = new RegExp(
  String.raw`^\{"type":"(?:offer|answer)","callId":"${ID}","sdp":"(?!")` +
    `${CH}*(?:${ESC}${CH}*)*"\\}$`,
);
const CANONICAL_CANDIDATE = new RegExp(
  String.raw`^\{"type":"candidate","callId":"${ID}","candidate":(?:null|` +
    String.raw`\{"candidate":"${upTo(MAX_CANDIDATE_CHARS)}"` +
    String.raw`(?:,"sdpMid":(?:null|"${upTo(32)}"))?` +
    String.raw`(?:,"sdpMLineIndex":(?:null|[0-9]|[1-5][0-9]|6[0-4]))?` +
    String.raw`(?:,"usernameFragment":(?:null|"${upTo(256)}"))?\})\}$`,
);
const SDP_AT = '{"type":"offer","callId":"'.length;
const CANDIDATE_AT = '{"type":"candidate","callId":"'.length;

/**
 * A `candidate`, `offer` or `answer` frame already written exactly as the
 * relay would re-assemble it from its validated fields (zod's fields in the
 * schema's order, as JSON.stringify writes them; ASCII): its type and call
 * id, read without parsing it, so the frame itself can be relayed. Null for
 * anything else, which parseClientFrame decides (zod, or its twin
 * `fastRelayed`). Never says yes to a frame parseClientFrame refuses or
 * would relay differently (tests/ws/relay_fast_path_test.ts).
 */
export function canonicalRelayed(
  data: string,
): { type: "candidate" | "offer" | "answer"; callId: string } | null {
  // `{"type":"c` / `{"type":"o` / `{"type":"a`: the 10th character decides.
  const t = data.charCodeAt(9);
  if (t === 99) {
    // Longer than any frame the pattern takes (at most about 2.8k).
    if (data.length > 4096 || !CANONICAL_CANDIDATE.test(data)) return null;
    return {
      type: "candidate",
      callId: data.slice(CANDIDATE_AT, CANDIDATE_AT + 36),
    };
  }
  if (t !== 111 && t !== 97) return null;
  // Frame length bounds the SDP's: a longer one is left to the slow path.
  if (data.length > MAX_SDP_CHARS || !CANONICAL_SDP.test(data)) return null;
  const offer = t === 111 ? 0 : 1;
  const at = SDP_AT + offer;
  return {
    type: offer ? "answer" : "offer",
    callId: data.slice(at, at + 36),
  };
}

type Relayed = ClientMessageOf<"candidate" | "offer" | "answer">;
type CandidateInit = Extract<Relayed, { type: "candidate" }>["candidate"];

/**
 * The hand-written twin of the zod schema for `candidate`, `offer` and
 * `answer`, for the relay's hot path: the same message zod would return
 * (fields in the schema's order, optional fields only when present; the
 * parsed object itself when its keys already are in that order), or null
 * when it is not one it vouches for, in which case zod decides. It never
 * accepts what zod refuses: every check below is one of the schema's
 * (string lengths in code points, as zod counts them), and anything unusual
 * (an unknown key, a wrong type) is left to zod.
 */
export function fastRelayed(raw: unknown): Relayed | null {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return null;
  }
  const o = raw as Record<string, unknown>;
  const type = o.type;
  if (type !== "candidate" && type !== "offer" && type !== "answer") {
    return null;
  }
  const body = type === "candidate" ? "candidate" : "sdp";
  // Keys in the schema's order (as clients send them) let the parsed object
  // itself be the result: it holds exactly what zod's would, in its order.
  let keys = 0, inOrder = true;
  for (const k in o) {
    if (k === "type") inOrder &&= keys === 0;
    else if (k === "callId") inOrder &&= keys === 1;
    else if (k === body) inOrder &&= keys === 2;
    else return null;
    keys++;
  }
  const callId = o.callId;
  if (typeof callId !== "string" || !UUID.test(callId)) return null;
  if (type !== "candidate") {
    const sdp = o.sdp;
    if (
      typeof sdp !== "string" || sdp.length < 1 || !within(sdp, MAX_SDP_CHARS)
    ) return null;
    return inOrder ? o as Relayed : { type, callId, sdp };
  }
  const c = o.candidate;
  if (c === null) {
    return inOrder ? o as Relayed : { type, callId, candidate: null };
  }
  if (typeof c !== "object" || Array.isArray(c)) return null;
  const ci = c as Record<string, unknown>;
  let has = 0;
  for (const k in ci) {
    const bit = k === "candidate"
      ? 1
      : k === "sdpMid"
      ? 2
      : k === "sdpMLineIndex"
      ? 4
      : k === "usernameFragment"
      ? 8
      : 0;
    if (bit === 0) return null;
    // Each later key of the schema after the earlier ones.
    if (has >= bit) inOrder = false;
    has |= bit;
  }
  const text = ci.candidate;
  if (typeof text !== "string" || !within(text, MAX_CANDIDATE_CHARS)) {
    return null;
  }
  const mid = ci.sdpMid, line = ci.sdpMLineIndex, ufrag = ci.usernameFragment;
  if (
    (has & 2 && mid !== null &&
      (typeof mid !== "string" || !within(mid, 32))) ||
    (has & 4 && line !== null &&
      (typeof line !== "number" || !Number.isInteger(line) || line < 0 ||
        line > 64)) ||
    (has & 8 && ufrag !== null &&
      (typeof ufrag !== "string" || !within(ufrag, 256)))
  ) return null;
  if (inOrder) return o as Relayed;
  const out: NonNullable<CandidateInit> = { candidate: text };
  if (has & 2) out.sdpMid = mid as string | null;
  if (has & 4) out.sdpMLineIndex = line as number | null;
  if (has & 8) out.usernameFragment = ufrag as string | null;
  return { type, callId, candidate: out };
}

/**
 * zod's `.max()` for strings: at most `max` code points (a surrogate pair
 * counts once), counted only when the UTF-16 length cannot decide.
 */
function within(s: string, max: number): boolean {
  const units = s.length;
  if (units <= max) return true;
  if (units > max * 2) return false;
  let n = units;
  for (let i = 0; i < units - 1; i++) {
    if (
      (s.charCodeAt(i) & 0xfc00) === 0xd800 &&
      (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00
    ) {
      n--;
      i++;
    }
  }
  return n <= max;
}

/**
 * Why a ring's sealed identity is refused, or null when it may be relayed:
 * it must name the ring's own call and handle (a block lifted from another
 * call is refused here already; the callee's device checks it again inside
 * the seal) and fit MAX_SEALED_CHARS as JSON.
 */
export function sealedProblem(m: ClientMessageOf<"ring">): string | null {
  if (!m.sealed) return null;
  if (m.sealed.callId !== m.callId || m.sealed.handle !== m.to) {
    return "The sealed identity names another call or handle.";
  }
  if (JSON.stringify(m.sealed).length > MAX_SEALED_CHARS) {
    return `The sealed identity is longer than ${MAX_SEALED_CHARS} characters.`;
  }
  return null;
}
