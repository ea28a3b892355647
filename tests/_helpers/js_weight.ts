/**
 * The JavaScript a page makes the browser download: every `/_frsh/js/...`
 * module the HTML names, plus everything those modules import, each counted
 * once, raw and gzipped.
 */
export interface JsWeight {
  files: { url: string; bytes: number; gzip: number; lazy: boolean }[];
  bytes: number;
  gzip: number;
  /** What loads with the page: everything not reached only via import(). */
  initialGzip: number;
}

export async function gzipSize(data: Uint8Array): Promise<number> {
  const stream = new Blob([data as BlobPart]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return (await new Response(stream).arrayBuffer()).byteLength;
}

const STATIC_IMPORT = /(?:\bfrom\s*|\bimport\s*)["']([^"']+\.js)["']/g;
const DYNAMIC_IMPORT = /\bimport\s*\(\s*["']([^"']+\.js)["']/g;

export async function pageJsWeight(
  html: string,
  fetchPath: (path: string) => Promise<Response>,
): Promise<JsWeight> {
  const queue: { path: string; lazy: boolean }[] = [
    ...html.matchAll(/\/_frsh\/js\/[^"'\s)]+\.js/g),
  ].map((m) => ({ path: m[0], lazy: false }));
  const seen = new Set<string>();
  const files: JsWeight["files"] = [];
  // Breadth-first from the page: eager files are all reached before lazy ones.
  queue.sort((a, b) => Number(a.lazy) - Number(b.lazy));
  while (queue.length) {
    const { path, lazy } = queue.shift()!;
    if (seen.has(path)) continue;
    seen.add(path);
    const res = await fetchPath(path);
    if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    files.push({
      url: path,
      bytes: bytes.length,
      gzip: await gzipSize(bytes),
      lazy,
    });
    const text = new TextDecoder().decode(bytes);
    const at = (m: RegExpMatchArray) =>
      new URL(m[1], "http://x" + path).pathname;
    for (const m of text.matchAll(STATIC_IMPORT)) {
      queue.unshift({ path: at(m), lazy });
    }
    for (const m of text.matchAll(DYNAMIC_IMPORT)) {
      queue.push({ path: at(m), lazy: true });
    }
  }
  return {
    files,
    bytes: files.reduce((a, f) => a + f.bytes, 0),
    gzip: files.reduce((a, f) => a + f.gzip, 0),
    initialGzip: files.filter((f) => !f.lazy).reduce((a, f) => a + f.gzip, 0),
  };
}
