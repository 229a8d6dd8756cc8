/**
 * Debian's Chromium for the browser tests (tests/browser/): where it is, how it is launched, and
 * installing it when missing. Only the test runner calls {@link ensureChromium}; `npm start`
 * never needs a browser.
 * @module
 */

/** Debian's `chromium` package puts its launcher here. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

/**
 * Flags for a quiet, headless, offline-friendly Chromium: no sandbox (containers, root), no GPU,
 * and none of the background traffic (component updates, sync, QUIC probes, first-run pages).
 * Playwright adds a fresh `--user-data-dir` of its own per persistent context.
 */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--no-first-run",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
];

/** True when Chromium is installed where the tests look for it. */
export function chromiumInstalled(): boolean {
  try {
    return Deno.statSync(CHROMIUM_PATH).isFile;
  } catch {
    return false;
  }
}

/** Outcome of {@link ensureChromium}: installed, or why not and what to run. */
export type ChromiumStatus = { ok: true; installedNow: boolean } | { ok: false; reason: string };

/**
 * Installs Debian's `chromium` when it is missing and we are root (`apt-get update`, then
 * `apt-get install -y chromium`); otherwise says what to run. Never throws.
 */
export async function ensureChromium(log: (line: string) => void): Promise<ChromiumStatus> {
  if (chromiumInstalled()) return { ok: true, installedNow: false };
  const command = "apt-get update && apt-get install -y chromium";
  if (Deno.uid() !== 0) {
    return { ok: false, reason: `Chromium is not installed; run: sudo sh -c '${command}'` };
  }
  log("installing Debian package chromium for the browser tests");
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  for (const args of [["update", "-qq"], ["install", "-y", "-qq", "chromium"]]) {
    const out = await new Deno.Command("apt-get", {
      args,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output().catch((e) => ({ code: -1, stdout: new Uint8Array(), stderr: e as Error }));
    if (out.code !== 0) {
      const detail = out.stderr instanceof Error
        ? out.stderr.message
        : new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" ");
      return { ok: false, reason: `apt-get ${args[0]} failed (${detail}); run: ${command}` };
    }
  }
  return chromiumInstalled()
    ? { ok: true, installedNow: true }
    : { ok: false, reason: `apt-get installed chromium but ${CHROMIUM_PATH} is missing` };
}
