/**
 * Seal and open time of a sealed caller identity (lib/identity/sealed_ring.ts)
 * for a ring to a handle with 1 and with 10 devices, and its size as JSON.
 * Sealing signs the ring statement (Ed25519) and wraps the content key per
 * device (X25519 + HKDF + AES-GCM); opening unwraps once and checks three
 * Ed25519 signatures (certificate, attestation, ring). The baseline in the
 * same run is a bare single-recipient AES-256-GCM encrypt (and decrypt) of
 * the same plaintext, key import included; the ratios are against it.
 * Median and p95 of 200 runs after 20 warm-up runs, in ms.
 *
 *   deno run -A bench/sealed_ring.ts
 */
import { openBox, type SealedBox } from "../lib/crypto/sealed_box.ts";
import {
  attestationPublicKey,
  attestationSeed,
} from "../lib/identity/handle_attestation.ts";
import {
  MAX_SEALED_CHARS,
  openRing,
  RING_LABEL,
  sealRing,
} from "../lib/identity/sealed_ring.ts";
import {
  inboxKeyPairs,
  pub,
  ringCaller,
} from "../tests/_helpers/ring_identity.ts";
import { stats, time } from "./_timing.ts";

const RUNS = 200;
const WARMUP = 20;
const timed = (f: () => Promise<unknown>) => time(f, RUNS, WARMUP);

// The caller: a wallet-signed device certificate and the server's attestation.
const now = new Date();
const seed = await attestationSeed(crypto.getRandomValues(new Uint8Array(32)));
const attestationKey = await attestationPublicKey(seed);
const { identity, attestation } = await ringCaller("alice", seed, {
  attIssued: now,
  cert: {
    issued: now.toISOString(),
    expires: new Date(now.getTime() + 90 * 86_400_000).toISOString(),
  },
});
const fingerprint = "sha-256 " +
  Array.from(
    crypto.getRandomValues(new Uint8Array(32)),
    (b) => b.toString(16).padStart(2, "0").toUpperCase(),
  ).join(":");

const fmt = (x: number) => x.toFixed(3).padStart(7);
const ratio = (x: number, base: number) => `${(x / base).toFixed(1)}x`;

console.log(
  `sealed ring: median / p95 of ${RUNS} runs (ms), ` +
    `Deno ${Deno.version.deno}, V8 ${Deno.version.v8}`,
);
console.log(`MAX_SEALED_CHARS (server limit): ${MAX_SEALED_CHARS}`);
console.log(
  "devices  seal_med  seal_p95  open_med  open_p95  base_enc  base_dec" +
    "  seal/enc  open/dec  plaintext_B  sealed_chars",
);
for (const n of [1, 10]) {
  const devices = await inboxKeyPairs(n);
  const keys = devices.map(pub);
  const callId = crypto.randomUUID();
  const input = {
    callId,
    to: "bob",
    fingerprint,
    identity,
    attestation,
  };
  let box: SealedBox | undefined;
  const seal = await timed(async () => {
    box = await sealRing(input, keys);
  });
  const sealed = box!;
  // The last device's entry: the worst case for finding it.
  const last = devices[n - 1];
  const expect = { callId, handle: "bob", ringMs: 60_000, attestationKey };
  const open = await timed(async () => {
    const v = await openRing(sealed, last, expect);
    if (!v.ok) throw new Error(`bad round trip: ${v.reason}`);
  });

  // Baseline: the same plaintext, one AES-256-GCM key, no wrapping or
  // signatures.
  const pt = await openBox(RING_LABEL, sealed, last, { callId, handle: "bob" });
  const raw = crypto.getRandomValues(new Uint8Array(32));
  const aes = (usage: KeyUsage) =>
    crypto.subtle.importKey("raw", raw, "AES-GCM", false, [usage]);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv },
    await aes("encrypt"),
    pt as BufferSource,
  );
  const baseEnc = await timed(async () =>
    crypto.subtle.encrypt(
      { name: "AES-GCM", iv: crypto.getRandomValues(new Uint8Array(12)) },
      await aes("encrypt"),
      pt as BufferSource,
    )
  );
  const baseDec = await timed(async () =>
    crypto.subtle.decrypt({ name: "AES-GCM", iv }, await aes("decrypt"), ct)
  );

  const s = stats(seal), o = stats(open);
  const be = stats(baseEnc), bd = stats(baseDec);
  const chars = JSON.stringify(sealed).length;
  if (chars > MAX_SEALED_CHARS) throw new Error("over MAX_SEALED_CHARS");
  console.log(
    `${String(n).padStart(7)}  ${fmt(s.median)}   ${fmt(s.p95)}   ${
      fmt(o.median)
    }   ${fmt(o.p95)}   ${fmt(be.median)}   ${fmt(bd.median)}   ${
      ratio(s.median, be.median).padStart(7)
    }   ${ratio(o.median, bd.median).padStart(7)}   ${
      String(pt.length).padStart(10)
    }   ${String(chars).padStart(11)}`,
  );
}
