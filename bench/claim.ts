/**
 * `claim`: our queue on the path production uses against pg-boss's equivalent, on the same
 * Postgres: 20,000 jobs, 4 concurrent workers (one connection each), every job finished after its
 * claim.
 *
 * - Ours, as process-retries does it, with its own code (process-retries/store.ts): a batch of
 *   `DEFAULT_BATCH_SIZE` (50) claimed by `claimDueRetries` (`sms.claim_due_retries`, a statement
 *   of its own) with the lease a run at the defaults takes (`leaseSecondsFor`), then each row
 *   finished on its own by `completeRetry` (`sms.complete_retry`), as each row is finished when
 *   its Twilio answer comes back. (A sent row is finished by `sms.finish_retry_send`, which stores
 *   Twilio's answer and then completes it the same way: a job here has no answer to store.)
 * - pg-boss: `fetch` of a batch of 50, then `complete(name, id)` for each job: a job finished when
 *   its own work ends. (Finishing the batch in one `complete(name, ids)` is what `work()` does
 *   when one handler takes the whole batch; a sender finishes each message on its own answer.)
 *
 * Three rounds per system; the ratio is of the medians, target ≥ 1.1. Duplicates (a job handed out
 * twice) must be 0 for both.
 *
 * @module
 */
import postgres from "postgres";
import { PgBoss } from "pg-boss";
import { createDb } from "@shared/runtime/db.ts";
import {
  DEFAULT_BATCH_SIZE,
  leaseSecondsFor,
  retryConfigFromEnv,
} from "../supabase/functions/process-retries/config.ts";
import { claimDueRetries, completeRetry } from "../supabase/functions/process-retries/store.ts";
import type { StackInfo } from "@local/stack.ts";
import type { BenchContext, Benchmark } from "./main.ts";
import { type BenchResult, type Check, fmt, int } from "./lib/report.ts";
import { fenceOtherRetries, ownerDb, withCronPaused } from "./lib/stack.ts";
import { median } from "./lib/stats.ts";

const TARGET = 1.1;
const WORKERS = 4;
const BATCH = DEFAULT_BATCH_SIZE;
/** The lease a run at the default settings takes on what it claims. */
const LEASE_SECONDS = leaseSecondsFor(retryConfigFromEnv({}));
const PG_BOSS_VERSION = "12.38.0";

/** One worker of a queue system, on its own connection. */
interface QueueWorker {
  /** Claims up to BATCH jobs; their ids. */
  claim(): Promise<string[]>;
  /** Finishes the jobs, one call each; how many it finished. */
  complete(ids: string[]): Promise<number>;
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
    label: "ours: claimDueRetries + completeRetry (process-retries)",
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
          const rows = await claimDueRetries(sql, {
            limit: BATCH,
            leaseSeconds: LEASE_SECONDS,
            worker: name,
          });
          return rows.map((r) => r.id);
        },
        async complete(ids) {
          let done = 0;
          for (const id of ids) {
            if (await completeRetry(sql, { retryId: id, worker: name })) {
              done++;
            }
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
    label: `pg-boss ${PG_BOSS_VERSION}: fetch + complete per job`,
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
        async complete(ids) {
          // complete() answers { jobs, requested, affected, settled } (typed as an empty object).
          const affected = (r: unknown) => (r as { affected?: number }).affected ?? 0;
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
async function round(system: QueueSystem, n: number): Promise<RoundResult> {
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
      const done = await w.complete(ids);
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
        for (const system of order) {
          ctx.log(`${system.label}: ${jobs} jobs`);
          results.push(await round(system, jobs));
        }
      } finally {
        await ours.close();
        await boss.close();
      }
    });
  } finally {
    await owner.end({ timeout: 5 });
  }

  const medianRate = (label: string) =>
    median(results.filter((r) => r.system.startsWith(label)).map((r) => r.perSecond));
  const ratio = medianRate("ours") / medianRate("pg-boss");
  const checks: Check[] = results.map((r, i) => ({
    name: `${r.system.split(":")[0]} (round ${i + 1})`,
    ok: r.duplicates === 0 && r.jobs === jobs && r.completed === jobs,
    detail: `${r.jobs}/${jobs} claimed, ${r.duplicates} duplicates, ${r.completed} completed`,
  }));

  return {
    name: "claim",
    quick: ctx.quick,
    tables: [{
      title: `Claim and finish ${int(jobs)} jobs: ${WORKERS} workers (one connection each), ` +
        `batches of ${BATCH}, each job finished by its own call`,
      columns: [
        "system",
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
        int(r.jobs),
        fmt(r.seconds),
        int(r.perSecond),
        int(r.claims),
        fmt(r.claimMsPerCall),
        fmt(r.completeMsPerBatch),
        r.duplicates,
      ]),
    }, {
      title: "Ratio (ours / pg-boss, jobs per second)",
      columns: ["what", "ratio"],
      rows: [[`medians of ${rounds} round${rounds > 1 ? "s" : ""} each`, fmt(ratio)]],
    }],
    ratio,
    target: TARGET,
    direction: "atLeast",
    ratioMeaning: "jobs/s of process-retries's claim and per-row completion over pg-boss fetch + " +
      "complete(name, id)",
    checks,
    notes: [
      "same Postgres (the stack's), pg-boss in its own schema; ours through process-retries's " +
      "store.ts (each call a statement of its own, as a row's round makes them) with " +
      "shared/runtime/db.ts's pool settings " +
      `(prepare: false), one postgres.js connection per worker, lease ${LEASE_SECONDS} s`,
    ],
    figures: {
      jobs,
      workers: WORKERS,
      batch: BATCH,
      results,
      leaseSeconds: LEASE_SECONDS,
    },
  };
}

export const benchmark: Benchmark = {
  name: "claim",
  description: "process-retries's claim and completion vs pg-boss, 20,000 jobs, 4 workers",
  run,
};
