import type { Handlers, PageProps, RouteConfig } from "$fresh/server.ts";
import { Head } from "$fresh/runtime.ts";
import ClaimHandle from "../islands/ClaimHandle.tsx";
import SignIn from "../islands/SignIn.tsx";
import type { State } from "../lib/state.ts";

export const config: RouteConfig = { csp: true };

export const handler: Handlers<unknown, State> = {
  GET(_req, ctx) {
    return ctx.render();
  },
};

export default function Home({ state }: PageProps<unknown, State>) {
  return (
    <>
      <Head>
        <title>Reach · a callable @handle that rings your browser</title>
        <meta
          name="description"
          content="Claim a free @handle. Anyone can call it from a web page; your browser rings; the voice is end-to-end encrypted."
        />
      </Head>
      <section class="hero">
        <h1>A callable @handle that rings your browser</h1>
        <p class="lead">
          Claim a free handle like{" "}
          <code>@bob</code>. Anyone who opens your page can press{" "}
          <strong>Call</strong>, and your browser rings. The voice goes browser
          to browser, end-to-end encrypted; the server only introduces the two
          browsers.
        </p>
      </section>
      <section class="panel" aria-labelledby="start">
        {!state.session && (
          <>
            <h2 id="start">Sign in</h2>
            <SignIn />
          </>
        )}
        {state.session && !state.handle && (
          <>
            <h2 id="start">Claim your handle</h2>
            <ClaimHandle />
          </>
        )}
        {state.session && state.handle && (
          <>
            <h2 id="start">You are @{state.handle}</h2>
            <p>
              <a class="button primary" href="/me">Open your page</a>{" "}
              <a class="button" href={`/@${state.handle}`}>
                See your public page
              </a>
            </p>
          </>
        )}
      </section>
      <section class="panel" aria-labelledby="find">
        <h2 id="find">Call someone</h2>
        <form class="inline-form" action="/go" method="get">
          <label for="find-handle">Their handle</label>
          <div class="handle-input">
            <span aria-hidden="true">@</span>
            <input
              id="find-handle"
              name="handle"
              required
              autoComplete="off"
              autoCapitalize="none"
              spellcheck={false}
              maxLength={31}
            />
          </div>
          <button type="submit" class="button">Open</button>
        </form>
      </section>
    </>
  );
}
