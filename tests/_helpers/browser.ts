/** Headless Debian Chromium driven by puppeteer-core, with a fresh profile. */
import puppeteer, { type Browser } from "puppeteer-core";

export const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";

export interface TestBrowser extends AsyncDisposable {
  browser: Browser;
}

export async function launchBrowser(
  extraArgs: string[] = [],
): Promise<TestBrowser> {
  const profile = await Deno.makeTempDir({ prefix: "reach-chromium-" });
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: profile,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--use-fake-device-for-media-stream",
      "--use-fake-ui-for-media-stream",
      "--autoplay-policy=no-user-gesture-required",
      ...extraArgs,
    ],
  });
  return {
    browser,
    async [Symbol.asyncDispose]() {
      await browser.close();
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    },
  };
}
