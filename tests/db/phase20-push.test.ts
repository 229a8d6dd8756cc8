/**
 * `supabase db push` onto the app the channel extends: a scratch database gets the platform
 * stand-ins and the app's own phase-20 schema with data (tests/fixtures/phase20/schema.sql), then
 * the real CLI pushes every migration in supabase/migrations over it, as an operator would. The
 * push must succeed and keep every row: email logs keep their Resend ids (now inside the JSONB),
 * customers their app columns, and the SMS objects exist afterwards.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { join, PROJECT_ROOT } from "@local/paths.ts";
import { db, stack } from "../support/stack.ts";

const SUPABASE = join(PROJECT_ROOT, "node_modules", ".bin", "supabase");

function urlFor(base: string, database: string): string {
  const url = new URL(base);
  url.pathname = `/${database}`;
  return url.toString();
}

Deno.test("db push over an existing phase-20 project succeeds and keeps its data", async () => {
  const info = stack() as ReturnType<typeof stack> & { adminDbUrl?: string };
  const name = `phase20_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const admin = info.adminDbUrl ? postgres(info.adminDbUrl, { max: 1, onnotice: () => {} }) : db(1);
  await admin.unsafe(`create database ${name}`);
  // The platform's parts are the platform's to make (the superuser), the app's schema the app's.
  const platform = postgres(urlFor(info.adminDbUrl ?? info.dbUrl, name), {
    max: 1,
    onnotice: () => {},
  });
  const url = urlFor(info.dbUrl, name);
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await platform.file(join(PROJECT_ROOT, "local", "platform.sql"));
    await platform.end();
    await sql.file(join(PROJECT_ROOT, "tests", "fixtures", "phase20", "schema.sql"));

    const push = await new Deno.Command(SUPABASE, {
      args: ["db", "push", "--db-url", url, "--include-all", "--yes"],
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
      select to_regclass('public.sms_retry_queue')::text as queue,
             (select count(*)::int from information_schema.columns
               where table_schema = 'public' and table_name = 'customers'
                 and column_name = 'time_zone') as zone,
             (select count(*)::int from pg_policies
               where policyname = 'app: members see customers') as app_policy,
             (select count(*)::int from supabase_migrations.schema_migrations) as migrations`;
    assert.deepEqual(objects, {
      queue: "sms_retry_queue",
      zone: 1,
      app_policy: 1,
      migrations: applied.length,
    });
  } finally {
    await sql.end();
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
});
