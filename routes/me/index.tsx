import type { Handlers, PageProps, RouteConfig } from "$fresh/server.ts";
import { Head } from "$fresh/runtime.ts";
import ClaimHandle from "@/islands/ClaimHandle.tsx";
import ProfileEditor from "@/islands/ProfileEditor.tsx";
import PushDevices from "@/islands/PushDevices.tsx";
import Receiver from "@/islands/Receiver.tsx";
import VoicemailInbox from "@/islands/VoicemailInbox.tsx";
import FindByPhone from "@/islands/FindByPhone.tsx";
import PhoneBinding from "@/islands/PhoneBinding.tsx";
import { phoneBindingAvailable, phoneView } from "@/lib/phone/binding.ts";
import SignIn from "@/islands/SignIn.tsx";
import SignOut from "@/islands/SignOut.tsx";
import KnownCallers from "@/islands/KnownCallers.tsx";
import { app } from "@/lib/app.ts";
import type { State } from "@/lib/state.ts";
import { getProfile, type Profile } from "@/lib/store/profiles.ts";
import CallHistory from "@/components/CallHistory.tsx";
import { type RecentCalls, recentCallsFor } from "@/lib/store/history.ts";
import { attestationKey } from "@/lib/identity/attest.ts";

export const config: RouteConfig = { csp: true };

interface Data {
  profile: Profile | null;
  phone: { masked: string; discoverable: boolean } | null;
  phoneAvailable: boolean;
  recentCalls: RecentCalls | null;
  /** /me?answer=<callId>: the call a push notification's Answer opened. */
  answer: string | null;
  /** The server's handle-attestation key (base58): checks sealed callers. */
  attestationKey: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const handler: Handlers<Data, State> = {
  async GET(_req, ctx) {
    const { kv, config } = await app();
    const profile = ctx.state.handle
      ? await getProfile(kv, ctx.state.handle)
      : null;
    const phone = profile ? await phoneView(kv, config, profile.handle) : null;
    const phoneAvailable = phoneBindingAvailable(config);
    const recentCalls = profile
      ? await recentCallsFor(
        kv,
        config.hmacKey,
        profile.handle,
        ctx.url.searchParams.get("before"),
      )
      : null;
    const answer = ctx.url.searchParams.get("answer");
    return ctx.render({
      profile,
      phone,
      phoneAvailable,
      recentCalls,
      answer: answer && UUID.test(answer) ? answer : null,
      attestationKey: await attestationKey(config),
    }, {
      headers: { "cache-control": "no-store" },
    });
  },
};

export default function Me({ data, state }: PageProps<Data, State>) {
  const { profile } = data;
  return (
    <section class="page">
      <Head>
        <title>Your page · Reach</title>
      </Head>
      {!state.session && (
        <>
          <h1>Sign in</h1>
          <p>Sign in to claim your handle and manage your page.</p>
          <SignIn />
        </>
      )}
      {state.session && !profile && (
        <>
          <h1>Claim your handle</h1>
          <p>One handle per wallet. It becomes your page address.</p>
          <ClaimHandle />
          <p class="account">
            Signed in as <code class="key">{state.session.publicKey}</code>{" "}
            <SignOut />
          </p>
        </>
      )}
      {state.session && profile && (
        <>
          <h1>@{profile.handle}</h1>
          <p>
            Your public page:{" "}
            <a href={`/@${profile.handle}`}>/@{profile.handle}</a>
          </p>
          <h2>Calls</h2>
          <Receiver
            handle={profile.handle}
            wallet={profile.walletPubkey}
            answer={data.answer}
            attestationKey={data.attestationKey}
          />
          <h3>Ring anywhere</h3>
          <PushDevices />
          <h2 id="recent-calls">Recent calls</h2>
          {data.recentCalls && <CallHistory {...data.recentCalls} />}
          <KnownCallers />
          <h2>Voicemail</h2>
          <VoicemailInbox handle={profile.handle} />
          <h2>Brand</h2>
          <ProfileEditor
            profile={{
              handle: profile.handle,
              displayName: profile.displayName,
              greeting: profile.greeting,
              accentColor: profile.accentColor,
            }}
          />
          <h2>Phone number (optional)</h2>
          <p class="hint">
            Bind a number only if you want people who have it to find you. Reach
            keeps it encrypted and never shows it on your page.
          </p>
          <PhoneBinding initial={data.phone} available={data.phoneAvailable} />
          <h2>Find people by phone</h2>
          <FindByPhone />
          <h2>Account</h2>
          <p class="account">
            Wallet key <code class="key">{profile.walletPubkey}</code>
          </p>
          <SignOut />
        </>
      )}
    </section>
  );
}
