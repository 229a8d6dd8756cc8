/**
 * `fairness`: a 10,000-recipient campaign drains at 100 segments per second while three other
 * businesses each queue one single deferred send every second; the single sends must not wait
 * behind the campaign.
 *
 * The campaign is created through the stack's `campaigns` function (a member's token, every
 * recipient SMS-ready and due now). The single sends are what send-sms queues when it defers a
 * message: `sms.enqueue_retry` with reason 'quiet_hours', due at once (as bench/drain.ts queues
 * its rows). process-retries runs as bench/drain.ts starts it (the stack's environment,
 * `SMS_MAX_SEGMENTS_PER_SECOND=100`, a gateway of its own), called as pg_cron calls it and again
 * at once whenever a run ends with rows left. The sandbox answers each send after 100 ms.
 *
 * A single send's extra wait is the time from its due instant to the sandbox's record of it
 * (which includes the sandbox's 100 ms), minus its pace slot: what the pace alone imposes on it
 * under perfect fairness. At its due instant t, let p be its place in its own stream (1 + the
 * rows of its business's single sends due before it and not yet sent at t) and, for every other
 * stream (the campaign, each other business's single sends), n the rows due and not yet sent at
 * t; a round-robin sender at exactly the pace sends min(n, p) of each other stream and p of its
 * own before it is done, so its slot is (p + Σ min(n, p)) / 100 s. Batching, claims, the
 * end of a run and the send itself are what the extra wait measures. The ratio is the worst
 * extra wait over 2 s, target ≤ 1. Checks: every single send and every campaign row reached the
 * sandbox exactly once, none failed.
 *
 * @module
 */
import type { BenchContext, Benchmark } from "./main.ts";
import { type BenchResult, type Check, fmt, int } from "./lib/report.ts";
import {
  fenceOtherRetries,
  ownerDb,
  restoreSandboxConfig,
  sandboxConfig,
  sandboxConfigNow,
  sandboxIdle,
  withCronPaused,
} from "./lib/stack.ts";
import { type ScratchTenant, scratchTenant } from "./lib/tenant.ts";
import { type RetriesProcess, type RunAnswer, startProcessRetries } from "./lib/retries.ts";
import { percentile, sleep } from "./lib/stats.ts";

const TARGET_S = 2;
const PACE = 100;
const LATENCY_MS = 100;
const OTHERS = 3;
const TEMPLATE = "Hi {{first_name|there}}, our spring offer is on.";
const BODY = "Your appointment is confirmed for tomorrow at 10:00. Reply STOP to opt out.";

interface Single {
  stream: number;
  phone: string;
  due: number;
}

/** Rows of a stream due at or before `t` and not sent by then (sorted due and sent times). */
function waitingAt(dues: number[], sents: number[], t: number): number {
  const upper = (xs: number[], v: number) => {
    let lo = 0, hi = xs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (xs[mid] <= v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  return upper(dues, t) - upper(sents, t);
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const info = await ctx.stack();
  const rows = ctx.quick ? 300 : 10_000;
  const drainSeconds = rows / PACE;
  // One single a second per business for the drain, with room for a drain at a third of the
  // pace (a loaded machine): the producer stops when the campaign is drained.
  const perOther = Math.ceil(drainSeconds * 3) + 10;
  const sql = ownerDb(info, 6);
  const savedConfig = await sandboxConfigNow(info);
  const campaignTenant = await scratchTenant(sql, info, "fairness campaign");
  const others: ScratchTenant[] = [];
  let fn: RetriesProcess | null = null;
  const answers: RunAnswer[] = [];
  const singles: Single[] = [];
  let campaignPhones = new Set<string>();
  let campaignDues: number[] = [];
  let attempts: { at: string; outcome: string; to: string | null }[] = [];
  let remaining = -1;
  let seconds = NaN;
  let eligible = -1;
  let createStatus = 0;
  try {
    for (let i = 0; i < OTHERS; i++) {
      others.push(await scratchTenant(sql, info, `fairness single ${i + 1}`));
    }
    const businesses = [campaignTenant.businessId, ...others.map((o) => o.businessId)];
    ctx.log(`adding ${int(rows)} campaign customers and ${OTHERS} × ${perOther} others`);
    const campaignIds = await campaignTenant.population(rows, { ready: true });
    const otherCustomers = await Promise.all(others.map((o) => o.customers(perOther)));
    fn = await startProcessRetries(info, { SMS_MAX_SEGMENTS_PER_SECOND: String(PACE) }, {
      tag: "bench-fairness",
      log: ctx.log,
    });
    const f = fn;
    const fence = await fenceOtherRetries(info, campaignTenant.businessId);
    try {
      await withCronPaused(sql, async () => {
        const call = () => f.call();
        // Opens the new process's pool, as the cron's previous minute would have.
        await call();
        await sandboxConfig(info, {
          latencyMs: LATENCY_MS,
          ...(ctx.quick ? {} : { callbackDelayMs: 600_000 }),
        });
        ctx.log(`creating the campaign of ${int(rows)}`);
        const created = await fetch(`${info.functionsUrl}/campaigns`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${campaignTenant.token}`,
            "content-type": "application/json",
          },
          body: JSON.stringify({
            action: "create",
            name: "fairness",
            businessId: campaignTenant.businessId,
            template: TEMPLATE,
            audience: { customerIds: campaignIds },
            schedule: { kind: "now" },
          }),
        });
        createStatus = created.status;
        const createdText = await created.text();
        if (created.status !== 201) throw new Error(`campaigns: ${created.status} ${createdText}`);
        const campaignId = (JSON.parse(createdText) as { campaignId: string; eligible: number })
          .campaignId;
        eligible = (JSON.parse(createdText) as { eligible: number }).eligible;
        const queued = await sql<{ phone: string; due: Date }[]>`
          select l.to_phone as phone, q.scheduled_for as due
            from sms.retry_queue q join public.send_logs l on l.id = q.send_log_id
           where q.campaign_id = ${campaignId}`;
        campaignPhones = new Set(queued.map((q) => q.phone));
        campaignDues = queued.map((q) => q.due.getTime()).sort((a, b) => a - b);
        const startAttempts =
          (await (await fetch(`${info.sandboxUrl}/api/attempts`)).json() as unknown[]).length;

        // The other businesses' single sends, one each a second, until the campaign is drained.
        let producing = true;
        let campaignLeft = rows;
        const producer = (async () => {
          const started = performance.now();
          for (let second = 0; second < perOther; second++) {
            if (second >= 3 && campaignLeft === 0) break;
            await Promise.all(others.map(async (_, k) => {
              const customer = otherCustomers[k][second];
              const [row] = await sql<{ scheduled_for: Date }[]>`
                select scheduled_for from sms.enqueue_retry(
                  p_customer_id => ${customer.id}, p_body => ${BODY}, p_reason => 'quiet_hours',
                  p_scheduled_for => now(), p_segments => 1, p_encoding => 'GSM-7')`;
              singles.push({
                stream: k + 1,
                phone: customer.phone,
                due: row.scheduled_for.getTime(),
              });
            }));
            const next = started + (second + 1) * 1000;
            await sleep(Math.max(0, next - performance.now()));
          }
          producing = false;
        })();

        ctx.log(`draining at ${PACE} segments/s while ${OTHERS} businesses queue singles`);
        const started = performance.now();
        const deadline = started + (drainSeconds * 4 + 120) * 1000;
        const left = async () => {
          const [r] = await sql<{ all: number; campaign: number }[]>`
            select count(*)::int as all,
                   count(*) filter (where campaign_id is not null)::int as campaign
              from sms.retry_queue
             where business_id = any (${businesses}::uuid[])
               and status in ('pending', 'processing')`;
          return r;
        };
        for (;;) {
          answers.push(await call());
          const r = await left();
          campaignLeft = r.campaign;
          remaining = r.all;
          if (!producing && remaining === 0) break;
          if (performance.now() > deadline) break;
          // Nothing due until the producer's next second: the cron would wait longer.
          if (remaining === 0) await sleep(200);
        }
        await producer;
        seconds = (performance.now() - started) / 1000;
        attempts = (await (await fetch(`${info.sandboxUrl}/api/attempts`)).json() as {
          at: string;
          outcome: string;
          to: string | null;
        }[]).slice(startAttempts);
      });
    } finally {
      await fence.release();
    }
    // Callbacks land before the tenants go (quick form; the full form holds them back).
    if (ctx.quick) await sandboxIdle(info);
  } finally {
    await restoreSandboxConfig(info, savedConfig);
    await fn?.stop();
    for (const t of [campaignTenant, ...others]) {
      await t.drop().catch((e) => ctx.log(`cleanup: ${e.message}`));
    }
    await sql.end({ timeout: 5 });
  }

  // Each number's first message, and how many it got.
  const sentAt = new Map<string, number>();
  const count = new Map<string, number>();
  for (const a of attempts) {
    if (a.outcome !== "created" || a.to === null) continue;
    count.set(a.to, (count.get(a.to) ?? 0) + 1);
    if (!sentAt.has(a.to)) sentAt.set(a.to, Date.parse(a.at));
  }
  const duplicates = [...count.values()].filter((n) => n > 1).length;
  const campaignSent = [...campaignPhones].filter((p) => count.get(p) === 1).length;
  const singlesSent = singles.filter((s) => count.get(s.phone) === 1).length;

  // Streams: 0 the campaign, 1..OTHERS the businesses' singles.
  const dues: number[][] = [campaignDues];
  const sents: number[][] = [
    [...campaignPhones].map((p) => sentAt.get(p) ?? Infinity).sort((a, b) => a - b),
  ];
  for (let k = 1; k <= OTHERS; k++) {
    const mine = singles.filter((s) => s.stream === k);
    dues.push(mine.map((s) => s.due).sort((a, b) => a - b));
    sents.push(mine.map((s) => sentAt.get(s.phone) ?? Infinity).sort((a, b) => a - b));
  }
  const waits = singles.filter((s) => sentAt.has(s.phone)).map((s) => {
    const t = s.due;
    // Its own stream: rows due before it (strictly) and unsent at t, then itself.
    const own = waitingAt(dues[s.stream], sents[s.stream], t - 1) + 1;
    let ahead = own;
    for (let k = 0; k <= OTHERS; k++) {
      if (k !== s.stream) ahead += Math.min(waitingAt(dues[k], sents[k], t), own);
    }
    const slotMs = (ahead / PACE) * 1000;
    const waitMs = sentAt.get(s.phone)! - s.due;
    return { waitMs, slotMs, extraMs: waitMs - slotMs };
  });
  const extras = waits.map((w) => w.extraMs);
  const worst = extras.length ? Math.max(...extras) : NaN;
  const ratio = worst / 1000 / TARGET_S;
  const campaignTimes = [...campaignPhones].map((p) => sentAt.get(p)).filter((x) =>
    x !== undefined
  ) as number[];
  const campaignSpan = campaignTimes.length > 1
    ? (Math.max(...campaignTimes) - Math.min(...campaignTimes)) / 1000
    : NaN;
  const failed = answers.reduce((a, r) => a + r.failed, 0);
  const checks: Check[] = [
    {
      name: "every campaign row sent once",
      ok: createStatus === 201 && eligible === rows && campaignSent === rows,
      detail: `create ${createStatus}, ${int(eligible)} eligible, ${int(campaignSent)}/${
        int(rows)
      } reached the sandbox once`,
    },
    {
      name: "every single send sent once",
      ok: singles.length > 0 && singlesSent === singles.length,
      detail: `${singlesSent}/${singles.length} reached the sandbox once`,
    },
    {
      name: "no duplicates",
      ok: duplicates === 0,
      detail: `${duplicates} numbers got more than one message`,
    },
    {
      name: "nothing failed or left",
      ok: failed === 0 && remaining === 0,
      detail: `${failed} failed, ${remaining} left in the queue`,
    },
  ];
  const row = (label: string, xs: number[]) => [
    label,
    fmt(percentile(xs, 50)),
    fmt(percentile(xs, 99)),
    fmt(xs.length ? Math.max(...xs) : NaN),
  ];
  return {
    name: "fairness",
    quick: ctx.quick,
    tables: [{
      title: `${int(rows)}-recipient campaign at ${PACE} segments/s, ${OTHERS} other businesses ` +
        `queueing one single send a second each (sandbox latency ${LATENCY_MS} ms)`,
      columns: ["calls", "single sends", "campaign rows", "seconds", "campaign rows/s", "dups"],
      rows: [[
        answers.length,
        singles.length,
        int(campaignSent),
        fmt(seconds),
        fmt(campaignSent / campaignSpan),
        duplicates,
      ]],
    }, {
      title: "Single sends, ms: due → at the sandbox, the pace's fair slot, the extra wait",
      columns: ["", "p50", "p99", "max"],
      rows: [
        row("wait", waits.map((w) => w.waitMs)),
        row("pace slot", waits.map((w) => w.slotMs)),
        row("extra wait", extras),
      ],
    }],
    ratio,
    target: 1,
    direction: "atMost",
    ratioMeaning:
      `worst extra wait of a single send (beyond its fair pace slot) over ${TARGET_S} s`,
    checks,
    notes: [
      "extra wait = (sandbox's record − due) − (p + Σ min(n, p)) / pace; see the module doc",
    ],
    figures: {
      rows,
      singles: singles.length,
      calls: answers.length,
      seconds,
      worstExtraMs: worst,
      p50ExtraMs: percentile(extras, 50),
      p99ExtraMs: percentile(extras, 99),
      campaignSent,
      singlesSent,
      duplicates,
      failed,
    },
  };
}

export const benchmark: Benchmark = {
  name: "fairness",
  description: "single sends of other businesses beside a draining 10,000-recipient campaign",
  run,
};
