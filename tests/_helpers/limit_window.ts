/**
 * Limits count in fixed windows (lib/store/rate.ts), so an HTTP test of a
 * limit that happens to run across a window's end sees its counter start
 * again mid-test. `inOneWindow` runs the test body (which must build its own
 * fresh app) again, at most twice more, only when a run failed AND the clock
 * crossed a window boundary during it; any other failure is reported as is.
 */
export async function inOneWindow(
  windowMs: number,
  body: () => Promise<void>,
): Promise<void> {
  for (let run = 1;; run++) {
    const window = Math.floor(Date.now() / windowMs);
    try {
      await body();
      return;
    } catch (e) {
      const crossed = Math.floor(Date.now() / windowMs) !== window;
      if (!crossed || run >= 3) throw e;
    }
  }
}
