import type { Handlers, PageProps, RouteConfig } from "$fresh/server.ts";
import { Head } from "$fresh/runtime.ts";
import Caller from "../islands/Caller.tsx";
import { app } from "../lib/app.ts";
import { textOn } from "../lib/color.ts";
import { checkHandle } from "../lib/identity/handles.ts";
import type { State } from "../lib/state.ts";
import { safetyNumberOfWallet } from "../lib/identity/safety_number.ts";
import {
  PROFILE_CACHE_MS,
  type PublicProfile,
  publicProfile,
  ringsByPush,
} from "../lib/public_profile.ts";

export const config: RouteConfig = { csp: true };

type Data = PublicProfile & {
  /** No tab online, but a call rings a browser through Web Push. */
  ringsBrowser: boolean;
  voicemailSeconds: number;
  safetyNumber: string;
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
    // Others may see a profile a second or two old (presence is always
    // read now); the owner always sees their latest edit.
    const profile = await publicProfile(kv, checked.handle, {
      maxAgeMs: ctx.state.handle === checked.handle ? 0 : PROFILE_CACHE_MS,
    });
    if (!profile) return ctx.renderNotFound();
    const data: Data = {
      ...profile,
      ringsBrowser: !profile.online &&
        await ringsByPush(kv, config.push.enabled, profile.handle),
      voicemailSeconds: config.voicemail.maxSeconds,
      safetyNumber: await safetyNumberOfWallet(
        profile.handle,
        profile.walletPubkey,
      ),
    };
    return ctx.render(data, {
      headers: { "cache-control": "no-cache" },
      // This page reads nothing but `data` (who calls is never the
      // server's to know: the caller's browser seals it), and _app only
      // whether someone is signed in: the same data (presence included,
      // read just now) renders the same HTML.
      memoKey: JSON.stringify([!!ctx.state.session, data]),
    });
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
        <p
          class={p.online || p.ringsBrowser ? "presence online" : "presence"}
        >
          <span class="dot" aria-hidden="true" />
          {p.online
            ? "Online: receiving calls"
            : p.ringsBrowser
            ? "Rings their browser"
            : "Offline right now"}
        </p>
        <Caller
          handle={p.handle}
          online={p.online || p.ringsBrowser}
          voicemailSeconds={p.voicemailSeconds}
          walletPubkey={p.walletPubkey}
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
