/**
 * `claim`: our queue (`sms.claim_due_retries`, then each job finished by its own
 * `sms.complete_retry` call, as process-retries finishes each row right after Twilio answers)
 * against pg-boss (`fetch` of a batch, then `complete`) on the same Postgres: 20,000 jobs, 4
 * concurrent workers (one connection each), batches of 50, every job finished after its claim.
 * The ratio is our jobs per second over pg-boss's with one finishing call per job on both sides
 * (pg-boss `complete(name, id)`); pg-boss finishing a batch in one call (`complete(name, ids)`) is
 * reported beside it. The per-job rounds run three times per system and the ratio is of the
 * medians. Duplicates (a job handed out twice) must be 0 for both.
 *
 * @module
 */
import postgres from "postgres";
import { PgBoss } from "pg-boss";
import { createDb } from "@shared/runtime/db.ts";
import type { StackInfo } from "@local/stack.ts";
import type { BenchContext, Benchmark } from "./main.ts";
import { type BenchResult, type Check, fmt, int } from "./lib/report.ts";
import { fenceOtherRetries, ownerDb, withCronPaused } from "./lib/stack.ts";
import { median } from "./lib/stats.ts";

const TARGET = 1.5;
const WORKERS = 4;
const BATCH = 50;
const LEASE_SECONDS = 300;
const PG_BOSS_VERSION = "12.38.0";

/** How a worker finishes the jobs of a batch. */
type Completion = "batch" | "per-job";

/** One worker of a queue system, on its own connection. */
interface QueueWorker {
  /** Claims up to BATCH jobs; their ids. */
  claim(): Promise<string[]>;
  /** Finishes the jobs; how many it finished. Ours finish one job per call in either mode. */
  complete(ids: string[], mode: Completion): Promise<number>;
  close(): Promise<void>;
}

/** A queue system under test. */
interface QueueSystem {
  label: string;
  /** Puts `n` due jobs in the queue (not timed). */
  load(n: number): Promise<void>;
  worker(index: number): Promise<QueueWorker>;
  /** Jobs that ended completed (checked after the run). */
  completedCount(): Promise<number>;
  /** Removes this round's jobs. */
  clear(): Promise<void>;
  close(): Promise<void>;
}

const CUSTOMERS = 1_000;

/**
 * Our queue: a scratch business whose retry rows are the jobs, spread over 1,000 customers with
 * distinct creation times (as a real backlog is; one customer and one timestamp would pile every
 * index entry onto one key).
 */
async function ourQueue(info: StackInfo, owner: postgres.Sql): Promise<QueueSystem> {
  const [{ id: businessId }] = await owner<{ id: string }[]>`
    insert into public.businesses (name) values ('bench: claim') returning id`;
  await owner`
    insert into public.customers (business_id, name, phone, phone_status, sms_consent_status,
                                  sms_consent_at)
    select ${businessId}, 'Bench ' || i, '+1212555' || lpad(i::text, 4, '0'), 'valid',
           'opted_in', now()
      from generate_series(1, ${CUSTOMERS}) as i`;
  // Other tests' rows on a shared stack stay locked (claims skip them) while we run.
  const fence = await fenceOtherRetries(info, businessId);
  return {
    label: "ours: claim_due_retries + complete_retry",
    async load(n) {
      await owner.begin(async (tx) => {
        await tx`
          insert into public.send_logs
            (business_id, channel, customer_id, to_phone, status, created_at)
          select ${businessId}, 'sms', c.id, c.phone, 'deferred',
                 now() - interval '2 hours' + i * interval '1 ms'
            from generate_series(1, ${n}) as i
            join lateral (
              select id, phone from public.customers
               where business_id = ${businessId}
               order by id offset (i % ${CUSTOMERS}) limit 1) c on true`;
        await tx`
          insert into sms.retry_queue
            (business_id, customer_id, send_log_id, body, reason, scheduled_for, created_at)
          select ${businessId}, l.customer_id, l.id,
                 'Hi, thanks for visiting Acme Dental! Leave us a review?', 'quiet_hours',
                 l.created_at + interval '1 hour', l.created_at
            from public.send_logs l
           where l.business_id = ${businessId}`;
      });
      await owner`analyze sms.retry_queue`;
    },
    worker(index) {
      // The pool settings of shared/runtime/db.ts (prepare: false), one connection per worker.
      const sql = createDb(info.dbUrl, { max: 1 });
      const name = `bench-worker-${index}`;
      return Promise.resolve({
        async claim() {
          const rows = await sql<{ id: string }[]>`
            select id from sms.claim_due_retries(${BATCH}, ${LEASE_SECONDS}, ${name})`;
          return rows.map((r) => r.id);
        },
        async complete(ids) {
          // One call per job, as process-retries finishes each row after its send.
          let done = 0;
          for (const id of ids) {
            const [{ ok }] = await sql<{ ok: boolean }[]>`
              select sms.complete_retry(${id}::uuid, ${name}) as ok`;
            if (ok) done++;
          }
          return done;
        },
        close: () => sql.end({ timeout: 5 }),
      });
    },
    async completedCount() {
      const [{ n }] = await owner<{ n: number }[]>`
        select count(*)::int as n from sms.retry_queue
         where business_id = ${businessId} and status = 'completed'`;
      return n;
    },
    async clear() {
      await owner`delete from sms.retry_queue where business_id = ${businessId}`;
      await owner`delete from public.send_logs where business_id = ${businessId}`;
    },
    async close() {
      await fence.release();
      await owner`delete from sms.retry_queue where business_id = ${businessId}`;
      await owner`delete from public.send_logs where business_id = ${businessId}`;
      await owner`delete from public.businesses where id = ${businessId}`;
    },
  };
}

/** pg-boss in a schema of its own (dropped at the end), one instance per worker. */
async function pgBossQueue(info: StackInfo, owner: postgres.Sql): Promise<QueueSystem> {
  const schema = `pgboss_bench_${crypto.randomUUID().slice(0, 8)}`;
  const queue = "sms-retries";
  const options = {
    connectionString: info.dbUrl,
    schema,
    supervise: false,
    schedule: false,
  };
  const admin = new PgBoss({ ...options, max: 2 });
  admin.on("error", () => {});
  await admin.start();
  await admin.createQueue(queue);
  return {
    label: `pg-boss ${PG_BOSS_VERSION}: fetch + complete`,
    async load(n) {
      for (let i = 0; i < n; i += 1000) {
        const jobs = Array.from({ length: Math.min(1000, n - i) }, (_, k) => ({
          data: {
            sendLogId: crypto.randomUUID(),
            body: "Hi, thanks for visiting Acme Dental! Leave us a review?",
            seq: i + k,
          },
        }));
        await admin.insert(queue, jobs);
      }
      await owner.unsafe(`analyze ${schema}.job`).catch(() => {});
    },
    async worker() {
      const boss = new PgBoss({ ...options, max: 1, migrate: false });
      boss.on("error", () => {});
      await boss.start();
      return {
        async claim() {
          const jobs = await boss.fetch(queue, { batchSize: BATCH });
          return jobs.map((j) => j.id);
        },
        async complete(ids, mode) {
          // complete() answers { jobs, requested, affected, settled } (typed as an empty object).
          const affected = (r: unknown) => (r as { affected?: number }).affected ?? 0;
          if (mode === "batch") return affected(await boss.complete(queue, ids));
          let done = 0;
          for (const id of ids) done += affected(await boss.complete(queue, id));
          return done;
        },
        close: () => boss.stop({ graceful: false, close: true }),
      };
    },
    async completedCount() {
      const [{ n }] = await owner.unsafe<{ n: number }[]>(
        `select count(*)::int as n from ${schema}.job where name = $1 and state = 'completed'`,
        [queue],
      );
      return n;
    },
    async clear() {
      await admin.deleteAllJobs(queue);
    },
    async close() {
      await admin.stop({ graceful: false, close: true });
      await owner.unsafe(`drop schema if exists ${schema} cascade`);
    },
  };
}

interface RoundResult {
  system: string;
  completion: Completion;
  jobs: number;
  seconds: number;
  perSecond: number;
  claims: number;
  /** Mean latency of one claim call, and of finishing one batch (as the workers saw them). */
  claimMsPerCall: number;
  completeMsPerBatch: number;
  duplicates: number;
  completed: number;
}

/** Loads `n` jobs, then 4 workers claim and finish until the queue is empty. */
async function round(system: QueueSystem, n: number, completion: Completion): Promise<RoundResult> {
  await system.load(n);
  const workers = await Promise.all(Array.from({ length: WORKERS }, (_, i) => system.worker(i)));
  const claimed: string[] = [];
  let claims = 0;
  let finished = 0;
  let claimMs = 0;
  let completeMs = 0;
  const started = performance.now();
  await Promise.all(workers.map(async (w) => {
    while (true) {
      const t0 = performance.now();
      const ids = await w.claim();
      const t1 = performance.now();
      claimMs += t1 - t0;
      claims++;
      if (ids.length === 0) return;
      claimed.push(...ids);
      const done = await w.complete(ids, completion);
      completeMs += performance.now() - t1;
      finished += done;
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(workers.map((w) => w.close()));
  const completed = await system.completedCount();
  await system.clear();
  return {
    system: system.label,
    completion,
    jobs: claimed.length,
    seconds,
    perSecond: claimed.length / seconds,
    claims,
    claimMsPerCall: claimMs / claims,
    completeMsPerBatch: completeMs / Math.max(1, claims - WORKERS),
    duplicates: claimed.length - new Set(claimed).size,
    completed: Math.min(completed, finished),
  };
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const info = await ctx.stack();
  const jobs = ctx.quick ? 1_000 : 20_000;
  const rounds = ctx.quick ? 1 : 3;
  const owner = ownerDb(info, 2);
  const results: RoundResult[] = [];
  try {
    await withCronPaused(owner, async () => {
      const ours = await ourQueue(info, owner);
      const boss = await pgBossQueue(info, owner);
      try {
        // Rounds of half a second are noisy: the headline takes the median of several, in an
        // ABBA order so neither system always runs first on a warmer (or more bloated) database.
        const order = [ours, boss, boss, ours, ours, boss].slice(0, 2 * rounds);
        for (
          const [completion, systems] of [["per-job", order], ["batch", [boss]]] as const
        ) {
          for (const system of systems) {
            ctx.log(`${system.label}, ${completion} completion: ${jobs} jobs`);
            results.push(await round(system, jobs, completion));
          }
        }
      } finally {
        await ours.close();
        await boss.close();
      }
    });
  } finally {
    await owner.end({ timeout: 5 });
  }

  const medianRate = (label: string, completion: Completion) =>
    median(
      results.filter((r) => r.system.startsWith(label) && r.completion === completion)
        .map((r) => r.perSecond),
    );
  const ratio = medianRate("ours", "per-job") / medianRate("pg-boss", "per-job");
  const ratioToBossBatch = medianRate("ours", "per-job") / medianRate("pg-boss", "batch");
  const checks: Check[] = results.map((r) => ({
    name: `${r.system.split(":")[0]} (${r.completion})`,
    ok: r.duplicates === 0 && r.jobs === jobs && r.completed === jobs,
    detail: `${r.jobs}/${jobs} claimed, ${r.duplicates} duplicates, ${r.completed} completed`,
  }));

  return {
    name: "claim",
    quick: ctx.quick,
    tables: [{
      title: `Claim and finish ${int(jobs)} jobs: ${WORKERS} workers (one connection each), ` +
        `batches of ${BATCH}`,
      columns: [
        "system",
        "finishing",
        "jobs",
        "seconds",
        "jobs/s",
        "claims",
        "ms/claim",
        "ms/finish 50",
        "duplicates",
      ],
      rows: results.map((r) => [
        r.system,
        r.completion === "batch" ? "one call per batch" : "one call per job",
        int(r.jobs),
        fmt(r.seconds),
        int(r.perSecond),
        int(r.claims),
        fmt(r.claimMsPerCall),
        fmt(r.completeMsPerBatch),
        r.duplicates,
      ]),
    }, {
      title: "Ratios (ours / pg-boss, jobs per second)",
      columns: ["finishing", "ratio"],
      rows: [
        [`one call per job on both sides (headline: medians of ${rounds} rounds)`, fmt(ratio)],
        ["ours per job / pg-boss one call per batch", fmt(ratioToBossBatch)],
      ],
    }],
    ratio,
    target: TARGET,
    direction: "atLeast",
    ratioMeaning: "jobs/s of sms.claim_due_retries + sms.complete_retry over pg-boss fetch + " +
      "complete, each job finished by its own call",
    checks,
    notes: [
      "same Postgres (the stack's), pg-boss in its own schema; ours called as the database owner " +
      "with shared/runtime/db.ts's pool settings (prepare: false), one postgres.js connection per worker",
    ],
    figures: {
      jobs,
      workers: WORKERS,
      batch: BATCH,
      results,
      ratioToBossBatch,
    },
  };
}

export const benchmark: Benchmark = {
  name: "claim",
  description: "sms.claim_due_retries vs pg-boss fetch, 20,000 jobs, 4 workers, batches of 50",
  run,
};
