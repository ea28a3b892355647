/**
 * A compromised signaling server, for tests only: a proxy that is the origin
 * both browsers use (Reach runs behind it with `REACH_ORIGIN` set to the
 * proxy's origin). HTTP is forwarded unchanged; WebSocket frames on
 * `/api/signal` are relayed both ways, except that a caller's call is
 * attacked when an attacker ("Mallory") is set:
 *
 *   caller ──leg A── Mallory ──leg B── callee
 *
 * - the caller's `offer` goes to Mallory, whose answer (with Mallory's own
 *   DTLS certificate) goes back to the caller as if from the callee;
 * - Mallory's own offer goes upstream as the caller's `offer`; the callee's
 *   `answer` comes back to Mallory, not to the caller;
 * - `candidate`s go to the right leg;
 * - everything else (`verify`, `hangup`, ...) passes unchanged: the attacker
 *   cannot forge the callee's signature, so it forwards the real one.
 *
 * Apart from that attack, `rewriteRing` lets a test change the caller's
 * sealed identity (`ring.sealed`) on its way to Reach: swap in another
 * call's, one sealed by someone else, or a damaged one. Every ring's sealed
 * identity as the caller sent it is kept in `rings`.
 *
 * Mallory itself is a third Chromium process (`launchMallory`) with two peer
 * connections that bridge the audio of one leg onto the other.
 */
import type { Page } from "puppeteer-core";
import { launchBrowser, type TestBrowser } from "./browser.ts";

const SUBPROTOCOL = "reach-signal.v1";
const PLAIN_CALLER = new URL("./plain_caller.html", import.meta.url);
/** A test page: anything may run in it. */
const TEST_PAGE_CSP =
  "default-src * 'unsafe-inline' 'unsafe-eval' data: blob:; connect-src *";

type Json = Record<string, unknown> & { type: string };
export type Candidate = RTCIceCandidateInit | null;

/** What the proxy asks of the attacker, one call at a time. */
export interface Attacker {
  /** Leg A: the caller's offer in; an answer with the attacker's certificate out. */
  answerCaller(callId: string, sdp: string): Promise<string>;
  /** Leg B: the attacker's offer to the callee. */
  offerCallee(callId: string): Promise<string>;
  /** Leg B: the callee's answer. */
  calleeAnswered(callId: string, sdp: string): Promise<void>;
  callerCandidate(callId: string, candidate: Candidate): Promise<void>;
  calleeCandidate(callId: string, candidate: Candidate): Promise<void>;
}

/** One relayed or intercepted signaling message, envelope only. */
export interface Seen {
  /** "up": browser → Reach; "down": Reach → browser. */
  dir: "up" | "down";
  role: "caller" | "device" | "?";
  type: string;
  callId?: string;
  /** Whether the attack took it (it did not reach its addressee). */
  intercepted: boolean;
}

interface AttackedCall {
  conn: Conn;
  /** The caller has Mallory's answer: leg A candidates may go to it. */
  legA: boolean;
  /** The callee has Mallory's offer: leg B candidates may go upstream. */
  legB: boolean;
  heldA: Candidate[];
  heldB: Candidate[];
}

interface Conn {
  role: "caller" | "device" | "?";
  browser: WebSocket;
  upstream: WebSocket;
  toBrowser(m: Json): void;
  toUpstream(m: Json): void;
}

export interface MitmProxy extends AsyncDisposable {
  port: number;
  /** The origin both browsers use (`http://localhost:<port>`). */
  origin: string;
  /** Where Reach runs (set before the first request). */
  upstream: string;
  /** null: a faithful relay. */
  attacker: Attacker | null;
  /**
   * Drop hang-ups on attacked calls both ways (the caller's going up, the
   * callee's coming down to the caller), as an attacker who wants both legs
   * to stay up would: then each side can only be saved by its own check,
   * whichever side notices first.
   */
  dropHangups: boolean;
  /** Calls whose offer the attacker took. */
  attacked: Set<string>;
  /**
   * Rewrites a caller's `ring.sealed` before Reach sees it (undefined
   * drops it); null: rings pass unchanged.
   */
  rewriteRing:
    | ((callId: string, sealed: unknown) => unknown | Promise<unknown>)
    | null;
  /** Each ring's `sealed` as the caller sent it, by call id. */
  rings: Map<string, unknown>;
  /** Every signaling message that went through, in order (envelopes). */
  seen: Seen[];
  /** Mallory's leg A candidates, to the caller as if from the callee. */
  sendToCaller(callId: string, candidate: Candidate): void;
  /** Mallory's leg B candidates, to the callee as if from the caller. */
  sendToCallee(callId: string, candidate: Candidate): void;
  close(): Promise<void>;
}

export function startMitmProxy(
  opts: { upstream?: string; attacker?: Attacker | null } = {},
): MitmProxy {
  const calls = new Map<string, AttackedCall>();
  const sockets = new Set<WebSocket>();
  const ac = new AbortController();
  const proxy = {} as MitmProxy;

  const callOf = (callId: string, conn: Conn): AttackedCall => {
    let c = calls.get(callId);
    if (!c) {
      c = { conn, legA: false, legB: false, heldA: [], heldB: [] };
      calls.set(callId, c);
    }
    return c;
  };

  const fromBrowser = async (conn: Conn, m: Json) => {
    const callId = typeof m.callId === "string" ? m.callId : undefined;
    if (m.type === "ring" && conn.role === "caller" && callId) {
      proxy.rings.set(callId, m.sealed);
      if (proxy.rewriteRing) {
        const { sealed: _, ...rest } = m;
        const sealed = await proxy.rewriteRing(callId, m.sealed);
        m = sealed === undefined ? rest as Json : { ...rest, sealed };
      }
    }
    const attacker = proxy.attacker;
    const attack = conn.role === "caller" && !!callId && !!attacker &&
      (m.type === "offer" || m.type === "candidate");
    proxy.seen.push({
      dir: "up",
      role: conn.role,
      type: m.type,
      callId,
      intercepted: attack,
    });
    if (
      proxy.dropHangups && m.type === "hangup" &&
      conn.role === "caller" && callId && proxy.attacked.has(callId)
    ) return;
    if (!attack) return conn.toUpstream(m);
    const call = callOf(callId!, conn);
    if (m.type === "candidate") {
      return await attacker!.callerCandidate(
        callId!,
        m.candidate as Candidate,
      );
    }
    // The caller's offer (again on an ICE restart): Mallory answers it.
    proxy.attacked.add(callId!);
    const answer = await attacker!.answerCaller(callId!, String(m.sdp));
    conn.toBrowser({ type: "answer", callId: callId!, sdp: answer });
    call.legA = true;
    for (const c of call.heldA.splice(0)) {
      conn.toBrowser({ type: "candidate", callId: callId!, candidate: c });
    }
    if (!call.legB) {
      const offer = await attacker!.offerCallee(callId!);
      conn.toUpstream({ type: "offer", callId: callId!, sdp: offer });
      call.legB = true;
      for (const c of call.heldB.splice(0)) {
        conn.toUpstream({ type: "candidate", callId: callId!, candidate: c });
      }
    }
  };

  const fromReach = async (conn: Conn, m: Json) => {
    const callId = typeof m.callId === "string" ? m.callId : undefined;
    const attacker = proxy.attacker;
    const attack = conn.role === "caller" && !!callId && !!attacker &&
      calls.has(callId) && (m.type === "answer" || m.type === "candidate");
    const dropped = proxy.dropHangups && m.type === "hangup" &&
      conn.role === "caller" && !!callId && proxy.attacked.has(callId);
    proxy.seen.push({
      dir: "down",
      role: conn.role,
      type: m.type,
      callId,
      intercepted: attack || dropped,
    });
    if (dropped) return;
    if (!attack) return conn.toBrowser(m);
    if (m.type === "answer") {
      await attacker!.calleeAnswered(callId!, String(m.sdp));
    } else {
      await attacker!.calleeCandidate(callId!, m.candidate as Candidate);
    }
  };

  const signal = async (req: Request): Promise<Response> => {
    const wanted = (req.headers.get("sec-websocket-protocol") ?? "")
      .split(",").map((p) => p.trim()).filter(Boolean);
    const headers: Record<string, string> = {};
    for (const h of ["origin", "cookie", "user-agent"]) {
      const v = req.headers.get(h);
      if (v) headers[h] = v;
    }
    const url = new URL("/api/signal", proxy.upstream);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const upstream = new WebSocket(url, {
      protocols: wanted,
      headers,
    } as unknown as string[]);
    const opened = await new Promise<boolean>((resolve) => {
      upstream.addEventListener("open", () => resolve(true), { once: true });
      upstream.addEventListener("error", () => resolve(false), { once: true });
    });
    if (!opened) {
      // Reach refused the handshake: let the browser see a refusal too.
      return new Response("upstream refused", { status: 502 });
    }
    const { socket, response } = Deno.upgradeWebSocket(
      req,
      wanted.includes(SUBPROTOCOL) ? { protocol: SUBPROTOCOL } : {},
    );
    sockets.add(socket);
    sockets.add(upstream);
    const conn: Conn = {
      role: "?",
      browser: socket,
      upstream,
      toBrowser: (m) => {
        if (socket.readyState === WebSocket.OPEN) {
          socket.send(JSON.stringify(m));
        }
      },
      toUpstream: (m) => {
        if (upstream.readyState === WebSocket.OPEN) {
          upstream.send(JSON.stringify(m));
        }
      },
    };
    // One message at a time per direction, in the order they came.
    let upChain = Promise.resolve();
    let downChain = Promise.resolve();
    const fail = (e: unknown) => console.error("mitm:", e);
    socket.onmessage = (e) => {
      let m: Json;
      try {
        m = JSON.parse(e.data);
        if (typeof m?.type !== "string") throw new Error("no type");
      } catch {
        // Not ours to judge: Reach answers a bad frame.
        if (upstream.readyState === WebSocket.OPEN) upstream.send(e.data);
        return;
      }
      if (m.type === "hello" && (m.role === "caller" || m.role === "device")) {
        conn.role = m.role;
      }
      upChain = upChain.then(() => fromBrowser(conn, m)).catch(fail);
    };
    upstream.onmessage = (e) => {
      let m: Json;
      try {
        m = JSON.parse(e.data);
      } catch {
        socket.send(e.data);
        return;
      }
      downChain = downChain.then(() => fromReach(conn, m)).catch(fail);
    };
    const closeOther = (other: WebSocket, code: number, reason: string) => {
      if (other.readyState >= WebSocket.CLOSING) return;
      try {
        other.close(code, reason);
      } catch {
        other.close();
      }
    };
    socket.onclose = (e) => {
      sockets.delete(socket);
      closeOther(upstream, e.code === 1005 ? 1000 : e.code, e.reason);
    };
    upstream.onclose = (e) => {
      sockets.delete(upstream);
      closeOther(socket, e.code === 1006 ? 1011 : e.code, e.reason);
    };
    return response;
  };

  const forward = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const target = new URL(url.pathname + url.search, proxy.upstream);
    const headers = new Headers(req.headers);
    headers.set("accept-encoding", "identity");
    const res = await fetch(target, {
      method: req.method,
      headers,
      body: req.body,
      redirect: "manual",
      signal: ac.signal,
    });
    const out = new Headers(res.headers);
    out.delete("content-encoding");
    out.delete("content-length");
    return new Response(res.body, {
      status: res.status,
      statusText: res.statusText,
      headers: out,
    });
  };

  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: ac.signal,
    onListen: () => {},
  }, async (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/__test/plain-caller") {
      return new Response(await Deno.readTextFile(PLAIN_CALLER), {
        headers: {
          "content-type": "text/html; charset=utf-8",
          "content-security-policy": TEST_PAGE_CSP,
        },
      });
    }
    if (url.pathname === "/__test/blank") {
      return new Response("<!doctype html><title>Mallory</title>", {
        headers: {
          "content-type": "text/html; charset=utf-8",
          "content-security-policy": TEST_PAGE_CSP,
        },
      });
    }
    if (
      url.pathname === "/api/signal" &&
      req.headers.get("upgrade")?.toLowerCase() === "websocket"
    ) {
      return await signal(req);
    }
    return await forward(req);
  });
  const port = server.addr.port;

  const close = async () => {
    for (const s of sockets) {
      try {
        s.close();
      } catch {
        // already closing
      }
    }
    ac.abort();
    await server.finished;
  };
  const leg = (
    which: "A" | "B",
    callId: string,
    candidate: Candidate,
  ) => {
    const call = calls.get(callId);
    if (!call) throw new Error(`mitm: no attacked call ${callId}`);
    const msg = { type: "candidate", callId, candidate };
    if (which === "A") {
      if (call.legA) call.conn.toBrowser(msg);
      else call.heldA.push(candidate);
    } else {
      if (call.legB) call.conn.toUpstream(msg);
      else call.heldB.push(candidate);
    }
  };
  return Object.assign(proxy, {
    port,
    origin: `http://localhost:${port}`,
    upstream: opts.upstream ?? "",
    attacker: opts.attacker ?? null,
    dropHangups: false,
    attacked: new Set<string>(),
    rewriteRing: null,
    rings: new Map<string, unknown>(),
    seen: [] as Seen[],
    sendToCaller: (callId: string, c: Candidate) => leg("A", callId, c),
    sendToCallee: (callId: string, c: Candidate) => leg("B", callId, c),
    close,
    [Symbol.asyncDispose]: close,
  });
}

/** What Mallory's page reports about one leg. */
export interface LegFigures {
  connectionState: string;
  dtlsState: string;
  localFingerprint: string;
  remoteFingerprint: string;
  packetsSent: number;
  packetsReceived: number;
}

export interface Mallory extends AsyncDisposable {
  attacker: Attacker;
  page: Page;
  legs(callId: string): Promise<{ a: LegFigures; b: LegFigures }>;
}

/**
 * Mallory: a third Chromium (its own process, fake media) with two peer
 * connections per call, leg A answering the caller and leg B offering to the
 * callee, each sending on what it receives from the other.
 */
export async function launchMallory(proxy: MitmProxy): Promise<Mallory> {
  const browser: TestBrowser = await launchBrowser();
  try {
    const page = await browser.browser.newPage();
    await page.goto(proxy.origin + "/__test/blank", { waitUntil: "load" });
    await page.exposeFunction(
      "__malloryCandidate",
      (leg: "A" | "B", callId: string, c: Candidate) =>
        leg === "A"
          ? proxy.sendToCaller(callId, c)
          : proxy.sendToCallee(callId, c),
    );
    await page.evaluate(installMallory);
    const attacker: Attacker = {
      answerCaller: (callId, sdp) =>
        page.evaluate(
          (id, s) =>
            (globalThis as unknown as MalloryWindow).mallory.answerA(id, s),
          callId,
          sdp,
        ),
      offerCallee: (callId) =>
        page.evaluate(
          (id) => (globalThis as unknown as MalloryWindow).mallory.offerB(id),
          callId,
        ),
      calleeAnswered: (callId, sdp) =>
        page.evaluate(
          (id, s) =>
            (globalThis as unknown as MalloryWindow).mallory.answerB(id, s),
          callId,
          sdp,
        ),
      callerCandidate: (callId, c) =>
        page.evaluate(
          (id, x) =>
            (globalThis as unknown as MalloryWindow).mallory.candidate(
              "A",
              id,
              x,
            ),
          callId,
          c,
        ),
      calleeCandidate: (callId, c) =>
        page.evaluate(
          (id, x) =>
            (globalThis as unknown as MalloryWindow).mallory.candidate(
              "B",
              id,
              x,
            ),
          callId,
          c,
        ),
    };
    return {
      attacker,
      page,
      legs: (callId) =>
        page.evaluate(
          (id) => (globalThis as unknown as MalloryWindow).mallory.legs(id),
          callId,
        ),
      [Symbol.asyncDispose]: () => browser[Symbol.asyncDispose](),
    };
  } catch (e) {
    await browser[Symbol.asyncDispose]();
    throw e;
  }
}

interface MalloryWindow {
  mallory: {
    answerA(callId: string, sdp: string): Promise<string>;
    offerB(callId: string): Promise<string>;
    answerB(callId: string, sdp: string): Promise<void>;
    candidate(leg: "A" | "B", callId: string, c: Candidate): Promise<void>;
    legs(callId: string): Promise<{ a: LegFigures; b: LegFigures }>;
  };
  __malloryCandidate(leg: "A" | "B", callId: string, c: Candidate): void;
}

/** Runs in Mallory's page (serialised by puppeteer): self-contained. */
async function installMallory(): Promise<void> {
  const w = globalThis as unknown as MalloryWindow;
  // A microphone grant lets Chromium show real host candidates (not mDNS).
  const mic = await navigator.mediaDevices.getUserMedia({ audio: true });
  mic.getTracks().forEach((t) => t.stop());

  interface Leg {
    pc: RTCPeerConnection;
    pending: RTCIceCandidateInit[];
  }
  interface Call {
    a: Leg;
    b: Leg;
  }
  const calls = new Map<string, Call>();
  const newLeg = (name: "A" | "B", callId: string): Leg => {
    const pc = new RTCPeerConnection({ iceServers: [] });
    pc.onicecandidate = (e) =>
      w.__malloryCandidate(name, callId, e.candidate?.toJSON() ?? null);
    // Keep each received track consumed, so its audio is decoded and flows.
    pc.ontrack = (e) => {
      const el = new Audio();
      el.muted = true;
      el.srcObject = new MediaStream([e.track]);
      el.play().catch(() => {});
    };
    return { pc, pending: [] };
  };
  const callOf = (callId: string): Call => {
    let c = calls.get(callId);
    if (!c) {
      c = { a: newLeg("A", callId), b: newLeg("B", callId) };
      // Leg B sends to the callee whatever leg A receives from the caller.
      const tb = c.b.pc.addTransceiver("audio", { direction: "sendrecv" });
      c.a.pc.ontrack = ((orig) => (e: RTCTrackEvent) => {
        orig?.call(c!.a.pc, e);
        tb.sender.replaceTrack(e.track);
      })(c.a.pc.ontrack);
      calls.set(callId, c);
    }
    return c;
  };
  const flush = async (leg: Leg) => {
    for (const x of leg.pending.splice(0)) {
      await leg.pc.addIceCandidate(x).catch(() => {});
    }
  };
  const figures = async (pc: RTCPeerConnection): Promise<LegFigures> => {
    const stats = await pc.getStats();
    const byId = new Map<string, Record<string, unknown>>();
    stats.forEach((s) => byId.set(s.id, s as Record<string, unknown>));
    const f: LegFigures = {
      connectionState: pc.connectionState,
      dtlsState: "",
      localFingerprint: "",
      remoteFingerprint: "",
      packetsSent: 0,
      packetsReceived: 0,
    };
    for (const s of byId.values()) {
      if (s.type === "transport") {
        f.dtlsState = String(s.dtlsState ?? "");
        f.localFingerprint = String(
          byId.get(String(s.localCertificateId))?.fingerprint ?? "",
        );
        f.remoteFingerprint = String(
          byId.get(String(s.remoteCertificateId))?.fingerprint ?? "",
        );
      } else if (s.type === "outbound-rtp" && s.kind === "audio") {
        f.packetsSent += Number(s.packetsSent ?? 0);
      } else if (s.type === "inbound-rtp" && s.kind === "audio") {
        f.packetsReceived += Number(s.packetsReceived ?? 0);
      }
    }
    return f;
  };

  w.mallory = {
    async answerA(callId, sdp) {
      const c = callOf(callId);
      await c.a.pc.setRemoteDescription({ type: "offer", sdp });
      // Leg A sends to the caller whatever leg B receives from the callee.
      const ta = c.a.pc.getTransceivers().find((t) =>
        t.receiver.track.kind === "audio"
      )!;
      ta.direction = "sendrecv";
      const tb = c.b.pc.getTransceivers()[0];
      await ta.sender.replaceTrack(tb.receiver.track);
      await flush(c.a);
      const answer = await c.a.pc.createAnswer();
      await c.a.pc.setLocalDescription(answer);
      return answer.sdp!;
    },
    async offerB(callId) {
      const c = callOf(callId);
      const offer = await c.b.pc.createOffer();
      await c.b.pc.setLocalDescription(offer);
      return offer.sdp!;
    },
    async answerB(callId, sdp) {
      const c = callOf(callId);
      if (c.b.pc.signalingState !== "have-local-offer") return;
      await c.b.pc.setRemoteDescription({ type: "answer", sdp });
      await flush(c.b);
    },
    async candidate(name, callId, x) {
      if (!x) return;
      const leg = name === "A" ? callOf(callId).a : callOf(callId).b;
      if (leg.pc.remoteDescription) {
        await leg.pc.addIceCandidate(x).catch(() => {});
      } else leg.pending.push(x);
    },
    async legs(callId) {
      const c = callOf(callId);
      return { a: await figures(c.a.pc), b: await figures(c.b.pc) };
    },
  };
}
