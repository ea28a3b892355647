// File path → URLPattern pathname, route sorting and matching.

/** `*_test.ts(x)` and `*.test.ts(x)` files are never routes or islands. */
export const TEST_FILE = /(?:[_.]test)\.[jt]sx?$/;
export const MODULE_EXT = /\.[jt]sx?$/;

const SPECIAL = /[:*?+(){}\\]/g;

function escapeLiteral(text: string): string {
  return text.replace(SPECIAL, (c) => `\\${c}`);
}

/** Segments of a route path that take part in the URL (no groups, no index). */
function urlSegments(path: string): string[] {
  const segs = path.replace(MODULE_EXT, "").split("/").filter((s) => s);
  if (segs.at(-1) === "index") segs.pop();
  return segs.filter((s) => !/^\(.+\)$/.test(s));
}

/**
 * `blog/[slug].tsx` → `/blog/:slug`; `old/[...path].tsx` → `/old/:path*`;
 * `docs/[[v]]/index.tsx` → `/docs{/:v}?`; `@[handle].tsx` → `/@:handle`;
 * `(group)/x.tsx` → `/x`. `path` is relative to `routes/`.
 */
export function pathToPattern(path: string): string {
  let pattern = "";
  for (const seg of urlSegments(path)) {
    const optional = seg.match(/^\[\[([^\]]+)\]\]$/);
    if (optional) {
      pattern += `{/:${optional[1]}}?`;
      continue;
    }
    const rest = seg.match(/^\[\.\.\.([^\]]+)\]$/);
    if (rest) {
      pattern += `/:${rest[1]}*`;
      continue;
    }
    let out = "";
    let last = 0;
    for (const m of seg.matchAll(/\[([^\]]+)\]/g)) {
      out += escapeLiteral(seg.slice(last, m.index)) + `:${m[1]}`;
      last = m.index + m[0].length;
    }
    out += escapeLiteral(seg.slice(last));
    pattern += `/${out}`;
  }
  return pattern || "/";
}

/** Lower ranks match first: literal, mixed, [param], [[optional]], [...rest]. */
function segmentRank(seg: string): number {
  if (/^\[\.\.\.[^\]]+\]$/.test(seg)) return 4;
  if (/^\[\[[^\]]+\]\]$/.test(seg)) return 3;
  if (/^\[[^\]]+\]$/.test(seg)) return 2;
  if (seg.includes("[")) return 1;
  return 0;
}

/** Sort comparator on route paths (relative to `routes/`). */
export function compareRoutePaths(a: string, b: string): number {
  const sa = urlSegments(a);
  const sb = urlSegments(b);
  for (let i = 0; i < Math.min(sa.length, sb.length); i++) {
    const d = segmentRank(sa[i]) - segmentRank(sb[i]);
    if (d !== 0) return d;
  }
  if (sa.length !== sb.length) {
    // At equal prefix a longer literal path is more specific only when the
    // shorter one ends in a catch-all.
    const shorter = sa.length < sb.length ? sa : sb;
    const lastRank = shorter.length ? segmentRank(shorter.at(-1)!) : 0;
    const d = lastRank >= 3 ? -1 : 1;
    return sa.length < sb.length ? -d : d;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface Matchable {
  pattern: string;
  matcher: URLPattern;
}

export function compilePattern(pattern: string): URLPattern {
  return new URLPattern({ pathname: pattern });
}

/**
 * How a route is tested, cheaper than `URLPattern.exec` (microseconds per
 * route): `exact`, a pattern of plain characters only (ones that a URL
 * pathname and a URLPattern both keep as they are), matches that pathname
 * alone; `prefix`, its leading plain text, is a necessary condition for any
 * other pattern; `regex`, for patterns of plain text and `:name` parameters
 * only, is what URLPattern compiles them to (`:name` is `([^/]+?)`). Other
 * patterns go to URLPattern.
 */
interface Prefilter {
  exact: boolean;
  prefix: string;
  regex?: { re: RegExp; names: string[] };
}

const PLAIN = /^[A-Za-z0-9\/\-._~@]*/;
const SIMPLE = /^(?:[A-Za-z0-9\/\-._~@]|:[A-Za-z_$][A-Za-z0-9_$]*)*$/;
const prefilters = new WeakMap<Matchable, Prefilter>();

function simpleRegex(pattern: string): Prefilter["regex"] {
  // A name must end where a plain character that cannot continue it starts.
  if (!SIMPLE.test(pattern) || /:[A-Za-z0-9_$]*:/.test(pattern)) return;
  const names: string[] = [];
  const source = pattern.replace(
    /:([A-Za-z_$][A-Za-z0-9_$]*)|([^:]+?)(?=:|$)/g,
    (_m, name: string | undefined, text: string | undefined) => {
      if (name) {
        names.push(name);
        return "([^/]+?)";
      }
      return text!.replace(/[.\-/]/g, "\\$&");
    },
  );
  return { re: new RegExp(`^${source}$`), names };
}

function prefilter(route: Matchable): Prefilter {
  let p = prefilters.get(route);
  if (!p) {
    const plain = route.pattern.match(PLAIN)![0];
    p = plain === route.pattern
      ? { exact: true, prefix: plain }
      // A "/" right before a `:name*` or `:name?` belongs to that optional
      // part (`/old/:path*` matches `/old`): leave it out of the prefix.
      : {
        exact: false,
        prefix: plain.replace(/\/$/, ""),
        regex: simpleRegex(route.pattern),
      };
    prefilters.set(route, p);
  }
  return p;
}

function decode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** First route whose pattern matches `pathname`, with decoded params. */
export function matchRoute<T extends Matchable>(
  routes: readonly T[],
  pathname: string,
): { route: T; params: Record<string, string> } | undefined {
  for (const route of routes) {
    const pre = prefilter(route);
    if (pre.exact) {
      if (pathname === pre.prefix) return { route, params: {} };
      continue;
    }
    if (!pathname.startsWith(pre.prefix)) continue;
    if (pre.regex) {
      const m = pre.regex.re.exec(pathname);
      if (!m) continue;
      const params: Record<string, string> = {};
      pre.regex.names.forEach((name, i) => params[name] = decode(m[i + 1]));
      return { route, params };
    }
    const res = route.matcher.exec({ pathname });
    if (!res) continue;
    const params: Record<string, string> = {};
    for (const [key, value] of Object.entries(res.pathname.groups)) {
      params[key] = value === undefined ? "" : decode(value);
    }
    return { route, params };
  }
  return undefined;
}
