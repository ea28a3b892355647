/**
 * Writes the app icons in `static/icons/` (the web app manifest's): the
 * favicon's blue disc and white handset (static/favicon.svg), drawn with a
 * tiny rasteriser and PNG encoder, so the PNGs come from this file and
 * nothing else. Deterministic: the same bytes every run.
 *
 *   deno run --allow-write=static/icons scripts/make_icons.ts
 *
 * - `icon-192.png`, `icon-512.png`: purpose `any` (the disc on transparency).
 * - `icon-maskable-512.png`: purpose `maskable` (full-bleed blue; the handset
 *   lies inside the central 80% safe zone, so any mask shape keeps it whole).
 */
import { concatBytes } from "@noble/hashes/utils.js";

/** The favicon's handset, in its 32×32 view box. */
const HANDSET =
  "M11 9c1-1 2.5-1 3 .5l1 2.6c.3.9 0 1.8-.7 2.3l-1.2.9c.9 2 2.4 3.5 4.4 4.4l.9-1.2c.5-.7 1.4-1 2.3-.7l2.6 1c1.5.5 1.5 2 .5 3l-1.4 1.4C20 25.5 8.5 14 10.6 10.4z";
const BLUE: Rgb = [0x25, 0x63, 0xeb];
const WHITE: Rgb = [0xff, 0xff, 0xff];

type Rgb = [number, number, number];
type Pt = [number, number];

/** The path's outlines as polygons (M, L, H, V, C and Z, absolute or relative). */
export function pathPolygons(d: string): Pt[][] {
  const tokens = d.match(/[a-zA-Z]|-?(?:\d+\.?\d*|\.\d+)/g) ?? [];
  const polys: Pt[][] = [];
  let poly: Pt[] = [];
  let cmd = "";
  let x = 0, y = 0, sx = 0, sy = 0;
  let i = 0;
  const num = () => Number(tokens[i++]);
  while (i < tokens.length) {
    if (/[a-zA-Z]/.test(tokens[i])) cmd = tokens[i++];
    const rel = cmd === cmd.toLowerCase();
    const ox = rel ? x : 0, oy = rel ? y : 0;
    switch (cmd.toUpperCase()) {
      case "M":
        if (poly.length) polys.push(poly);
        x = ox + num();
        y = oy + num();
        [sx, sy] = [x, y];
        poly = [[x, y]];
        cmd = rel ? "l" : "L"; // further pairs are lines
        break;
      case "L":
        x = ox + num();
        y = oy + num();
        poly.push([x, y]);
        break;
      case "H":
        x = ox + num();
        poly.push([x, y]);
        break;
      case "V":
        y = oy + num();
        poly.push([x, y]);
        break;
      case "C": {
        const p1: Pt = [ox + num(), oy + num()];
        const p2: Pt = [ox + num(), oy + num()];
        const p3: Pt = [ox + num(), oy + num()];
        const p0: Pt = [x, y];
        for (let k = 1; k <= 24; k++) {
          const t = k / 24, u = 1 - t;
          const a = u * u * u, b = 3 * u * u * t, c = 3 * u * t * t;
          const e = t * t * t;
          poly.push([
            a * p0[0] + b * p1[0] + c * p2[0] + e * p3[0],
            a * p0[1] + b * p1[1] + c * p2[1] + e * p3[1],
          ]);
        }
        [x, y] = p3;
        break;
      }
      case "Z":
        [x, y] = [sx, sy];
        if (poly.length) polys.push(poly);
        poly = [];
        break;
      default:
        throw new Error(`unsupported path command ${cmd}`);
    }
  }
  if (poly.length) polys.push(poly);
  return polys;
}

function circle(cx: number, cy: number, r: number): Pt[][] {
  const n = 256;
  return [
    Array.from({ length: n }, (_, k): Pt => {
      const a = (2 * Math.PI * k) / n;
      return [cx + r * Math.cos(a), cy + r * Math.sin(a)];
    }),
  ];
}

/**
 * Coverage (0..1) of each pixel of a `size`² image by the polygons (nonzero
 * winding), given in a `box`² view box; 4×4 samples per pixel.
 */
function coverage(polys: Pt[][], size: number, box: number): Float32Array {
  const S = 4;
  const k = size / box;
  const out = new Float32Array(size * size);
  const edges = polys.flatMap((p) =>
    p.map((a, j) => {
      const b = p[(j + 1) % p.length];
      return [a[0] * k, a[1] * k, b[0] * k, b[1] * k];
    })
  );
  for (let row = 0; row < size * S; row++) {
    const y = (row + 0.5) / S;
    const xs: [number, number][] = [];
    for (const [x0, y0, x1, y1] of edges) {
      if ((y0 <= y) === (y1 <= y)) continue;
      xs.push([x0 + ((y - y0) / (y1 - y0)) * (x1 - x0), y1 > y0 ? 1 : -1]);
    }
    xs.sort((a, b) => a[0] - b[0]);
    const py = Math.floor(row / S);
    let w = 0;
    let at = 0;
    for (let col = 0; col < size * S; col++) {
      const x = (col + 0.5) / S;
      while (at < xs.length && xs[at][0] <= x) w += xs[at++][1];
      if (w !== 0) out[py * size + Math.floor(col / S)] += 1 / (S * S);
    }
  }
  return out;
}

/** RGBA pixels: layers of [colour, coverage] painted in order over `bg`. */
function paint(
  size: number,
  bg: Rgb | null,
  layers: [Rgb, Float32Array][],
): Uint8Array {
  const px = new Uint8Array(size * size * 4);
  for (let i = 0; i < size * size; i++) {
    // Premultiplied colour and alpha.
    let [r, g, b] = bg ? bg.map((v) => v / 255) : [0, 0, 0];
    let a = bg ? 1 : 0;
    for (const [c, cov] of layers) {
      const f = Math.min(1, cov[i]);
      r = c[0] / 255 * f + r * (1 - f);
      g = c[1] / 255 * f + g * (1 - f);
      b = c[2] / 255 * f + b * (1 - f);
      a = f + a * (1 - f);
    }
    const o = i * 4;
    if (a > 0) {
      px[o] = Math.round((r / a) * 255);
      px[o + 1] = Math.round((g / a) * 255);
      px[o + 2] = Math.round((b / a) * 255);
    }
    px[o + 3] = Math.round(a * 255);
  }
  return px;
}

// ------------------------------------------------------------------ PNG

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  v.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

async function zlib(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as BlobPart]).stream().pipeThrough(
    new CompressionStream("deflate"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** An 8-bit RGBA PNG (no filtering; zlib does the rest). */
export async function encodePng(
  width: number,
  height: number,
  rgba: Uint8Array,
): Promise<Uint8Array> {
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr.set([8, 6, 0, 0, 0], 8); // depth 8, RGBA, deflate, no filter, no interlace
  const raw = new Uint8Array(height * (width * 4 + 1));
  for (let y = 0; y < height; y++) {
    raw.set(
      rgba.subarray(y * width * 4, (y + 1) * width * 4),
      y * (width * 4 + 1) + 1,
    );
  }
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", await zlib(raw)),
    chunk("IEND", new Uint8Array()),
  ];
  return concatBytes(...parts);
}

/** The icon of `size` pixels: `maskable` is full-bleed blue. */
export async function makeIcon(
  size: number,
  maskable: boolean,
): Promise<Uint8Array> {
  const handset = coverage(pathPolygons(HANDSET), size, 32);
  const px = maskable
    ? paint(size, BLUE, [[WHITE, handset]])
    : paint(size, null, [
      [BLUE, coverage(circle(16, 16, 15), size, 32)],
      [WHITE, handset],
    ]);
  return await encodePng(size, size, px);
}

if (import.meta.main) {
  const dir = new URL("../static/icons/", import.meta.url);
  await Deno.mkdir(dir, { recursive: true });
  for (
    const [name, size, maskable] of [
      ["icon-192.png", 192, false],
      ["icon-512.png", 512, false],
      ["icon-maskable-512.png", 512, true],
    ] as const
  ) {
    const png = await makeIcon(size, maskable);
    await Deno.writeFile(new URL(name, dir), png);
    console.log(`static/icons/${name}: ${size}×${size}, ${png.length} bytes`);
  }
}
