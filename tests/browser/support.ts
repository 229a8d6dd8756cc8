/**
 * Browser-test support: Debian's Chromium driven by playwright-core, with a fresh profile per
 * launch, every request outside the loopback interface blocked (and reported), page errors
 * collected, and screenshots kept in `test-artifacts/browser/`.
 */
import assert from "node:assert/strict";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { CHROMIUM_ARGS, CHROMIUM_PATH, chromiumInstalled } from "@local/demo/chromium.ts";
import { join, PROJECT_ROOT } from "@local/paths.ts";

/** Where the browser tests keep their screenshots. */
export const ARTIFACTS = join(PROJECT_ROOT, "test-artifacts", "browser");

/** Console errors other than the browser's own note about a 4xx answer (an expected refusal). */
export function unexpectedErrors(browser: Browser): string[] {
  return browser.errors.filter((e) => !/Failed to load resource: .*status of 4\d\d/.test(e));
}

/** With `UPDATE_DOCS_IMAGES=1`, copies a screenshot to docs/images/ for the README. */
export async function keepForReadme(shot: string, name: string) {
  if (Deno.env.get("UPDATE_DOCS_IMAGES") !== "1") return;
  const dir = join(PROJECT_ROOT, "docs", "images");
  await Deno.mkdir(dir, { recursive: true });
  await Deno.copyFile(shot, join(dir, `${name}.png`));
}

/** Why the browser tests cannot run here, or `null` when they can. */
export function browserUnavailable(): string | null {
  if (chromiumInstalled()) return null;
  return `Chromium is not installed at ${CHROMIUM_PATH}: browser tests skipped ` +
    "(npm test installs it when run as root; otherwise: sudo apt-get install -y chromium)";
}

/** A launched browser with what it observed. */
export interface Browser {
  context: BrowserContext;
  /** Requests that tried to leave the machine (blocked). */
  external: string[];
  /** Uncaught page errors and console errors, by page. */
  errors: string[];
  newPage(): Promise<Page>;
  /** Saves a full-page screenshot as `test-artifacts/browser/<name>.png`; returns the path. */
  screenshot(page: Page, name: string): Promise<string>;
  close(): Promise<void>;
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** Launches Chromium headless with a fresh profile. */
export async function launchBrowser(): Promise<Browser> {
  const profile = await Deno.makeTempDir({ prefix: "sms-chromium-" });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 860 },
    locale: "en-US",
    timezoneId: "UTC",
  });
  context.setDefaultTimeout(15_000);
  const external: string[] = [];
  const errors: string[] = [];
  await context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (url.protocol === "data:" || LOOPBACK.has(url.hostname)) return route.continue();
    external.push(url.href);
    return route.abort("blockedbyclient");
  });
  const watch = (page: Page) => {
    page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(`console: ${m.text()}`);
    });
  };
  context.pages().forEach(watch);
  context.on("page", watch);
  await Deno.mkdir(ARTIFACTS, { recursive: true });
  return {
    context,
    external,
    errors,
    newPage: () => context.newPage(),
    async screenshot(page, name) {
      const path = join(ARTIFACTS, `${name}.png`);
      await page.screenshot({ path, fullPage: true });
      return path;
    },
    async close() {
      await context.close();
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    },
  };
}

/** Polls `fn` until `ok` holds (every 100 ms, at most `ms`); fails with the last value seen. */
export async function until<T>(
  what: string,
  fn: () => Promise<T>,
  ok: (v: T) => boolean,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last = await fn();
  while (!ok(last) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    last = await fn();
  }
  assert.ok(ok(last), `${what}: last saw ${JSON.stringify(last)}`);
  return last;
}
