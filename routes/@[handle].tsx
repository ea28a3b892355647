import type { Handlers, PageProps, RouteConfig } from "$fresh/server.ts";
import { Head } from "$fresh/runtime.ts";
import Caller from "../islands/Caller.tsx";
import { app } from "../lib/app.ts";
import { textOn } from "../lib/color.ts";
import { base58 } from "@scure/base";
import { checkHandle } from "../lib/identity/handles.ts";
import type { State } from "../lib/state.ts";
import { safetyNumber } from "../lib/identity/safety_number.ts";
import { type PublicProfile, publicProfile } from "../lib/public_profile.ts";

export const config: RouteConfig = { csp: true };

type Data = PublicProfile & {
  voicemailSeconds: number;
  safetyNumber: string;
  me: { handle: string; wallet: string } | null;
};

export const handler: Handlers<Data, State> = {
  async GET(_req, ctx) {
    const raw = ctx.params.handle;
    const checked = checkHandle(raw);
    if (!checked.ok) return ctx.renderNotFound();
    if (checked.handle !== raw) {
      // One canonical address per handle: /@Bob -> /@bob.
      return new Response(null, {
        status: 301,
        headers: { location: `/@${checked.handle}` },
      });
    }
    const { kv, config } = await app();
    const profile = await publicProfile(kv, checked.handle);
    if (!profile) return ctx.renderNotFound();
    return ctx.render(
      {
        ...profile,
        voicemailSeconds: config.voicemail.maxSeconds,
        me: ctx.state.session && ctx.state.handle
          ? { handle: ctx.state.handle, wallet: ctx.state.session.publicKey }
          : null,
        safetyNumber: await safetyNumber(
          profile.handle,
          base58.decode(profile.walletPubkey),
        ),
      },
      { headers: { "cache-control": "no-cache" } },
    );
  },
};

export default function HandlePage({ data: p }: PageProps<Data>) {
  const name = p.displayName || p.handle;
  return (
    <article
      class="brand-page"
      style={`--accent: ${p.accentColor}; --on-accent: ${
        textOn(p.accentColor)
      }`}
    >
      <Head>
        <title>{`Call ${name} (@${p.handle}) · Reach`}</title>
        <meta
          name="description"
          content={`Call @${p.handle} from your browser with Reach.`}
        />
      </Head>
      <div class="brand-card">
        <span class="avatar" aria-hidden="true">
          {name.slice(0, 1).toUpperCase()}
        </span>
        <h1>{name}</h1>
        <p class="muted">@{p.handle}</p>
        {p.greeting && <p class="greeting">{p.greeting}</p>}
        <p class={p.online ? "presence online" : "presence"}>
          <span class="dot" aria-hidden="true" />
          {p.online ? "Online: receiving calls" : "Offline right now"}
        </p>
        <Caller
          handle={p.handle}
          online={p.online}
          voicemailSeconds={p.voicemailSeconds}
          walletPubkey={p.walletPubkey}
          me={p.me}
        />
        <details class="safety">
          <summary>Safety number</summary>
          <p class="hint">
            Compare it with @{p.handle}{" "}
            in person or on another channel: if yours matches theirs, this page
            names their real key.
          </p>
          <p class="safety-number">{p.safetyNumber}</p>
        </details>
      </div>
      <p class="fineprint">
        Calls are voice only, browser to browser.{" "}
        <a href="/security">How calls are protected</a>
      </p>
    </article>
  );
}
