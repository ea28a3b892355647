import type { PageProps, RouteConfig } from "$fresh/server.ts";
import { Head } from "$fresh/runtime.ts";

export const config: RouteConfig = { csp: true };

/** The handle a `/@…` path names, or null (also for a malformed %-escape). */
function handleIn(pathname: string): string | null {
  const m = /^\/@([^/]+)$/.exec(pathname);
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]).toLowerCase();
  } catch {
    return null;
  }
}

export default function NotFound({ url }: PageProps) {
  const handle = handleIn(url.pathname);
  return (
    <section class="page narrow">
      <Head>
        <title>
          {handle ? `@${handle} is not here · Reach` : "Not found · Reach"}
        </title>
      </Head>
      {handle
        ? (
          <>
            <h1>No one is at @{handle} yet</h1>
            <p>
              Check the spelling: handles use only letters a-z, digits and
              underscores. If it is free, it could be yours.
            </p>
            <p>
              <a class="button primary" href="/">Claim a handle</a>
            </p>
          </>
        )
        : (
          <>
            <h1>Page not found</h1>
            <p>There is nothing at this address.</p>
            <p>
              <a class="button" href="/">Go to the front page</a>
            </p>
          </>
        )}
    </section>
  );
}
