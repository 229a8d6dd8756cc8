/**
 * The Deno the functions run on: the version Supabase's edge runtime embeds, not the tooling's.
 *
 * supabase/edge-runtime pins its Deno in `deno/Cargo.toml` (docs/decisions.md names the release).
 * package.json installs that release's Linux binary as `edge-deno` (npm
 * `@deno/linux-x64-glibc`, an optional dependency: the stack runs on Debian only). Tests, bench
 * and tooling keep the newer `deno` package.
 */
import { join, PROJECT_ROOT } from "./paths.ts";

/** Path of the edge Deno binary; throws with what to install when it is missing. */
export function edgeDenoPath(): string {
  const path = join(PROJECT_ROOT, "node_modules", "edge-deno", "deno");
  try {
    Deno.statSync(path);
  } catch {
    throw new Error(
      `the edge runtime's Deno is not installed (${path}); run \`npm ci\` on Linux x64 ` +
        "(package.json optionalDependencies.edge-deno)",
    );
  }
  return path;
}

/** The version package.json pins for the functions' Deno (e.g. "2.1.4"). */
export function edgeDenoVersion(): string {
  const pkg = JSON.parse(Deno.readTextFileSync(join(PROJECT_ROOT, "package.json")));
  const spec: string = pkg.optionalDependencies?.["edge-deno"] ?? "";
  const version = /@(\d+\.\d+\.\d+)$/.exec(spec)?.[1];
  if (!version) throw new Error(`package.json: edge-deno is not pinned to a version (${spec})`);
  return version;
}
