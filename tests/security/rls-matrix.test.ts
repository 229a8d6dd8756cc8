/**
 * The RLS and grants matrix: every table, view and function in `public`, enumerated from the
 * catalog, checked for anon, a user of another business and a member of the owning business
 * against an explicit allow-list. A new relation or function fails this test until it is given
 * an entry here, so nothing slips through unreviewed.
 */
import assert from "node:assert/strict";
import type postgres from "postgres";
import { db, stack } from "../support/stack.ts";

type Op = "select" | "insert" | "update" | "delete";
const OPS: Op[] = ["select", "insert", "update", "delete"];

/** What a member may do to their own business's rows, per relation. Anon: nothing, anywhere. */
const MEMBER_MAY: Record<string, Op[]> = {
  businesses: ["select", "update"],
  business_members: ["select"],
  customers: ["select", "insert", "update", "delete"],
  // A security_invoker view over customers: the same rights, decided by customers' policies.
  contacts: ["select", "insert", "update", "delete"],
  // Email rows only (policies check channel = 'email'); SMS rows are written by the functions.
  send_logs: ["select", "insert", "update"],
  scheduled_sends: ["select", "insert", "update", "delete"],
  sms_consent_events: ["select"],
  sms_idempotency_keys: ["select"],
  sms_inbound_messages: ["select"],
  sms_message_events: ["select"],
  // Hourly counters behind the daily quota, kept by a trigger: nobody but the owner touches them.
  sms_quota_usage: [],
  sms_retry_queue: ["select"],
  sms_send_pacing: [],
  worker_heartbeats: [],
  worker_health: [],
};

/** Functions a signed-in user may execute (pure helpers); every other one is service-only. */
const AUTHENTICATED_MAY_EXECUTE = new Set([
  "sms_status_rank(text)",
  "sms_log_status_for(text)",
  "provider_message_ids_from_text(text)",
]);

interface Relation {
  name: string;
  kind: string;
  rls: boolean;
  businessColumn: string | null;
}

async function relations(sql: postgres.Sql): Promise<Relation[]> {
  return await sql<Relation[]>`
    select c.relname as name, c.relkind as kind, c.relrowsecurity as rls,
           (select a.attname from pg_attribute a
             where a.attrelid = c.oid and not a.attisdropped
               and a.attname = case when c.relname = 'businesses' then 'id' else 'business_id' end
           ) as "businessColumn"
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = 'public' and c.relkind in ('r', 'v', 'm', 'p', 'f')
     order by c.relname`;
}

/** Ops `role` can actually perform: granted, and (for RLS tables) given a policy. */
async function effectiveOps(sql: postgres.Sql, rel: Relation, role: string): Promise<Op[]> {
  const ops: Op[] = [];
  for (const op of OPS) {
    const [g] = await sql`select has_table_privilege(${role}, ${"public." + rel.name}, ${op})
                            as granted`;
    if (!g.granted) continue;
    if (rel.kind !== "r" && rel.kind !== "p") {
      ops.push(op);
      continue;
    }
    const cmd = { select: "r", insert: "a", update: "w", delete: "d" }[op];
    const [p] = await sql`
      select exists (
        select 1 from pg_policy pol
         where pol.polrelid = ${"public." + rel.name}::regclass
           and pol.polcmd in (${cmd}, '*')
           and (0 = any(pol.polroles)
                or (select oid from pg_roles where rolname = ${role}) = any(pol.polroles))
      ) as has`;
    if (!rel.rls || p.has) ops.push(op);
  }
  return ops;
}

Deno.test("every public relation is in the allow-list, and RLS is on for every table", async () => {
  const sql = db();
  try {
    const rels = await relations(sql);
    const names = rels.map((r) => r.name);
    assert.deepEqual(
      names.filter((n) => !(n in MEMBER_MAY)),
      [],
      "relations missing from the allow-list",
    );
    assert.deepEqual(
      Object.keys(MEMBER_MAY).filter((n) => !names.includes(n)),
      [],
      "allow-list entries for relations that no longer exist",
    );
    for (const r of rels.filter((r) => r.kind === "r" || r.kind === "p")) {
      assert.ok(r.rls, `RLS is enabled on ${r.name}`);
    }
  } finally {
    await sql.end();
  }
});

Deno.test("anon can do nothing; authenticated exactly what the allow-list says", async () => {
  const sql = db();
  try {
    for (const rel of await relations(sql)) {
      assert.deepEqual(await effectiveOps(sql, rel, "anon"), [], `anon on ${rel.name}`);
      assert.deepEqual(
        await effectiveOps(sql, rel, "authenticated"),
        MEMBER_MAY[rel.name] ?? [],
        `authenticated on ${rel.name}`,
      );
    }
  } finally {
    await sql.end();
  }
});

Deno.test("functions: anon executes none; authenticated only the allow-listed helpers", async () => {
  const sql = db();
  try {
    const fns = await sql<
      { sig: string; anon: boolean; auth: boolean; definer: boolean; config: string[] | null }[]
    >`
      select regexp_replace(p.oid::regprocedure::text, '^public\\.', '') as sig,
             has_function_privilege('anon', p.oid, 'execute') as anon,
             has_function_privilege('authenticated', p.oid, 'execute') as auth,
             p.prosecdef as definer, p.proconfig as config
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
       where n.nspname = 'public'
         and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')`;
    assert.ok(fns.length > 20, "the catalog lists the project's functions");
    for (const f of fns) {
      assert.equal(f.anon, false, `anon may execute ${f.sig}`);
      assert.equal(f.auth, AUTHENTICATED_MAY_EXECUTE.has(f.sig), `authenticated on ${f.sig}`);
      if (f.definer) {
        assert.ok(
          f.config?.includes('search_path=""') || f.config?.includes("search_path="),
          `${f.sig} is security definer and pins search_path`,
        );
      }
    }
  } finally {
    await sql.end();
  }
});

/** Runs `fn` as a signed-in user in a transaction that is always rolled back. */
async function asUserRolledBack(
  sql: postgres.Sql,
  userId: string | null,
  fn: (tx: postgres.TransactionSql) => Promise<void>,
) {
  await sql.begin(async (tx) => {
    const claims = userId ? { sub: userId, role: "authenticated" } : { role: "anon" };
    await tx`select set_config('role', ${userId ? "authenticated" : "anon"}, true),
                    set_config('request.jwt.claims', ${JSON.stringify(claims)}, true)`;
    await fn(tx);
    throw new Error("rollback");
  }).catch((e) => {
    if (e.message !== "rollback") throw e;
  });
}

/** Rows affected, or 0 when the statement is refused outright. */
async function affected(tx: postgres.TransactionSql, query: string): Promise<number> {
  await tx`savepoint probe`;
  try {
    const r = await tx.unsafe(query);
    await tx`release savepoint probe`;
    return r.count;
  } catch (e) {
    await tx`rollback to savepoint probe`;
    if ((e as { code?: string }).code === "42501") return 0;
    throw e;
  }
}

Deno.test("behaviour: another business's user and anon reach none of a business's rows", async () => {
  const info = stack();
  const [a, b] = info.seed.businesses;
  const sql = db();
  try {
    for (const rel of await relations(sql)) {
      if (!rel.businessColumn) continue;
      const col = rel.businessColumn;
      const owned = `from public.${rel.name} where ${col} = '${a.id}'`;
      const [own] = await sql.unsafe(`select count(*)::int as n ${owned}`);
      for (const [who, userId] of [["B's user", b.users[0].id], ["anon", null]] as const) {
        await asUserRolledBack(sql, userId, async (tx) => {
          const seen = await affected(tx, `select 1 ${owned}`);
          assert.equal(seen, 0, `${who} reads A's ${rel.name}`);
          const set = `${col} = ${col}`;
          assert.equal(
            await affected(tx, `update public.${rel.name} set ${set} where ${col} = '${a.id}'`),
            0,
            `${who} updates A's ${rel.name}`,
          );
          assert.equal(await affected(tx, `delete ${owned}`), 0, `${who} deletes A's ${rel.name}`);
        });
      }
      // The member sees all of their business's rows where the allow-list lets them read.
      if ((MEMBER_MAY[rel.name] ?? []).includes("select") && own.n > 0) {
        await asUserRolledBack(sql, a.users[0].id, async (tx) => {
          assert.equal(await affected(tx, `select 1 ${owned}`), own.n, `A reads its ${rel.name}`);
        });
      }
    }
  } finally {
    await sql.end();
  }
});
