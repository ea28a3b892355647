/** Colour contrast (WCAG 2), so brand colours stay readable. */

/** sRGB relative luminance (WCAG 2). */
function luminance(hex: string): number {
  const c = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
    .map((v) => v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
  return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
}

export function contrastRatio(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

/** Black or white text, whichever reads better on the accent colour. */
export function textOn(accent: string): "#000000" | "#ffffff" {
  return contrastRatio(accent, "#ffffff") >= contrastRatio(accent, "#000000")
    ? "#ffffff"
    : "#000000";
}
