/**
 * Sign-In With Solana, server side: issue a nonce whose every field the
 * server chooses from its own configured origin, then verify the signed
 * message, consume the nonce atomically and open a session.
 *
 * Sessions created are limited per client address (signInsPerAddress); only
 * a sign-in that would otherwise succeed (a good signature on a live nonce)
 * is counted, so failed attempts spend nothing.
 */
import type { Config } from "../config.ts";
import { atMost, spend } from "../limit_check.ts";
import { consumeNonce, newNonce, storeNonce } from "../store/nonces.ts";
import { createSession, type Session } from "../store/sessions.ts";
import { handleOfWallet } from "../store/profiles.ts";
import { verifySiws } from "./siws.ts";

export const SIWS_STATEMENT =
  "Sign in to Reach to claim and manage your @handle.";

type AuthConfig = Pick<
  Config,
  "domain" | "origin" | "siwsChainId" | "nonceTtlMs" | "sessionTtlMs"
>;

type SignInConfig = AuthConfig & Pick<Config, "limits">;

export interface NonceOffer {
  domain: string;
  uri: string;
  version: "1";
  chainId: string;
  nonce: string;
  issuedAt: string;
  expirationTime: string;
  statement: string;
}

export async function issueNonce(
  kv: Deno.Kv,
  config: AuthConfig,
  now = new Date(),
): Promise<NonceOffer> {
  const nonce = newNonce();
  await storeNonce(kv, nonce, config.nonceTtlMs, now.getTime());
  return {
    domain: config.domain,
    uri: config.origin,
    version: "1",
    chainId: config.siwsChainId,
    nonce,
    issuedAt: now.toISOString(),
    expirationTime: new Date(now.getTime() + config.nonceTtlMs).toISOString(),
    statement: SIWS_STATEMENT,
  };
}

export type SignInResult =
  | {
    ok: true;
    publicKey: string;
    handle: string | null;
    sessionId: string;
    session: Session;
  }
  | { ok: false; code: string; message: string; retryAfterMs?: number };

/**
 * Verifies a signed sign-in message and opens a session. `client.address` is
 * the requester's `addressSubject` (lib/client_address.ts): the sessions it
 * opens are counted against signInsPerAddress.
 */
export async function signIn(
  kv: Deno.Kv,
  config: SignInConfig,
  input: { message: string; signature: string; publicKey: string },
  client: { address: string },
  now = new Date(),
): Promise<SignInResult> {
  const verified = verifySiws(input, {
    domain: config.domain,
    uri: config.origin,
    chainId: config.siwsChainId,
    now,
  });
  if (!verified.ok) {
    return { ok: false, code: verified.code, message: verified.message };
  }
  if (!await consumeNonce(kv, verified.fields.nonce, now.getTime())) {
    return {
      ok: false,
      code: "unknown_nonce",
      message:
        "This sign-in request has expired or was already used. Please sign in again.",
    };
  }
  // The nonce is spent either way: a refused client signs a fresh one later.
  const allowed = await spend(kv, config.limits, [
    { limit: "signInsPerAddress", subject: client.address },
  ], { now: now.getTime() });
  if (!allowed.ok) {
    return {
      ok: false,
      code: "rate_limited",
      message: `Too many sign-ins from your network (${
        atMost(config.limits, allowed.limit)
      }).`,
      retryAfterMs: allowed.retryAfterMs,
    };
  }
  const { id, session } = await createSession(
    kv,
    verified.publicKey,
    config.sessionTtlMs,
    now.getTime(),
  );
  return {
    ok: true,
    publicKey: verified.publicKey,
    handle: await handleOfWallet(kv, verified.publicKey),
    sessionId: id,
    session,
  };
}
