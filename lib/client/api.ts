/** Browser-side JSON calls to Reach's API, with errors a person can read. */

export type ApiResult<T> =
  | { ok: true; status: number; data: T }
  | { ok: false; status: number; error: string; message: string };

export async function callApi<T>(
  path: string,
  init: { method?: string; body?: unknown } = {},
  opts: {
    /** The fetch to use (tests give a fake). */
    fetch?: (url: string, init?: RequestInit) => Promise<Response>;
    /** What to say when the request never reached the server. */
    networkMessage?: string;
  } = {},
): Promise<ApiResult<T>> {
  let res: Response;
  try {
    res = await (opts.fetch ?? fetch)(path, {
      method: init.method ?? "POST",
      headers: init.body === undefined
        ? undefined
        : { "content-type": "application/json" },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      credentials: "same-origin",
    });
  } catch {
    return {
      ok: false,
      status: 0,
      error: "network",
      message: opts.networkMessage ??
        "Could not reach Reach. Check your connection and try again.",
    };
  }
  let data: unknown = null;
  try {
    data = await res.json();
  } catch {
    // A body that is not JSON is reported by status below.
  }
  if (res.ok) return { ok: true, status: res.status, data: data as T };
  const err = (data ?? {}) as { error?: string; message?: string };
  return {
    ok: false,
    status: res.status,
    error: err.error ?? "http_" + res.status,
    message: err.message ?? `The server answered ${res.status}.`,
  };
}
