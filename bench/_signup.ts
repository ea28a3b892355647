/**
 * Signs a new wallet in and claims `handle` over HTTP, as a person would,
 * against a server whose origin is `origin`; returns the session cookie.
 */
import { newWallet, signOffer } from "../tests/_helpers/wallet.ts";

export async function signUp(
  base: string,
  origin: string,
  handle: string,
): Promise<string> {
  const headers = { origin };
  const offer = await (await fetch(`${base}/api/auth/nonce`, {
    method: "POST",
    headers,
  })).json();
  const verify = await fetch(`${base}/api/auth/verify`, {
    method: "POST",
    headers: { ...headers, "content-type": "application/json" },
    body: JSON.stringify(signOffer(newWallet(), offer)),
  });
  const cookie = verify.headers.get("set-cookie")!.split(";")[0];
  await verify.body?.cancel();
  const claim = await fetch(`${base}/api/handles`, {
    method: "POST",
    headers: { ...headers, cookie, "content-type": "application/json" },
    body: JSON.stringify({ handle }),
  });
  if (claim.status !== 201) throw new Error(`claim ${claim.status}`);
  await claim.body?.cancel();
  return cookie;
}
