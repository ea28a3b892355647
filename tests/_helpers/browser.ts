/** Headless Debian Chromium driven by puppeteer-core, with a fresh profile. */
import puppeteer, { type Browser, type Page } from "puppeteer-core";

export const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";

export interface TestBrowser extends AsyncDisposable {
  browser: Browser;
}

export async function launchBrowser(
  extraArgs: string[] = [],
  opts: { autoAllowMedia?: boolean } = {},
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
      // Answers permission prompts with "allow" (off to test a refusal).
      ...(opts.autoAllowMedia === false
        ? []
        : ["--use-fake-ui-for-media-stream"]),
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

/**
 * Collects the page's errors and console errors, less the 404 status of
 * pages a test opens on purpose (paths starting `/@nobody_`).
 */
export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    if (m.location()?.url?.includes("/@nobody_")) return;
    errors.push(m.text());
  });
  return errors;
}

/**
 * Waits until an element matching `selector` contains `text`. Polls the
 * condition (puppeteer's selector waits miss text-node edits, which is how
 * Preact updates a status line).
 */
export async function waitForText(
  page: Page,
  selector: string,
  text: string,
): Promise<void> {
  await page.waitForFunction(
    (sel, t) =>
      [...document.querySelectorAll(sel)].some((el) =>
        (el.textContent ?? "").includes(t)
      ),
    { polling: 50 },
    selector,
    text,
  );
}

/** One WebSocket frame a page sent ("up") or received ("down"). */
export interface Frame {
  dir: "up" | "down";
  text: string;
}

/**
 * Records every WebSocket frame the page sends and receives from now on,
 * over CDP (`Network.webSocketFrameSent` / `Received`): what the server told
 * the browser, and what the browser told it.
 */
export async function recordFrames(page: Page): Promise<Frame[]> {
  const frames: Frame[] = [];
  const cdp = await page.createCDPSession();
  cdp.on("Network.webSocketFrameSent", (e) => {
    frames.push({ dir: "up", text: e.response.payloadData });
  });
  cdp.on("Network.webSocketFrameReceived", (e) => {
    frames.push({ dir: "down", text: e.response.payloadData });
  });
  await cdp.send("Network.enable");
  return frames;
}
