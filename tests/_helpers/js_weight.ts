/**
 * The JavaScript a page makes the browser download: every `/_frsh/js/...`
 * module the HTML names, plus everything those modules import, each counted
 * once, raw and gzipped.
 */
export interface JsWeight {
  files: { url: string; bytes: number; gzip: number }[];
  bytes: number;
  gzip: number;
}

export async function gzipSize(data: Uint8Array): Promise<number> {
  const stream = new Blob([data as BlobPart]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return (await new Response(stream).arrayBuffer()).byteLength;
}

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(?\s*)["']([^"']+\.js)["']/g;

export async function pageJsWeight(
  html: string,
  fetchPath: (path: string) => Promise<Response>,
): Promise<JsWeight> {
  const queue = [...html.matchAll(/\/_frsh\/js\/[^"'\s)]+\.js/g)].map((m) =>
    m[0]
  );
  const seen = new Set<string>();
  const files: JsWeight["files"] = [];
  while (queue.length) {
    const path = queue.shift()!;
    if (seen.has(path)) continue;
    seen.add(path);
    const res = await fetchPath(path);
    if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    files.push({ url: path, bytes: bytes.length, gzip: await gzipSize(bytes) });
    const text = new TextDecoder().decode(bytes);
    for (const m of text.matchAll(IMPORT)) {
      queue.push(new URL(m[1], "http://x" + path).pathname);
    }
  }
  return {
    files,
    bytes: files.reduce((a, f) => a + f.bytes, 0),
    gzip: files.reduce((a, f) => a + f.gzip, 0),
  };
}
