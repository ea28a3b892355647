/**
 * In-process figures: SSR of the public page through the real handler on a
 * real KV file, and SIWS verification. `deno task bench` runs it.
 */
import { testApp } from "../tests/_helpers/app.ts";
import { newWallet, signOffer } from "../tests/_helpers/wallet.ts";
import { verifySiws } from "../lib/identity/siws.ts";

const app = await testApp();
const c = app.client();
await c.signIn(newWallet());
await c.json("/api/handles", { method: "POST", body: { handle: "benchy" } });
await c.json("/api/me/profile", {
  method: "PATCH",
  body: { displayName: "Bench Mark", greeting: "Hi", accentColor: "#aa2277" },
});

Deno.bench("SSR GET /@handle (handler + KV)", async () => {
  const res = await app.handler(new Request("http://localhost:8000/@benchy"));
  await res.text();
});

Deno.bench("GET /handles/:handle JSON", async () => {
  const res = await app.handler(
    new Request("http://localhost:8000/handles/benchy"),
  );
  await res.text();
});

const wallet = newWallet();
const now = new Date();
const signed = signOffer(wallet, {
  domain: "localhost:8000",
  uri: "http://localhost:8000",
  version: "1",
  chainId: "mainnet",
  nonce: "0123456789abcdef",
  issuedAt: now.toISOString(),
  expirationTime: new Date(now.getTime() + 300_000).toISOString(),
  statement: "Sign in to Reach to claim and manage your @handle.",
});
Deno.bench("SIWS parse + strict ed25519 verify", () => {
  const r = verifySiws(signed, {
    domain: "localhost:8000",
    uri: "http://localhost:8000",
    chainId: "mainnet",
    now,
  });
  if (!r.ok) throw new Error(r.code);
});
