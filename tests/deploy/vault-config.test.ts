/**
 * The retry cron's Vault secrets from `supabase/config.toml` `[db.vault]`, as docs/operations.md
 * tells operators to deploy them: `supabase db push` with `SMS_PROJECT_URL` and
 * `PROCESS_RETRIES_SECRET` in the environment.
 *
 * The CLI upserts `[db.vault]` only when it applies migrations (github.com/supabase/cli,
 * apps/cli-go/internal/db/push/push.go: `vault.UpsertVaultSecrets` inside `len(pending) > 0`;
 * pkg/vault/batch.go), and skips a value whose `env(…)` variable is unset. Runs against a
 * throwaway database on the test stack's cluster, with the platform stand-ins and a one-line
 * migration of its own (the project's migrations are beside the point here).
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { join, PROJECT_ROOT } from "@local/paths.ts";
import { db, stack } from "../support/stack.ts";

const CLI = join(PROJECT_ROOT, "node_modules", ".bin", "supabase");

async function copyDir(src: string, dest: string, skip: (name: string) => boolean) {
  await Deno.mkdir(dest, { recursive: true });
  for await (const e of Deno.readDir(src)) {
    if (skip(e.name)) continue;
    if (e.isDirectory) await copyDir(join(src, e.name), join(dest, e.name), skip);
    else if (e.isFile) await Deno.copyFile(join(src, e.name), join(dest, e.name));
  }
}

Deno.test("db push writes [db.vault] from the environment when it applies migrations", async () => {
  const name = `vault_cfg_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const admin = db(1);
  const work = await Deno.makeTempDir({ prefix: "sms-vault-" });
  await admin.unsafe(`create database ${name}`);
  const url = new URL(stack().dbUrl);
  url.pathname = `/${name}`;
  const target = postgres(url.href, { max: 1, onnotice: () => {} });
  try {
    // The platform's stand-ins are the platform's superuser's to apply.
    const platformUrl = new URL(stack().adminDbUrl);
    platformUrl.pathname = `/${name}`;
    const platform = postgres(platformUrl.href, { max: 1, onnotice: () => {} });
    await platform.file(join(PROJECT_ROOT, "local", "platform.sql")).finally(() => platform.end());
    const project = join(work, "project");
    await copyDir(
      join(PROJECT_ROOT, "supabase"),
      join(project, "supabase"),
      (n) => n === ".temp" || n === "migrations" || n === "tests",
    );
    const migrations = join(project, "supabase", "migrations");
    await Deno.mkdir(migrations);
    const home = join(work, "home");
    await Deno.mkdir(home);

    const push = async (env: Record<string, string>) => {
      const out = await new Deno.Command(CLI, {
        args: ["db", "push", `--remote=${url.href}`, "--yes"],
        cwd: project,
        clearEnv: true,
        env: {
          HOME: home,
          PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
          DO_NOT_TRACK: "1",
          SUPABASE_TELEMETRY_DISABLED: "1",
          HTTP_PROXY: "http://127.0.0.1:9",
          HTTPS_PROXY: "http://127.0.0.1:9",
          NO_PROXY: "127.0.0.1,localhost",
          ...env,
        },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, text);
      return text;
    };
    const vault = async () =>
      Object.fromEntries(
        (await target<{ name: string; decrypted_secret: string }[]>`
          select name, decrypted_secret from vault.decrypted_secrets order by name`)
          .map((r) => [r.name, r.decrypted_secret]),
      );

    // Unset variables are skipped: nothing is written, the push still succeeds.
    await Deno.writeTextFile(join(migrations, "20990101000000_one.sql"), "select 1;\n");
    await push({});
    assert.deepEqual(await vault(), {});

    // The first deploy: migrations pending, both variables set.
    await Deno.writeTextFile(join(migrations, "20990101000001_two.sql"), "select 2;\n");
    const first = await push({
      SMS_PROJECT_URL: "https://abcdefghijklmnopqrst.supabase.co",
      PROCESS_RETRIES_SECRET: "first-secret",
    });
    assert.match(first, /Updating vault secrets/);
    assert.deepEqual(await vault(), {
      process_retries_secret: "first-secret",
      project_url: "https://abcdefghijklmnopqrst.supabase.co",
    });

    // Nothing pending: a new value is NOT written (why operations.md rotates with SQL).
    await push({
      SMS_PROJECT_URL: "https://abcdefghijklmnopqrst.supabase.co",
      PROCESS_RETRIES_SECRET: "second-secret",
    });
    assert.equal((await vault()).process_retries_secret, "first-secret");

    // The next push that applies a migration updates it in place (one row per name).
    await Deno.writeTextFile(join(migrations, "20990101000002_three.sql"), "select 3;\n");
    await push({
      SMS_PROJECT_URL: "https://abcdefghijklmnopqrst.supabase.co",
      PROCESS_RETRIES_SECRET: "third-secret",
    });
    assert.equal((await vault()).process_retries_secret, "third-secret");
    const [{ n }] = await target<{ n: number }[]>`select count(*)::int as n from vault.secrets`;
    assert.equal(n, 2);
  } finally {
    await target.end({ timeout: 5 });
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.end({ timeout: 5 });
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
});
