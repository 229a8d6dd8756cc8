/**
 * The demo page's browser bundle: `deno bundle --platform browser` of `local/demo/app.ts`, which
 * pulls in `@supabase/supabase-js` and the project's common module (`shared/`) from the local
 * Deno cache. Built once and cached in the state folder, keyed by a hash of every input, so a
 * restart serves it at once and a change to `shared/` rebuilds it. No network at run time.
 * @module
 */
import { hex } from "@shared/text/hex.ts";
import { join, PROJECT_ROOT } from "../paths.ts";

/** The entry point that is bundled. */
export const DEMO_ENTRY = join(PROJECT_ROOT, "local", "demo", "app.ts");

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const path = join(dir, e.name);
    if (e.isDirectory) out.push(...await files(path));
    else if (/\.(ts|js|json)$/.test(e.name)) out.push(path);
  }
  return out.sort();
}

/** The browser-side modules the entry imports (the campaign composer, the DOM helpers). */
export const DEMO_MODULES = ["campaign.ts", "dom.ts"].map((f) =>
  join(PROJECT_ROOT, "local", "demo", f)
);

/** A hash of what the bundle depends on: the entry, shared/, the config, the lock, Deno. */
export async function bundleKey(): Promise<string> {
  const inputs = [
    DEMO_ENTRY,
    ...DEMO_MODULES,
    ...await files(join(PROJECT_ROOT, "shared")),
    join(PROJECT_ROOT, "deno.json"),
    join(PROJECT_ROOT, "deno.lock"),
  ];
  const parts: Uint8Array[] = [new TextEncoder().encode(Deno.version.deno)];
  for (const path of inputs) {
    parts.push(new TextEncoder().encode(path));
    parts.push(await Deno.readFile(path).catch(() => new Uint8Array()));
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    all.set(p, offset);
    offset += p.length;
  }
  const digest = await crypto.subtle.digest("SHA-256", all);
  return hex(new Uint8Array(digest).slice(0, 16));
}

/** A built bundle. */
export interface DemoBundle {
  code: string;
  key: string;
  /** True when it came from the cache. */
  cached: boolean;
}

/**
 * Returns the bundle from `<cacheDir>/app.js` when its key matches, else builds it with
 * `deno bundle` and caches it. Throws with the bundler's output when the build fails.
 */
export async function buildDemoBundle(cacheDir: string, knownKey?: string): Promise<DemoBundle> {
  const key = knownKey ?? await bundleKey();
  const out = join(cacheDir, "app.js");
  const keyFile = join(cacheDir, "app.js.key");
  const cachedKey = await Deno.readTextFile(keyFile).catch(() => null);
  if (cachedKey === key) {
    const code = await Deno.readTextFile(out).catch(() => null);
    if (code !== null) return { code, key, cached: true };
  }
  await Deno.mkdir(cacheDir, { recursive: true });
  const tmp = join(cacheDir, `app.${crypto.randomUUID()}.js`);
  const result = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--platform",
      "browser",
      "--config",
      join(PROJECT_ROOT, "deno.json"),
      "--output",
      tmp,
      DEMO_ENTRY,
    ],
    cwd: PROJECT_ROOT,
    env: { DENO_NO_PACKAGE_JSON: "1", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (result.code !== 0) {
    await Deno.remove(tmp).catch(() => {});
    const text = new TextDecoder().decode(result.stderr) + new TextDecoder().decode(result.stdout);
    throw new Error(`deno bundle failed:\n${text.trim()}`);
  }
  await Deno.rename(tmp, out);
  await Deno.writeTextFile(keyFile, key);
  return { code: await Deno.readTextFile(out), key, cached: false };
}
