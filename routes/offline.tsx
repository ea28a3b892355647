import { Head } from "$fresh/runtime.ts";

/**
 * The offline shell: the service worker (routes/sw.js.ts) caches this page
 * and shows it when a navigation fails. No scripts; it must make sense when
 * nothing else loads.
 */
export default function Offline() {
  return (
    <section class="page narrow offline">
      <Head>
        <title>Offline · Reach</title>
      </Head>
      <h1>You are offline</h1>
      <p class="status" role="status">
        You are offline; Reach will ring again when you are back online.
      </p>
      <p>
        <a class="button" href="/me">Try again</a>
      </p>
    </section>
  );
}
