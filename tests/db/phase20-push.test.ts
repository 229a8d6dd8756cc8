/**
 * `supabase db push` onto the app the channel extends: a fresh cluster gets the platform
 * stand-ins and the app's own phase-20 schema with data (tests/fixtures/phase20/schema.sql), then
 * the real CLI pushes every migration in supabase/migrations over it, as an operator would. The
 * push must succeed and keep every row: email logs keep their Resend ids (now inside the JSONB),
 * customers their app columns, and the SMS objects exist afterwards.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { join, PROJECT_ROOT } from "@local/paths.ts";
import { freePort } from "@local/ports.ts";
import { initCluster, PLATFORM_SUPERUSER, startCluster, stopCluster } from "@local/postgres.ts";
import { dbUrl } from "@local/stack.ts";

const SUPABASE = join(PROJECT_ROOT, "node_modules", ".bin", "supabase");

Deno.test("db push over an existing phase-20 project succeeds and keeps its data", async () => {
  // A project of its own: pg_cron lives in one database per cluster (cron.database_name), and the
  // push must create everything a hosted project's `postgres` database gets.
  const dir = await Deno.makeTempDir({ prefix: "sms-phase20-" });
  await Deno.chmod(dir, 0o755);
  const dataDir = join(dir, "pg");
  const port = freePort();
  await initCluster({ dataDir, port });
  await startCluster({
    dataDir,
    port,
    extraConfig: { fsync: "off", synchronous_commit: "off", full_page_writes: "off" },
  });
  const url = dbUrl(port);
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    // The platform's parts are the platform's to make (its superuser), the app's schema the app's.
    const admin = postgres(dbUrl(port, PLATFORM_SUPERUSER), { max: 1, onnotice: () => {} });
    await admin.file(join(PROJECT_ROOT, "local", "platform.sql")).finally(() => admin.end());
    await sql.file(join(PROJECT_ROOT, "tests", "fixtures", "phase20", "schema.sql"));

    const push = await new Deno.Command(SUPABASE, {
      args: ["db", "push", `--remote=${url}`, "--include-all", "--yes"],
      cwd: PROJECT_ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(push.stdout) + new TextDecoder().decode(push.stderr);
    assert.equal(push.code, 0, `supabase db push failed:\n${out}`);
    const applied = out.split("\n").filter((l) => l.startsWith("Applying migration"));
    console.log(`db push over phase 20: ${applied.length} migrations applied`);

    const logs = await sql<
      { id: string; resend: string | null; channel: string; template: string | null }[]
    >`
      select id, provider_message_id ->> 'resend_id' as resend, channel, template
        from public.send_logs order by id`;
    assert.deepEqual(logs.map((l) => [l.resend, l.channel, l.template]), [
      ["re_4ef9a1c27e0e4c3b", "email", "review"],
      ["re_0a1b2c3d4e5f6a7b", "email", "welcome"],
      [null, "email", null],
    ]);
    const customers = await sql<{ name: string; notes: string | null; consent: string }[]>`
      select name, notes, sms_consent_status as consent from public.customers order by name`;
    assert.deepEqual(customers.map((c) => [c.name, c.notes, c.consent]), [
      ["Ada", "likes rye", "opted_in"],
      ["Bo", null, "unknown"],
    ]);
    const [{ plan }] = await sql<{ plan: string }[]>`select plan from public.businesses`;
    assert.equal(plan, "pro", "the app's own columns are untouched");
    // What the channel added is there: the SMS columns and tables, the app's policies kept.
    const [objects] = await sql<
      { queue: string | null; zone: number; app_policy: number; migrations: number }[]
    >`
      select to_regclass('sms.retry_queue')::text as queue,
             (select count(*)::int from information_schema.columns
               where table_schema = 'public' and table_name = 'customers'
                 and column_name = 'time_zone') as zone,
             (select count(*)::int from pg_policies
               where policyname = 'app: members see customers') as app_policy,
             (select count(*)::int from supabase_migrations.schema_migrations) as migrations`;
    assert.deepEqual(objects, {
      queue: "sms.retry_queue",
      zone: 1,
      app_policy: 1,
      migrations: applied.length,
    });
  } finally {
    await sql.end();
    await stopCluster(dataDir);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
