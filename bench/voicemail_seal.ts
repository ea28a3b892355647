/**
 * Seal and open time of a voicemail envelope: a 60 s recording at 32 kbit/s
 * Opus (240,000 random bytes) sealed to 1, 3 and 10 inbox keys, and opened
 * by one of them. Median of 20 runs after 3 warm-up runs, in ms.
 *
 *   deno run -A bench/voicemail_seal.ts
 */
import {
  type Envelope,
  generateInboxKeyPair,
  openVoicemail,
  sealVoicemail,
} from "../lib/voicemail/envelope.ts";
import { time } from "./_timing.ts";

const RUNS = 20;
const WARMUP = 3;
const timed = (f: () => Promise<unknown>) => time(f, RUNS, WARMUP);
const AUDIO_BYTES = (60 * 32_000) / 8; // 240,000

const audio = new Uint8Array(AUDIO_BYTES);
for (let i = 0; i < audio.length; i += 65536) {
  crypto.getRandomValues(audio.subarray(i, i + 65536));
}
const input = {
  callId: crypto.randomUUID(),
  handle: "alice",
  audio,
  mime: "audio/webm;codecs=opus",
  durationMs: 60_000,
  name: "Bench Caller",
};
const expected = { callId: input.callId, handle: input.handle };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

console.log(
  `voicemail envelope: ${AUDIO_BYTES} B audio, median of ${RUNS} (ms), ` +
    `Deno ${Deno.version.deno}, V8 ${Deno.version.v8}`,
);
console.log("keys  seal_ms  open_ms  envelope_json_bytes");
for (const n of [1, 3, 10]) {
  const devices = await Promise.all(
    Array.from({ length: n }, () => generateInboxKeyPair()),
  );
  const keys = devices.map(({ keyId, publicKey }) => ({ keyId, publicKey }));
  let env: Envelope | undefined;
  const seal = await timed(async () => {
    env = await sealVoicemail(input, keys);
  });
  const sealed = env!;
  // The last device's entry: the worst case for finding it.
  const last = devices[n - 1];
  const open = await timed(async () => {
    const vm = await openVoicemail(sealed, last, expected);
    if (vm.audio.length !== AUDIO_BYTES) throw new Error("bad round trip");
  });
  console.log(
    `${String(n).padStart(4)}  ${median(seal).toFixed(2).padStart(7)}  ${
      median(open).toFixed(2).padStart(7)
    }  ${JSON.stringify(sealed).length}`,
  );
}
