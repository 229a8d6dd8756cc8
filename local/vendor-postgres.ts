/**
 * Copies postgres.js's runtime-neutral build (`cf/src` of the npm package pinned in deno.json)
 * into `shared/vendor/postgres/src`, changing one import: Stream comes from our
 * `polyfills.js` (Deno sockets) instead of node:stream. See shared/vendor/postgres/README.md.
 *
 * Usage: deno run -A local/vendor-postgres.ts (after changing the version in deno.json).
 * tests/shared/vendor-postgres.test.ts checks the copy is exactly this script's output.
 *
 * @module
 */
import { join, PROJECT_ROOT } from "./paths.ts";

/** Where the copy lives. */
export const VENDOR_DIR = join(PROJECT_ROOT, "shared", "vendor", "postgres");

/** The one line each file that imports it has changed. */
const STREAM_IMPORT = "import Stream from 'node:stream'";
const STREAM_POLYFILL = "import { Stream } from '../polyfills.js'";

/** The postgres.js version deno.json pins (`"postgres": "npm:postgres@x.y.z"`). */
export function pinnedVersion(): string {
  const config = JSON.parse(Deno.readTextFileSync(join(PROJECT_ROOT, "deno.json")));
  const spec = String(config.imports?.postgres ?? "");
  const version = spec.match(/^npm:postgres@(\d+\.\d+\.\d+)$/)?.[1];
  if (!version) throw new Error(`deno.json pins postgres as "${spec}", not npm:postgres@x.y.z`);
  return version;
}

/** The npm package's folder in Deno's cache (fetched by `deno cache` when missing). */
export async function packageDir(version: string): Promise<string> {
  const deno = Deno.execPath();
  const run = (args: string[]) => new Deno.Command(deno, { args, stdout: "piped" }).output();
  await run(["cache", "--no-lock", `npm:postgres@${version}`]);
  const info = JSON.parse(new TextDecoder().decode((await run(["info", "--json"])).stdout));
  return join(info.npmCache, "registry.npmjs.org", "postgres", version);
}

/** The vendored files (name → text) made from the package at `dir`. */
export function vendoredSources(dir: string): Map<string, string> {
  const src = join(dir, "cf", "src");
  const files = new Map<string, string>();
  for (const entry of Deno.readDirSync(src)) {
    if (!entry.isFile || !entry.name.endsWith(".js")) continue;
    files.set(
      entry.name,
      Deno.readTextFileSync(join(src, entry.name)).replaceAll(STREAM_IMPORT, STREAM_POLYFILL),
    );
  }
  return new Map([...files].sort(([a], [b]) => a.localeCompare(b)));
}

if (import.meta.main) {
  const version = pinnedVersion();
  const files = vendoredSources(await packageDir(version));
  const out = join(VENDOR_DIR, "src");
  await Deno.remove(out, { recursive: true }).catch(() => {});
  await Deno.mkdir(out, { recursive: true });
  for (const [name, text] of files) await Deno.writeTextFile(join(out, name), text);
  await Deno.writeTextFile(join(VENDOR_DIR, "VERSION"), `${version}\n`);
  console.log(`postgres.js ${version}: ${files.size} files in ${out}`);
}
