/**
 * The send_logs migration on a database that already has email send logs: in a scratch database,
 * the base schema is applied, legacy rows with text provider ids are written, then the real
 * migration file runs. Every old id must survive verbatim under `resend_id`, every old row becomes
 * `email`, and customer_id mirrors contact_id.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { db, stack } from "../support/stack.ts";
import { join, PROJECT_ROOT } from "@local/paths.ts";

const MIGRATIONS = join(PROJECT_ROOT, "supabase", "migrations");
const BASE = "20261125000000_base_schema.sql";
const UNDER_TEST = "20261126000100_send_logs.sql";

const LEGACY_IDS: (string | null)[] = [
  "re_seed_acme_0001",
  "4ef9a1c2-7e0e-4c3b-9a56-0a1b2c3d4e5f",
  "",
  "  padded  ",
  "with \"quotes\", \\backslashes\\ and 'apostrophes'",
  '{"resend_id": "looks like json"}',
  "null",
  "ünïcødé ✉️ 𝔪𝔞𝔦𝔩",
  "tab\tnew\nline",
  "x".repeat(5000),
  null,
];

Deno.test("the send_logs migration keeps every old provider id and backfills customer_id", async () => {
  const admin = db(1);
  const name = `migration_test_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  await admin.unsafe(`create database ${name}`);
  const url = new URL(stack().dbUrl);
  url.pathname = `/${name}`;
  const sql = postgres(url.toString(), { max: 1, onnotice: () => {} });
  // The platform prepares a database (as supabase_admin); migrations then run as postgres.
  const platformUrl = new URL(stack().adminDbUrl);
  platformUrl.pathname = `/${name}`;
  const platform = postgres(platformUrl.toString(), { max: 1, onnotice: () => {} });
  try {
    await platform.file(join(PROJECT_ROOT, "local", "platform.sql"));
    await platform.end();
    await sql.file(join(MIGRATIONS, BASE));

    const businessId = crypto.randomUUID();
    const customerId = crypto.randomUUID();
    await sql`insert into public.businesses (id, name) values (${businessId}, 'Legacy')`;
    await sql`insert into public.customers (id, business_id, name) values
      (${customerId}, ${businessId}, 'Old customer')`;
    const legacy = LEGACY_IDS.map((pid, i) => ({
      id: crypto.randomUUID(),
      pid,
      contact: i % 2 === 0 ? customerId : null,
      status: ["queued", "sent", "delivered", "bounced", "failed"][i % 5],
    }));
    for (const row of legacy) {
      await sql`
        insert into public.send_logs (id, business_id, contact_id, status, provider_message_id,
                                      subject)
        values (${row.id}, ${businessId}, ${row.contact}, ${row.status}, ${row.pid}, 'Old mail')`;
    }

    await sql.file(join(MIGRATIONS, UNDER_TEST));

    const [{ type }] = await sql<{ type: string }[]>`
      select format_type(atttypid, atttypmod) as type from pg_attribute
       where attrelid = 'public.send_logs'::regclass and attname = 'provider_message_id'`;
    assert.equal(type, "jsonb");
    const rows = await sql<
      {
        id: string;
        ids: Record<string, string> | null;
        resend: string | null;
        channel: string;
        customer_id: string | null;
        contact_id: string | null;
        status: string;
      }[]
    >`
      select id, provider_message_id as ids, provider_message_id ->> 'resend_id' as resend,
             channel, customer_id, contact_id, status
        from public.send_logs`;
    assert.equal(rows.length, legacy.length);
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const old of legacy) {
      const now = byId.get(old.id);
      assert.ok(now, `row ${old.id} survived`);
      assert.equal(now.resend, old.pid, `id ${JSON.stringify(old.pid)} kept verbatim`);
      if (old.pid === null) assert.equal(now.ids, null);
      else assert.deepEqual(Object.keys(now.ids ?? {}), ["resend_id"]);
      assert.equal(now.channel, "email");
      assert.equal(now.status, old.status);
      assert.equal(now.contact_id, old.contact);
      assert.equal(now.customer_id, old.contact, "customer_id mirrors contact_id");
    }
  } finally {
    await platform.end();
    await sql.end();
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
});
