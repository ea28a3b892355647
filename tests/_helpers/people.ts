/** What a person does in the browser, as steps tests share. */
import type { Browser, Page } from "puppeteer-core";
import type { CallLogRecord } from "@/lib/store/calls.ts";
import { waitForText } from "./browser.ts";

/** Signs in with a browser key and claims `handle`; ends on /me. */
export async function signUp(
  browser: Browser,
  origin: string,
  handle: string,
): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(origin + "/", { waitUntil: "load" });
  const key = await page.waitForSelector(
    "xpath/.//button[contains(., 'Continue with a browser key') and not(@disabled)]",
  );
  await Promise.all([
    page.waitForNavigation({ waitUntil: "load" }),
    key!.click(),
  ]);
  await page.waitForSelector("#claim-handle:enabled");
  await page.type("#claim-handle", handle);
  await Promise.all([
    page.waitForNavigation({ waitUntil: "load" }),
    page.click("xpath/.//button[contains(., 'Claim handle')]"),
  ]);
  return page;
}

/** On /me: switch "Receive calls" on and wait until the device is online. */
export async function receiveCalls(page: Page, handle: string): Promise<void> {
  const toggle = await page.waitForSelector(".receiver .switch input:enabled");
  await toggle!.click();
  await waitForText(page, ".receiver-state", `Receiving calls for @${handle}.`);
}

/** On /me: wait until this browser can call as `handle` (identity + attestation). */
export async function canCallAs(page: Page, handle: string): Promise<void> {
  await waitForText(page, ".caller-identity", `show you as @${handle}`);
}

/** On /me: press Answer on the ringing call. */
export async function answerCall(page: Page): Promise<void> {
  const button = await page.waitForSelector(
    "xpath/.//button[normalize-space(.)='Answer']",
  );
  await button!.click();
}

/** The caller hangs up; both pages say so. */
export async function hangUp(caller: Page, callee: Page): Promise<void> {
  const hangup = await caller.waitForSelector(
    "xpath/.//button[normalize-space(.)='Hang up']",
  );
  await hangup!.click();
  await waitForText(caller, ".call .status", "You hung up.");
  await waitForText(callee, ".receiver .note", "The caller hung up.");
}

/** On /@handle: press Call. */
export async function pressCall(page: Page, handle: string): Promise<void> {
  const call = await page.waitForSelector(
    `xpath/.//button[contains(., 'Call @${handle}') and not(@disabled)]`,
  );
  await call!.click();
}

export interface PanelFigures {
  dtlsState: string;
  srtpCipher: string;
  localFingerprint: string;
  remoteFingerprint: string;
  localCandidate: string;
  remoteCandidate: string;
  packetsSent: number;
  packetsReceived: number;
}

/** Waits until the connection-details panel shows audio flowing both ways, then reads it. */
export async function waitForAudio(page: Page): Promise<PanelFigures> {
  await page.waitForFunction(
    () => {
      const dl = document.querySelector(".connection-details dl") as
        | HTMLElement
        | null;
      return !!dl && dl.dataset.dtlsState === "connected" &&
        Number(dl.dataset.packetsReceived) > 0 &&
        Number(dl.dataset.packetsSent) > 0 && !!dl.dataset.localCandidate;
    },
    { polling: 100, timeout: 20_000 },
  );
  return await page.$eval(".connection-details dl", (el) => {
    const d = (el as HTMLElement).dataset;
    return {
      dtlsState: d.dtlsState!,
      srtpCipher: d.srtpCipher!,
      localFingerprint: d.localFingerprint!,
      remoteFingerprint: d.remoteFingerprint!,
      localCandidate: d.localCandidate!,
      remoteCandidate: d.remoteCandidate!,
      packetsSent: Number(d.packetsSent),
      packetsReceived: Number(d.packetsReceived),
    };
  });
}

/** Every call-log record in the server's KV file (read from the test process). */
export async function readCallLog(kvPath: string): Promise<CallLogRecord[]> {
  const kv = await Deno.openKv(kvPath);
  try {
    const out: CallLogRecord[] = [];
    for await (const e of kv.list<CallLogRecord>({ prefix: ["call_log"] })) {
      out.push(e.value);
    }
    return out;
  } finally {
    kv.close();
  }
}
