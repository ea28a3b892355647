import type { PageProps } from "$fresh/server.ts";
import { asset, useCSP } from "$fresh/runtime.ts";
import { pagePolicy } from "../lib/page_policy.ts";
import type { State } from "../lib/state.ts";

export default function App({ Component, state }: PageProps<unknown, State>) {
  useCSP(pagePolicy);
  const signedIn = !!state.session;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="color-scheme" content="light dark" />
        <link rel="stylesheet" href={asset("/styles.css")} />
        <link rel="icon" href={asset("/favicon.svg")} type="image/svg+xml" />
        <link rel="manifest" href="/manifest.webmanifest" />
        <link rel="apple-touch-icon" href="/icons/icon-192.png" />
        <meta name="theme-color" content="#2563eb" />
      </head>
      <body>
        <a class="skip" href="#main">Skip to content</a>
        <header class="site">
          <a class="brand" href="/">Reach</a>
          <nav aria-label="Site">
            <a href="/security">Security</a>
            <a href="/me">{signedIn ? "Your page" : "Sign in"}</a>
          </nav>
        </header>
        <main id="main" tabIndex={-1}>
          <Component />
        </main>
        <footer class="site">
          <p>
            Reach: a callable @handle that rings your browser.{" "}
            <a href="/security">What is and is not end-to-end encrypted</a>
          </p>
        </footer>
      </body>
    </html>
  );
}
