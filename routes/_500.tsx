import type { PageProps, RouteConfig } from "$fresh/server.ts";
import { Head } from "$fresh/runtime.ts";

export const config: RouteConfig = { csp: true };

export default function ServerError(_props: PageProps) {
  return (
    <section class="page narrow">
      <Head>
        <title>Something went wrong · Reach</title>
      </Head>
      <h1>Something went wrong</h1>
      <p>
        Reach hit an error while answering. Nothing you entered was lost on our
        side; please try again in a moment.
      </p>
      <p>
        <a class="button" href="/">Go to the front page</a>
      </p>
    </section>
  );
}
