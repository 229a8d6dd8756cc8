/**
 * Which migration files a kept local database was built from. Until the first release the
 * migrations are edited in place (docs/decisions.md), and `supabase db push` skips a version the
 * database already has: a database kept from an earlier checkout would silently keep the earlier
 * bodies of edited functions (a process-retries run failing every minute on a function it no
 * longer finds, for one). The stack records each file's digest beside the cluster and refuses to
 * reuse the cluster once a file it was built from has changed.
 *
 * @module
 */
import { hex } from "@shared/text/hex.ts";
import { join, PROJECT_ROOT } from "./paths.ts";

const MIGRATIONS_DIR = join(PROJECT_ROOT, "supabase", "migrations");
const RECORD_FILE = "migrations.json";

/** SHA-256 of each migration file, by file name. */
export async function migrationDigests(dir = MIGRATIONS_DIR): Promise<Record<string, string>> {
  const digests: Record<string, string> = {};
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile || !entry.name.endsWith(".sql")) continue;
    const bytes = await Deno.readFile(join(dir, entry.name));
    digests[entry.name] = hex(await crypto.subtle.digest("SHA-256", bytes));
  }
  return digests;
}

/**
 * The migrations the database in `stateDir` was built from whose files differ now (none when it
 * has no record yet: a database from before the record was kept is taken as it is).
 */
export async function changedMigrations(
  stateDir: string,
  current: Record<string, string>,
): Promise<string[]> {
  let recorded: Record<string, string>;
  try {
    recorded = JSON.parse(await Deno.readTextFile(join(stateDir, RECORD_FILE)));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  return Object.keys(recorded)
    .filter((name) => name in current && current[name] !== recorded[name])
    .sort();
}

/** Records the files the database in `stateDir` now holds. */
export async function recordMigrations(
  stateDir: string,
  current: Record<string, string>,
): Promise<void> {
  await Deno.writeTextFile(join(stateDir, RECORD_FILE), JSON.stringify(current, null, 2) + "\n");
}
