// Server-side rendering of one page: _app → layouts → page, Head, CSP,
// island markers, the island state script and the boot script.
// deno-lint-ignore-file no-explicit-any

import { type ComponentChildren, Fragment, h, type VNode } from "preact";
import { renderToString } from "preact-render-to-string";
import {
  CSP_CONTEXT,
  defaultCsp,
  nonce,
  serializeCSPDirectives,
} from "./csp.ts";
import { HEAD_CONTEXT } from "./head.ts";
import {
  type Island,
  type IslandRenderState,
  withIslandTracking,
} from "./islands.ts";
import { escapeJsonForScript, serialize } from "./serialize.ts";
import type { FreshContext, RenderOptions, RouteConfig } from "./types.ts";

export interface Layer {
  component: unknown;
  config?: RouteConfig;
}

/** What the browser needs to hydrate islands (from the build snapshot). */
export interface ClientAssets {
  buildId: string;
  bootUrl: string;
  /** island id → chunk URL */
  islandUrls: Map<string, string>;
  /**
   * island id → URLs of every chunk that loads with it (boot included), for
   * `<link rel="modulepreload">`: the browser fetches them all at once
   * instead of discovering each import after the last one arrived.
   */
  preloadUrls?: Map<string, string[]>;
}

export interface RenderInput {
  req: Request;
  ctx: FreshContext<any, any>;
  page: Layer;
  layouts: Layer[];
  app?: Layer;
  data?: unknown;
  error?: unknown;
  options?: RenderOptions;
  client?: ClientAssets;
}

function isAsync(fn: unknown): fn is (...args: any[]) => Promise<unknown> {
  return typeof fn === "function" && fn.constructor.name === "AsyncFunction";
}

/** Layouts in effect: from the nearest one that skips inherited layouts. */
function effectiveLayouts(page: Layer, layouts: Layer[]): Layer[] {
  if (page.config?.skipInheritedLayouts) return [];
  let start = 0;
  layouts.forEach((l, i) => {
    if (l.config?.skipInheritedLayouts) start = i;
  });
  return layouts.slice(start);
}

/**
 * A page rendered once, for `RenderOptions.memoKey`: its HTML and headers
 * with placeholders where each response has its own nonce and state id.
 */
interface Memo {
  html: string;
  headers: [string, string][];
  status: number;
  statusText?: string;
}

const MEMO_MAX = 256;
const memos = new WeakMap<Layer, Map<string, Memo>>();
/** Random per process: no page can contain them by accident or design. */
const NONCE_MARK = crypto.randomUUID().replace(/-/g, "");
const STATE_MARK = `__FRSH_STATE_${crypto.randomUUID()}`;

function fromMemo(m: Memo): Response {
  const n = crypto.randomUUID().replace(/-/g, "");
  const state = `__FRSH_STATE_${crypto.randomUUID()}`;
  const fill = (s: string) =>
    s.replaceAll(NONCE_MARK, n).replaceAll(STATE_MARK, state);
  return new Response(fill(m.html), {
    status: m.status,
    statusText: m.statusText,
    headers: m.headers.map(([k, v]): [string, string] => [k, fill(v)]),
  });
}

export async function renderPage(input: RenderInput): Promise<Response> {
  const { req, ctx, page, app } = input;
  const layouts = effectiveLayouts(page, input.layouts);
  const stack: Layer[] = [];
  if (
    app?.component && !page.config?.skipAppWrapper &&
    layouts.every((l) => !l.config?.skipAppWrapper)
  ) {
    stack.push(app);
  }
  stack.push(...layouts, page);

  const memoKey = input.options?.memoKey;
  let memo: Map<string, Memo> | undefined;
  if (memoKey !== undefined && !stack.some((l) => isAsync(l.component))) {
    memo = memos.get(page);
    if (!memo) memos.set(page, memo = new Map());
    const hit = memo.get(memoKey);
    if (hit) {
      // Most recently used last: the first entry is the one to drop.
      memo.delete(memoKey);
      memo.set(memoKey, hit);
      return fromMemo(hit);
    }
  }

  const { render: _r, next: _n, renderNotFound, ...base } = ctx;
  const props: Record<string, unknown> = {
    ...base,
    data: input.data,
    error: input.error,
  };
  const routeCtx = { ...props, renderNotFound };

  // deno-lint-ignore ban-types
  const fns: Function[] = new Array(stack.length);
  for (let i = 0; i < stack.length; i++) {
    const fn = stack[i].component;
    const Component = () =>
      i + 1 < fns.length ? h(fns[i + 1] as any, null) : null;
    if (isAsync(fn)) {
      const isPage = i === stack.length - 1;
      const res = await fn(req, isPage ? routeCtx : { ...routeCtx, Component });
      if (res instanceof Response) return res;
      fns[i] = () => res as VNode;
    } else {
      fns[i] = () => h(fn as any, { ...props, Component });
    }
  }

  const csp = page.config?.csp ? defaultCsp() : undefined;
  const headNodes: ComponentChildren[] = [];
  const islandState: IslandRenderState = { props: [], used: new Set() };
  const tree = h(
    CSP_CONTEXT.Provider,
    { value: csp },
    h(HEAD_CONTEXT.Provider, { value: headNodes }, h(fns[0] as any, null)),
  );
  const body = withIslandTracking(islandState, () => renderToString(tree));
  const head = headNodes.length
    ? renderToString(h(Fragment, null, ...headNodes as any[]))
    : "";

  let scripts = "";
  let preload = "";
  if (islandState.used.size > 0 && input.client) {
    const n = memo ? NONCE_MARK : crypto.randomUUID().replace(/-/g, "");
    const stateId = memo ? STATE_MARK : `__FRSH_STATE_${crypto.randomUUID()}`;
    if (csp) {
      csp.directives.scriptSrc = [...csp.directives.scriptSrc ?? [], nonce(n)];
    }
    scripts = islandScripts(n, stateId, islandState, input.client);
    preload = preloadLinks(n, islandState, input.client);
  }

  const html = assembleDocument(body, head + preload, scripts);
  const headers = new Headers({ "content-type": "text/html; charset=utf-8" });
  if (csp) {
    headers.set(
      csp.reportOnly
        ? "content-security-policy-report-only"
        : "content-security-policy",
      serializeCSPDirectives(csp.directives),
    );
  }
  new Headers(input.options?.headers).forEach((v, k) => headers.set(k, v));
  if (memo) {
    const m: Memo = {
      html,
      headers: [...headers],
      status: input.options?.status ?? 200,
      statusText: input.options?.statusText,
    };
    if (memo.size >= MEMO_MAX) memo.delete(memo.keys().next().value!);
    memo.set(memoKey!, m);
    return fromMemo(m);
  }
  return new Response(html, {
    status: input.options?.status ?? 200,
    statusText: input.options?.statusText,
    headers,
  });
}

function islandScripts(
  n: string,
  stateId: string,
  state: IslandRenderState,
  client: ClientAssets,
): string {
  const islands: Record<string, [string, string]> = {};
  for (const island of state.used as Set<Island>) {
    const url = client.islandUrls.get(island.id);
    if (url) islands[island.id] = [url, island.exportName];
  }
  const json = escapeJsonForScript(serialize(state.props));
  const args = escapeJsonForScript(
    [
      JSON.stringify(stateId),
      JSON.stringify(islands),
      JSON.stringify(client.buildId),
    ]
      .join(","),
  );
  return `<script id="${stateId}" type="application/json" nonce="${n}">${json}</script>` +
    `<script type="module" nonce="${n}">import{boot}from${
      JSON.stringify(client.bootUrl)
    };boot(${args});</script>`;
}

function preloadLinks(
  n: string,
  state: IslandRenderState,
  client: ClientAssets,
): string {
  if (!client.preloadUrls) return "";
  const urls = new Set<string>();
  for (const island of state.used as Set<Island>) {
    for (const url of client.preloadUrls.get(island.id) ?? []) urls.add(url);
  }
  let out = "";
  for (const url of urls) {
    out += `<link rel="modulepreload" href="${escapeAttr(url)}" nonce="${n}">`;
  }
  return out;
}

function escapeAttr(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
}

const HTML_OPEN = /^\s*<html[\s>]/i;

function assembleDocument(body: string, head: string, scripts: string): string {
  if (!HTML_OPEN.test(body)) {
    return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">` +
      `<meta name="viewport" content="width=device-width, initial-scale=1.0">` +
      `${head}</head><body>${body}${scripts}</body></html>`;
  }
  let doc = body;
  if (head) {
    const close = doc.search(/<\/head>/i);
    if (close >= 0) {
      doc = doc.slice(0, close) + head + doc.slice(close);
    } else {
      const open = doc.indexOf(">", doc.search(/<html/i)) + 1;
      doc = doc.slice(0, open) + `<head>${head}</head>` + doc.slice(open);
    }
  }
  if (scripts) {
    let at = doc.toLowerCase().lastIndexOf("</body>");
    if (at < 0) at = doc.toLowerCase().lastIndexOf("</html>");
    doc = at < 0 ? doc + scripts : doc.slice(0, at) + scripts + doc.slice(at);
  }
  return `<!DOCTYPE html>${doc}`;
}
