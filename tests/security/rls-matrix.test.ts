/**
 * The RLS and grants matrix, proved from the catalog: every table, view and function in `public`
 * (what PostgREST exposes) and in `sms` (the private schema of internals), checked for anon, a
 * user of another business and a member of the owning business against an explicit allow-list. A
 * new relation or function fails this test until it is given an entry here, so nothing slips
 * through unreviewed.
 */
import assert from "node:assert/strict";
import type postgres from "postgres";
import { join, PROJECT_ROOT } from "@local/paths.ts";
import { db, stack } from "../support/stack.ts";

type Op = "select" | "insert" | "update" | "delete";
const OPS: Op[] = ["select", "insert", "update", "delete"];
const SCHEMAS = ["public", "sms"];

/**
 * What a member may do to their own business's rows, per relation (schema-qualified). Anon:
 * nothing, anywhere. `public` holds what members read through supabase-js; nothing in `sms` is
 * a client's.
 */
const MEMBER_MAY: Record<string, Op[]> = {
  "public.businesses": ["select", "update"],
  "public.business_members": ["select"],
  "public.customers": ["select", "insert", "update", "delete"],
  // A security_invoker view over customers: the same rights, decided by customers' policies.
  "public.contacts": ["select", "insert", "update", "delete"],
  // Email rows only (policies check channel = 'email'); SMS rows are written by the functions.
  "public.send_logs": ["select", "insert", "update"],
  "public.scheduled_sends": ["select", "insert", "update", "delete"],
  // Read-only histories of the business's own messages, consent changes and replies.
  "public.sms_consent_events": ["select"],
  "public.sms_inbound_messages": ["select"],
  "public.sms_message_events": ["select"],
  // Campaigns: read-only; the campaigns function writes them (sms.plan_campaign,
  // sms.control_campaign). The views are security_invoker: send_logs' and campaigns' policies.
  "public.sms_campaigns": ["select"],
  "public.sms_campaign_skips": ["select"],
  "public.sms_campaign_progress": ["select"],
  "public.sms_campaign_errors": ["select"],
  "public.sms_campaign_opt_outs": ["select"],
  // Internals: the Edge Functions' and cron's only.
  // sms.plan_campaign's working set, emptied before it returns.
  "sms.campaign_plan_rows": [],
  // How long consent events are kept: the owner's setting, read by service_role.
  "sms.consent_retention": [],
  "sms.idempotency_keys": [],
  // The webhook's record of what it answered each inbound MessageSid with.
  "sms.inbound_answers": [],
  // Hourly counters behind the daily quota, kept by a trigger: nobody but the owner touches them.
  "sms.quota_usage": [],
  "sms.retry_queue": [],
  "sms.send_pacing": [],
  "sms.worker_heartbeats": [],
  "sms.worker_health": [],
};

/**
 * What the frontend may execute in `public` (through PostgREST's /rpc): only the export of a
 * number's consent history, which checks membership itself. Otherwise it calls the send-sms Edge
 * Function and reads tables; docs/architecture.md lists the same.
 */
const FRONTEND_MAY_EXECUTE = new Set<string>(["public.export_sms_consent_history(uuid, text)"]);

/** Functions a signed-in user may execute outside `public`: the membership rule policies call. */
const AUTHENTICATED_MAY_EXECUTE = new Set(["sms.is_member(uuid, uuid, text[])"]);

/** What the functions' service work (service_role) may execute; everything else is its owner's. */
const SERVICE_MAY_EXECUTE = new Set([
  "public.claim_due_scheduled_sends(integer, text)",
  "public.export_sms_consent_history(uuid, text)",
  "sms.advance_status(uuid, text, timestamptz, integer, text)",
  "sms.apply_consent_change(uuid, text, text, text, text, uuid, integer, jsonb, timestamptz)",
  "sms.apply_provider_error(uuid, integer, text, text, text)",
  "sms.campaign_audience_groups(uuid, uuid, uuid[], text[], text[])",
  "sms.cancel_retry(uuid, text, text)",
  "sms.claim_due_retries(integer, integer, text)",
  "sms.claim_idempotency_key(uuid, text, text, uuid)",
  "sms.claim_price_lookups(integer, integer, integer, integer, integer)",
  "sms.claim_status_lookups(integer, integer, integer, integer, integer)",
  "sms.complete_idempotency_key(uuid, text, integer, jsonb, uuid)",
  "sms.complete_retry(uuid, text)",
  "sms.control_campaign(uuid, uuid, text)",
  "sms.create_send_log(uuid, integer, text, uuid, text, jsonb)",
  "sms.enqueue_retry(uuid, text, text, timestamptz, uuid, integer, text, uuid, integer, text, " +
  "integer, boolean)",
  "sms.fail_retry(uuid, text, text, timestamptz, integer, boolean, boolean)",
  "sms.finish_campaigns()",
  "sms.finish_worker_heartbeat(bigint, integer, integer, integer, integer, integer, text)",
  "sms.invoke_process_retries()",
  "sms.plan_campaign(uuid, uuid, text, jsonb, integer, integer, uuid[], text[], text[], jsonb, jsonb)",
  "sms.prune_consent_events(timestamptz)",
  "sms.record_opt_in(uuid, text, text, text, text, text, inet, text, uuid, uuid, timestamptz, " +
  "jsonb)",
  "sms.record_inbound_answer(text, text, text, boolean, boolean, boolean, interval, timestamptz)",
  "sms.record_inbound_message(text, text, text, text, text, text, integer, jsonb, timestamptz)",
  "sms.record_message_prices(text[], text[], text[])",
  "sms.record_send_result(uuid, text, text, integer, integer, text, jsonb)",
  "sms.record_send_receipt(uuid, jsonb)",
  "sms.record_status_event(text, text, integer, text, jsonb, timestamptz, text, uuid)",
  "sms.record_status_lookup(uuid, text, integer, text, jsonb)",
  "sms.release_idempotency_key(uuid, text)",
  "sms.release_price_lookups(uuid[])",
  "sms.release_send_guard(uuid)",
  "sms.release_status_lookup(uuid)",
  "sms.reschedule_retry(uuid, text, timestamptz, text)",
  "sms.reserve_quota(uuid, integer, integer)",
  "sms.reserve_send_slot(text, integer, numeric, integer, integer, text, integer)",
  "sms.retry_send_context(uuid, text, integer, timestamptz)",
  "sms.start_retry_send(uuid, text, integer, timestamptz, text, jsonb)",
  "sms.finish_send(uuid, text, text, integer, uuid, text, integer, jsonb)",
  "sms.finish_retry_send(uuid, text, text, text, integer)",
  "sms.send_context(uuid, uuid, timestamptz)",
  "sms.start_send(uuid, uuid, text, timestamptz, integer, text, integer, text, text, timestamptz, integer, jsonb)",
  "sms.start_worker_heartbeat(text, text)",
]);

interface Relation {
  /** schema.name */
  name: string;
  kind: string;
  rls: boolean;
  businessColumn: string | null;
}

async function relations(sql: postgres.Sql): Promise<Relation[]> {
  return await sql<Relation[]>`
    select n.nspname || '.' || c.relname as name, c.relkind as kind, c.relrowsecurity as rls,
           (select a.attname from pg_attribute a
             where a.attrelid = c.oid and not a.attisdropped
               and a.attname = case when c.relname = 'businesses' then 'id' else 'business_id' end
           ) as "businessColumn"
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = any(${SCHEMAS}) and c.relkind in ('r', 'v', 'm', 'p', 'f')
     order by 1`;
}

/** Ops `role` can actually perform: granted, and (for RLS tables) given a policy. */
async function effectiveOps(sql: postgres.Sql, rel: Relation, role: string): Promise<Op[]> {
  const ops: Op[] = [];
  for (const op of OPS) {
    const [g] = await sql`select has_table_privilege(${role}, ${rel.name}, ${op}) as granted`;
    if (!g.granted) continue;
    if (rel.kind !== "r" && rel.kind !== "p") {
      ops.push(op);
      continue;
    }
    const cmd = { select: "r", insert: "a", update: "w", delete: "d" }[op];
    const [p] = await sql`
      select exists (
        select 1 from pg_policy pol
         where pol.polrelid = ${rel.name}::regclass
           and pol.polcmd in (${cmd}, '*')
           and (0 = any(pol.polroles)
                or (select oid from pg_roles where rolname = ${role}) = any(pol.polroles))
      ) as has`;
    if (!rel.rls || p.has) ops.push(op);
  }
  return ops;
}

Deno.test("every relation in public and sms is in the allow-list, and RLS is on for every table", async () => {
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

Deno.test("sms is private: not exposed by the API, anon cannot enter it, no client privilege in it", async () => {
  const config = await Deno.readTextFile(join(PROJECT_ROOT, "supabase", "config.toml"));
  const api = /^\[api\][\s\S]*?^schemas\s*=\s*\[([^\]]*)\]/m.exec(config);
  assert.ok(api, "config.toml names the schemas the API exposes");
  assert.ok(!/"sms"/.test(api[1]), `the API exposes ${api[1]}, never sms`);
  const sql = db();
  try {
    const [u] = await sql`
      select has_schema_privilege('anon', 'sms', 'usage') as anon,
             has_schema_privilege('authenticated', 'sms', 'usage') as auth,
             has_schema_privilege('service_role', 'sms', 'usage') as service,
             has_schema_privilege('anon', 'sms', 'create')
               or has_schema_privilege('authenticated', 'sms', 'create')
               or has_schema_privilege('service_role', 'sms', 'create') as create`;
    assert.deepEqual(u, { anon: false, auth: true, service: true, create: false });
    // Sequences too (a table's privileges do not cover them).
    const seqs = await sql<{ name: string }[]>`
      select n.nspname || '.' || c.relname || ' ' || r as name
        from pg_class c join pg_namespace n on n.oid = c.relnamespace,
             unnest(array['anon', 'authenticated']) r
       where n.nspname = any(${SCHEMAS}) and c.relkind = 'S'
         and (has_sequence_privilege(r, c.oid, 'usage')
              or has_sequence_privilege(r, c.oid, 'update'))
         and c.relname in ('sms_message_events_id_seq', 'sms_consent_events_id_seq',
                           'sms_inbound_messages_id_seq', 'worker_heartbeats_id_seq')`;
    assert.deepEqual([...seqs], [], "clients have no use of the SMS tables' sequences");
  } finally {
    await sql.end();
  }
});

Deno.test("functions: nothing in public for clients; authenticated only sms.is_member; service_role only its RPCs", async () => {
  const sql = db();
  try {
    const fns = await sql<
      {
        schema: string;
        sig: string;
        anon: boolean;
        auth: boolean;
        service: boolean;
        public: boolean;
        definer: boolean;
        config: string[] | null;
      }[]
    >`
      select n.nspname as schema,
             n.nspname || '.' || p.proname || '(' || oidvectortypes(p.proargtypes)
               || ')' as sig,
             has_function_privilege('anon', p.oid, 'execute') as anon,
             has_function_privilege('authenticated', p.oid, 'execute') as auth,
             has_function_privilege('service_role', p.oid, 'execute') as service,
             exists (select 1 from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                      where a.grantee = 0 and a.privilege_type = 'EXECUTE') as public,
             p.prosecdef as definer, p.proconfig as config
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
       where n.nspname = any(${SCHEMAS})
         and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
       order by 2`;
    assert.ok(
      fns.filter((f) => f.schema === "sms").length > 20,
      "the catalog lists sms's functions",
    );
    const normal = (sig: string) => sig.replaceAll("timestamp with time zone", "timestamptz");
    // The allow-lists name only functions that exist.
    const sigs = new Set(fns.map((f) => normal(f.sig)));
    for (
      const s of [...FRONTEND_MAY_EXECUTE, ...AUTHENTICATED_MAY_EXECUTE, ...SERVICE_MAY_EXECUTE]
    ) {
      assert.ok(sigs.has(s), `${s} exists`);
    }
    for (const f of fns) {
      const sig = normal(f.sig);
      assert.equal(f.public, false, `PUBLIC may execute ${sig}`);
      assert.equal(f.anon, false, `anon may execute ${sig}`);
      const forClients = f.schema === "public"
        ? FRONTEND_MAY_EXECUTE.has(sig)
        : AUTHENTICATED_MAY_EXECUTE.has(sig);
      assert.equal(f.auth, forClients, `authenticated on ${sig}`);
      assert.equal(f.service, SERVICE_MAY_EXECUTE.has(sig), `service_role on ${sig}`);
      if (f.definer) {
        assert.ok(
          f.config?.includes('search_path=""'),
          `${sig} is security definer with search_path ''`,
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
    // Refused: no privilege (42501), or a view that cannot be written at all (55000, e.g. the
    // campaign views, which group rows).
    if (["42501", "55000"].includes((e as { code?: string }).code ?? "")) return 0;
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
      const owned = `from ${rel.name} where ${col} = '${a.id}'`;
      const [own] = await sql.unsafe(`select count(*)::int as n ${owned}`);
      for (const [who, userId] of [["B's user", b.users[0].id], ["anon", null]] as const) {
        await asUserRolledBack(sql, userId, async (tx) => {
          const seen = await affected(tx, `select 1 ${owned}`);
          assert.equal(seen, 0, `${who} reads A's ${rel.name}`);
          const set = `${col} = ${col}`;
          assert.equal(
            await affected(tx, `update ${rel.name} set ${set} where ${col} = '${a.id}'`),
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
