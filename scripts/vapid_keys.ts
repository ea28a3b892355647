/**
 * `deno task vapid-keys`: prints a fresh VAPID key pair for Web Push, as the
 * two environment variables Reach reads. Set both (and, if you like,
 * REACH_VAPID_SUBJECT) in production. Keep the pair: browsers subscribe with
 * the public key, and a new pair means every browser must subscribe again.
 */
import { generateVapidKeys } from "../lib/push/vapid.ts";

const { publicKey, privateKey } = generateVapidKeys();
console.log(`REACH_VAPID_PUBLIC_KEY=${publicKey}`);
console.log(`REACH_VAPID_PRIVATE_KEY=${privateKey}`);
