/**
 * The local platform stand-ins are as strict as hosted Supabase: the migrations role is not a
 * superuser, pg_net refuses what the real pg_net refuses, and Vault, pg_cron and the extensions
 * carry hosted's owners and grants (local/platform.sql cites the sources).
 *
 * By default this runs against the test stack, as `postgres`. Set `PLATFORM_FIDELITY_DB_URL` to a
 * `postgres` URL on a database with the REAL pg_net and supabase_vault (hosted, or one built from
 * source, see docs/decisions.md) and the same assertions must hold there: nothing here depends on
 * the stand-ins' internals. Every check runs in a transaction that is rolled back, so no request
 * is ever sent and no secret or job is left behind.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { stack } from "../support/stack.ts";

const URL_OVERRIDE = Deno.env.get("PLATFORM_FIDELITY_DB_URL");
const dbUrl = () => URL_OVERRIDE ?? stack().dbUrl;

class Rollback extends Error {}

/** Runs `fn` in a transaction as the URL's user (postgres) and always rolls it back. */
async function rolledBack(fn: (tx: postgres.TransactionSql) => Promise<void>): Promise<void> {
  const sql = postgres(dbUrl(), { max: 1, onnotice: () => {} });
  try {
    await sql.begin(async (tx) => {
      await fn(tx);
      throw new Rollback();
    }).catch((e) => {
      if (!(e instanceof Rollback)) throw e;
    });
  } finally {
    await sql.end();
  }
}

/** The error a statement raises inside a savepoint (so the transaction goes on), or null. */
async function failure(
  tx: postgres.TransactionSql,
  run: (sp: postgres.TransactionSql) => Promise<unknown>,
): Promise<{ code: string; message: string } | null> {
  try {
    await tx.savepoint(async (sp) => {
      await run(sp);
    });
    return null;
  } catch (e) {
    const err = e as { code?: string; message: string };
    return { code: err.code ?? "", message: err.message };
  }
}

async function asRole<T>(
  tx: postgres.TransactionSql,
  role: string,
  run: (sp: postgres.TransactionSql) => Promise<T>,
): Promise<{ code: string; message: string } | null> {
  return await failure(tx, async (sp) => {
    await sp.unsafe(`set local role ${role}`);
    try {
      await run(sp);
    } finally {
      await sp`reset role`.catch(() => {});
    }
  });
}

const PERMISSION_DENIED = "42501";

interface QueuedRequest {
  method: string;
  url: string;
  headers: Record<string, string> | null;
  body: Uint8Array | null;
}

/** The queued request (pg_net's queue table, readable by everyone in pg_net 0.12+). */
async function queuedRow(tx: postgres.TransactionSql, id: string): Promise<QueuedRequest> {
  const [row] = await tx<QueuedRequest[]>`
    select method, url, headers, body from net.http_request_queue where id = ${id}::bigint`;
  assert.ok(row, `request ${id} is queued`);
  return row;
}

Deno.test("the migrations role is postgres with hosted's attributes, not a superuser", async () => {
  await rolledBack(async (tx) => {
    const [me] = await tx<
      {
        user: string;
        rolsuper: boolean;
        rolcreaterole: boolean;
        rolcreatedb: boolean;
        rolreplication: boolean;
        rolbypassrls: boolean;
        is_superuser: string;
      }[]
    >`
      select current_user as user, rolsuper, rolcreaterole, rolcreatedb, rolreplication,
             rolbypassrls, current_setting('is_superuser') as is_superuser
        from pg_roles where rolname = current_user`;
    assert.equal(me.user, "postgres");
    assert.equal(me.rolsuper, false, "postgres is not a superuser");
    assert.equal(me.is_superuser, "off");
    assert.deepEqual(
      [me.rolcreaterole, me.rolcreatedb, me.rolreplication, me.rolbypassrls],
      [true, true, true, true],
      "CREATEROLE CREATEDB REPLICATION BYPASSRLS (demote-postgres.sql)",
    );

    const members = await tx<{ role: string }[]>`
      select r.rolname as role from pg_auth_members m join pg_roles r on r.oid = m.roleid
       where m.member = 'postgres'::regrole order by 1`;
    const names = members.map((m) => m.role);
    for (const r of ["anon", "authenticated", "service_role", "pg_read_all_data"]) {
      assert.ok(names.includes(r), `postgres is a member of ${r}`);
    }
    for (const r of ["supabase_admin", "supabase_auth_admin", "supabase_storage_admin"]) {
      assert.ok(!names.includes(r), `postgres is not a member of ${r}`);
    }

    const superOnly = await failure(tx, (sp) => sp`select pg_read_file('PG_VERSION')`);
    assert.equal(superOnly?.code, PERMISSION_DENIED, "reading server files is the platform's");
    const untrusted = await failure(tx, (sp) => sp`create extension if not exists file_fdw`);
    assert.ok(untrusted, "an extension outside hosted's allow-list cannot be created");
  });
});

Deno.test("extensions and the platform's schemas belong to supabase_admin", async () => {
  await rolledBack(async (tx) => {
    const exts = await tx<{ extname: string; owner: string; schema: string }[]>`
      select extname, extowner::regrole::text as owner, extnamespace::regnamespace::text as schema
        from pg_extension where extname in ('pg_cron', 'pgcrypto', 'pgtap', 'uuid-ossp')`;
    const byName = Object.fromEntries(exts.map((e) => [e.extname, e]));
    for (const name of ["pg_cron", "pgcrypto"]) {
      assert.equal(byName[name]?.owner, "supabase_admin", `${name} is owned by supabase_admin`);
    }
    assert.equal(byName.pg_cron.schema, "pg_catalog", "pg_cron lives in pg_catalog (supautils)");
    assert.equal(byName.pgcrypto.schema, "extensions");

    const schemas = await tx<{ nspname: string; owner: string }[]>`
      select nspname, nspowner::regrole::text as owner from pg_namespace
       where nspname in ('auth', 'cron', 'net', 'vault') order by 1`;
    assert.deepEqual(schemas.map((s) => s.nspname), ["auth", "cron", "net", "vault"]);
    for (const s of schemas) assert.equal(s.owner, "supabase_admin", `${s.nspname}'s owner`);

    const [auth] = await tx<{ create: boolean; usage: boolean; users: boolean }[]>`
      select has_schema_privilege('auth', 'CREATE') as create,
             has_schema_privilege('auth', 'USAGE') as usage,
             has_table_privilege('auth.users', 'INSERT, UPDATE, DELETE, REFERENCES, TRIGGER')
               as users`;
    assert.deepEqual(
      auth,
      { create: false, usage: true, users: true },
      "postgres uses auth's tables but creates nothing in auth",
    );
  });
});

Deno.test("pg_cron: postgres schedules its own jobs and only reads cron.job", async () => {
  await rolledBack(async (tx) => {
    const job = `fidelity-${crypto.randomUUID()}`;
    const [row] = await tx<{ id: string }[]>`
      select cron.schedule(${job}, '* * * * *', 'select 1')::text as id`;
    assert.ok(row.id, "cron.schedule works for postgres");
    const [owned] = await tx`select username from cron.job where jobname = ${job}`;
    assert.equal(owned.username, "postgres");
    const write = await failure(
      tx,
      (sp) => sp`update cron.job set active = false where jobname = ${job}`,
    );
    assert.equal(write?.code, PERMISSION_DENIED, "cron.job is select-only for postgres");
    const insert = await failure(
      tx,
      (sp) => sp`insert into cron.job (schedule, command) values ('* * * * *', 'select 1')`,
    );
    assert.equal(insert?.code, PERMISSION_DENIED);
    const [priv] = await tx`
      select has_table_privilege('cron.job_run_details', 'SELECT') as sel,
             has_table_privilege('cron.job_run_details', 'TRIGGER') as trig`;
    assert.deepEqual({ ...priv }, { sel: true, trig: false });
    await tx`select cron.unschedule(${job})`;
  });
});

Deno.test("pg_net: http_post refuses a Content-Type other than application/json", async () => {
  await rolledBack(async (tx) => {
    for (
      const headers of [
        { "Content-Type": "text/plain" },
        { "content-type": "application/x-www-form-urlencoded" },
        { "Content-Type": "application/json; charset=utf-8" },
        { "Content-Type": "APPLICATION/JSON" },
      ]
    ) {
      const err = await failure(
        tx,
        (sp) =>
          sp`select net.http_post('http://example.test/hook', '{}'::jsonb, '{}'::jsonb,
                                ${sp.json(headers)}::jsonb)`,
      );
      assert.ok(err, `refused: ${JSON.stringify(headers)}`);
      assert.equal(err.message, 'Content-Type header must be "application/json"');
    }

    const queued = async (headers: unknown) => {
      const [{ id }] = await tx<{ id: string }[]>`
        select net.http_post('http://example.test/hook', '{"a": 1}'::jsonb, '{}'::jsonb,
                             ${headers === null ? null : tx.json(headers as never)}::jsonb)::text
               as id`;
      return await queuedRow(tx, id);
    };
    assert.deepEqual((await queued({ "content-type": "application/json", "X-A": "1" })).headers, {
      "content-type": "application/json",
      "X-A": "1",
    }, "the header name is matched in any case");
    assert.deepEqual((await queued({ Authorization: "Bearer x" })).headers, {
      Authorization: "Bearer x",
      "Content-Type": "application/json",
    }, "a missing Content-Type is added as application/json");
    assert.equal((await queued({})).method, "POST");
    assert.equal((await queued(null)).headers, null, "null headers stay null (pg_net's quirk)");
  });
});

Deno.test("pg_net: URLs, params and the other arguments are checked as pg_net checks them", async () => {
  await rolledBack(async (tx) => {
    const urlOf = async (url: string, params: Record<string, string>) => {
      const [{ id }] = await tx<{ id: string }[]>`
        select net.http_post(${url}, '{}'::jsonb, ${tx.json(params)}::jsonb)::text as id`;
      return (await queuedRow(tx, id)).url;
    };
    assert.equal(
      await urlOf("http://example.test/hook", { "a b": "c&d=é", x: "1" }),
      "http://example.test/hook?x=1&a%20b=c%26d%3d%c3%a9",
      "params are percent-encoded and appended in jsonb's key order (curl writes lower-case hex)",
    );
    assert.equal(
      await urlOf("HTTP://Example.TEST", {}),
      "http://Example.TEST/",
      "curl lower-cases the scheme and gives an empty path /",
    );
    assert.equal(await urlOf("http://example.test/x?", { a: "1" }), "http://example.test/x?a=1");
    assert.equal(
      await urlOf("http://example.test/x#frag", { a: "1" }),
      "http://example.test/x?a=1#frag",
      "params go before the fragment",
    );
    assert.equal(
      await urlOf("https://example.test/hook?y=2", { x: "1" }),
      "https://example.test/hook?y=2&x=1",
      "to an existing query with &",
    );
    assert.equal(await urlOf("http://example.test/a/b", {}), "http://example.test/a/b");

    for (
      const bad of [
        "not a url",
        "example.test/hook",
        "",
        "http://",
        "localhost:80/x",
        "http://h/a b",
      ]
    ) {
      const err = await failure(tx, (sp) => sp`select net.http_post(${bad})`);
      assert.ok(err, `refused URL ${JSON.stringify(bad)}`);
      assert.match(err.message, /invalid URL/);
    }
    const noUrl = await failure(tx, (sp) => sp`select net.http_post(null)`);
    assert.equal(noUrl?.code, "23502", "a null URL violates the queue's not-null");
    const noTimeout = await failure(
      tx,
      (sp) => sp`select net.http_post('http://example.test/', timeout_milliseconds => null)`,
    );
    assert.equal(noTimeout?.code, "23502", "a null timeout too");

    for (
      const sig of [
        "net.http_post(text, jsonb, jsonb, jsonb, integer)",
        "net.http_get(text, jsonb, jsonb, integer)",
        "net.http_delete(text, jsonb, jsonb, integer, jsonb)",
      ]
    ) {
      const [f] = await tx`select to_regprocedure(${sig}) is not null as ok`;
      assert.equal(f.ok, true, `${sig} exists`);
    }
    const [{ id }] = await tx<{ id: string }[]>`
      select net.http_get('http://example.test/', '{"q": "1"}'::jsonb)::text as id`;
    const get = await queuedRow(tx, id);
    assert.deepEqual([get.method, get.body, get.url], ["GET", null, "http://example.test/?q=1"]);
  });
});

Deno.test("pg_net: who may queue requests (pg_net 0.12+ with hosted's grants)", async () => {
  await rolledBack(async (tx) => {
    for (const role of ["postgres", "service_role", "authenticated", "anon"]) {
      const err = await asRole(
        tx,
        role,
        (sp) => sp`select net.http_post('http://example.test/' || ${role})`,
      );
      assert.equal(err, null, `${role} may call net.http_post`);
    }
    const [f] = await tx`
      select p.prosecdef from pg_proc p
       where p.oid = 'net.http_post(text, jsonb, jsonb, jsonb, integer)'::regprocedure`;
    assert.equal(f.prosecdef, false, "http_post runs with the caller's rights");
  });
});

Deno.test("vault: postgres and service_role use the functions and the view; nobody writes the table", async () => {
  await rolledBack(async (tx) => {
    const name = `fidelity-${crypto.randomUUID()}`;
    const [created] = await tx<{ id: string }[]>`
      select vault.create_secret('s3cret value ✓', ${name}, 'test')::text as id`;
    const [row] = await tx<{ secret: string; decrypted_secret: string }[]>`
      select secret, decrypted_secret from vault.decrypted_secrets where id = ${created.id}`;
    assert.equal(row.decrypted_secret, "s3cret value ✓");
    assert.notEqual(row.secret, "s3cret value ✓", "the table does not hold the plain text");

    await tx`select vault.update_secret(${created.id}::uuid, 'new value')`;
    const [updated] = await tx`
      select decrypted_secret from vault.decrypted_secrets where id = ${created.id}`;
    assert.equal(updated.decrypted_secret, "new value");

    for (const role of ["postgres", "service_role"]) {
      const write = await asRole(
        tx,
        role,
        (sp) => sp`insert into vault.secrets (secret, name) values ('x', ${name + role})`,
      );
      assert.equal(write?.code, PERMISSION_DENIED, `${role} cannot insert into vault.secrets`);
      const update = await asRole(
        tx,
        role,
        (sp) => sp`update vault.secrets set description = 'x' where id = ${created.id}`,
      );
      assert.equal(update?.code, PERMISSION_DENIED, `${role} cannot update vault.secrets`);
      const read = await asRole(
        tx,
        role,
        (sp) => sp`select decrypted_secret from vault.decrypted_secrets where id = ${created.id}`,
      );
      assert.equal(read, null, `${role} reads vault.decrypted_secrets (hosted's grant)`);
      const create = await asRole(
        tx,
        role,
        (sp) => sp`select vault.create_secret('v', ${`${name}-${role}`})`,
      );
      assert.equal(create, null, `${role} may call vault.create_secret`);
    }

    for (const role of ["anon", "authenticated"]) {
      for (
        const stmt of [
          "select decrypted_secret from vault.decrypted_secrets",
          "select secret from vault.secrets",
          "select vault.create_secret('v')",
        ]
      ) {
        const err = await asRole(tx, role, (sp) => sp.unsafe(stmt));
        assert.equal(err?.code, PERMISSION_DENIED, `${role}: ${stmt}`);
      }
    }

    const [deleted] = await tx`
      with d as (delete from vault.secrets where id = ${created.id} returning 1)
      select count(*)::int as n from d`;
    assert.equal(deleted.n, 1, "postgres may delete secrets");
  });
});
