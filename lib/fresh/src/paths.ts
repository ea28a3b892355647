// Minimal path helpers (POSIX file URLs); no @std available.

export function fromFileUrl(url: string | URL): string {
  return decodeURIComponent(new URL(url).pathname);
}

/** Resolve `path` (absolute or relative) against the directory `dir`. */
export function resolvePath(dir: string, path: string): string {
  if (path.startsWith("/")) return normalize(path);
  return normalize(`${dir}/${path}`);
}

export function normalize(path: string): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return `/${out.join("/")}`;
}

export function dirname(path: string): string {
  const i = path.replace(/\/+$/, "").lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}
