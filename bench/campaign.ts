/**
 * `campaign`: a member creates a 100,000-customer campaign through the `campaigns` function on the
 * stack's gateway, the audience listed by id (the contract's most: MAX_CAMPAIGN_CUSTOMER_IDS; the
 * body, about 3.9 MB, must fit the function's 4 MiB limit). The customers are spread over
 * states and zones (bench/lib/tenant.ts PROFILES), and one in ten may not receive it (no
 * consent, opted out, no or invalid number). The ratio is the recipients queued per second of
 * the `create` call's wall time over 10,000, target ≥ 1; the `preview` of the same audience is
 * timed too. The peak memory (VmHWM) of the campaigns function's process must stay under 150 MB.
 * Checks: one deferred send log and one retry row per eligible customer, one skip per ineligible
 * one with its reason, every call answered as the contract says.
 *
 * `--filter`: the audience as a filter (every customer of the business) instead of ids.
 *
 * @module
 */
import { MAX_CAMPAIGN_CUSTOMER_IDS } from "@shared/contract/campaigns.ts";
import type { BenchContext, Benchmark } from "./main.ts";
import { type BenchResult, type Check, fmt, int } from "./lib/report.ts";
import { ownerDb, withCronPaused } from "./lib/stack.ts";
import { planted, PROFILES, scratchTenant } from "./lib/tenant.ts";
import { functionPid, processMemory } from "./lib/procs.ts";

const TARGET = 1;
/** Recipients queued per second the ratio is measured against. */
const RATE = 10_000;
const MEMORY_TARGET_MB = 150;
/** The campaigns function's own limit on a request body (handler.ts). */
const BODY_LIMIT = 4_194_304;
const TEMPLATE = "Hi {{first_name|there}}, our spring offer is on: 20% off any cleaning.";

interface Figures {
  eligible: number;
  ineligible: Record<string, number>;
  segments: number;
  campaignId?: string;
  status?: string;
}

interface Call {
  status: number;
  ms: number;
  text: string;
  figures: Figures | null;
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const info = await ctx.stack();
  const n = ctx.quick ? 1_000 : MAX_CAMPAIGN_CUSTOMER_IDS;
  const byFilter = ctx.has("filter");
  const port = info.functions.find((f) => f.name === "campaigns")?.port;
  if (!port) throw new Error("the stack serves no campaigns function");
  const sql = ownerDb(info, 4);
  const tenant = await scratchTenant(sql, info, "campaign");
  const plantedSkips = planted(n);
  const expectedEligible = n - plantedSkips.no_consent - plantedSkips.opted_out -
    plantedSkips.invalid_phone;
  let preview: Call | null = null;
  let create: Call | null = null;
  let warm: Call | null = null;
  let bodyBytes = 0;
  let insertSeconds = NaN;
  let queued = -1;
  let deferredLogs = -1;
  let skips: Record<string, number> = {};
  const idleMem = functionPid(port) ? processMemory(functionPid(port)!) : null;
  // Read after each call: the platform's wall clock retires a worker, and its successor starts
  // only with the next request, so at the end there may be none to read.
  let mem: ReturnType<typeof processMemory> | null = null;
  let pid: number | null = null;
  const readMemory = () => {
    const now = functionPid(port);
    if (now === null) return;
    const m = processMemory(now);
    if (!mem || m.peakMiB > mem.peakMiB) [mem, pid] = [m, now];
  };
  try {
    // The business's own quota, so the whole campaign fits (scratchTenant sets it when the
    // column exists; the campaign refuses quota_exceeded otherwise).
    await sql`update public.businesses set sms_daily_quota = ${n * 10}
               where id = ${tenant.businessId}`;
    ctx.log(`adding ${int(n)} customers`);
    const t0 = performance.now();
    const ids = await tenant.population(n);
    insertSeconds = (performance.now() - t0) / 1000;
    ctx.log(`added in ${fmt(insertSeconds)} s`);
    await sql`analyze public.customers`;

    const call = async (body: Record<string, unknown>): Promise<Call> => {
      const text = JSON.stringify(body);
      const started = performance.now();
      const res = await fetch(`${info.functionsUrl}/campaigns`, {
        method: "POST",
        headers: { authorization: `Bearer ${tenant.token}`, "content-type": "application/json" },
        body: text,
      });
      const answer = await res.text();
      const ms = performance.now() - started;
      readMemory();
      let figures: Figures | null = null;
      try {
        figures = JSON.parse(answer) as Figures;
      } catch {
        // reported through status and text
      }
      return { status: res.status, ms, text: answer.slice(0, 500), figures };
    };
    const base = {
      businessId: tenant.businessId,
      template: TEMPLATE,
      schedule: { kind: "now" },
    };
    const audience = byFilter ? { filter: {} } : { customerIds: ids };
    bodyBytes = new TextEncoder().encode(JSON.stringify({ ...base, audience })).length;
    await withCronPaused(sql, async () => {
      // The first request of a fresh process compiles the function and opens its pool: not
      // what a create costs.
      warm = await call({ ...base, action: "preview", audience: { customerIds: [ids[10]] } });
      ctx.log(`preview of ${int(n)} customers`);
      preview = await call({ ...base, action: "preview", audience });
      ctx.log(`preview: ${fmt(preview.ms)} ms; create`);
      create = await call({ ...base, action: "create", name: "bench campaign", audience });
      ctx.log(`create: ${fmt(create.ms)} ms`);
      const campaignId = create.figures?.campaignId;
      if (campaignId) {
        [{ n: queued }] = await sql<{ n: number }[]>`
          select count(*)::int as n from sms.retry_queue
           where campaign_id = ${campaignId} and status = 'pending' and reason = 'campaign'`;
        [{ n: deferredLogs }] = await sql<{ n: number }[]>`
          select count(*)::int as n from public.send_logs
           where campaign_id = ${campaignId} and status = 'deferred'`;
        skips = Object.fromEntries(
          (await sql<{ reason: string; n: number }[]>`
            select reason, count(*)::int as n from public.sms_campaign_skips
             where campaign_id = ${campaignId} group by reason`).map((r) => [r.reason, r.n]),
        );
      }
    });
  } finally {
    ctx.log("dropping the tenant");
    await tenant.drop().catch((e) => ctx.log(`cleanup: ${e.message}`));
    await sql.end({ timeout: 5 });
  }
  const p = preview as Call | null;
  const c = create as Call | null;
  const w = warm as Call | null;
  mem = mem as ReturnType<typeof processMemory> | null;
  const eligible = c?.figures?.eligible ?? 0;
  const seconds = (c?.ms ?? NaN) / 1000;
  const perSecond = eligible / seconds;
  const ratio = perSecond / RATE;
  const memOk = mem !== null && mem.peakMiB * 1.048576 < MEMORY_TARGET_MB;
  const skipped = Object.values(skips).reduce((a, x) => a + x, 0);
  const reasonsOk = Object.entries(plantedSkips).every(([r, x]) => (skips[r] ?? 0) === x) &&
    skipped === n - expectedEligible;
  const checks: Check[] = [
    {
      name: "every call answered",
      ok: w?.status === 200 && p?.status === 200 && c?.status === 201,
      detail: `warm-up preview ${w?.status}, preview ${p?.status}, create ${c?.status}` +
        ([w, p, c].some((x) => x && x.status >= 300)
          ? `; ${[w, p, c].find((x) => x && x.status >= 300)?.text}`
          : ""),
    },
    {
      name: "queued = eligible",
      ok: eligible === expectedEligible && queued === eligible && deferredLogs === eligible &&
        p?.figures?.eligible === eligible,
      detail: `${int(eligible)} eligible (expected ${int(expectedEligible)}, preview ` +
        `${p?.figures?.eligible}), ${int(queued)} retry rows, ${int(deferredLogs)} deferred logs`,
    },
    {
      name: "skips = ineligible, by reason",
      ok: reasonsOk,
      detail: `${JSON.stringify(skips)}; planted ${JSON.stringify(plantedSkips)}`,
    },
  ];
  if (!ctx.quick) {
    checks.push({
      name: "the request fits the function's body limit",
      ok: bodyBytes <= BODY_LIMIT,
      detail: `${int(bodyBytes)} bytes of ${int(BODY_LIMIT)}`,
    });
  }
  return {
    name: "campaign",
    quick: ctx.quick,
    tables: [{
      title: `A ${int(n)}-customer campaign through the gateway (audience ${
        byFilter ? "by filter" : "by id"
      }, ${int(bodyBytes)} bytes; ${PROFILES.length} state/zone/area profiles)`,
      columns: ["call", "answer", "ms", "eligible", "ineligible", "queued/s"],
      rows: [
        ["preview (1 customer, warm-up)", w?.status ?? "-", fmt(w?.ms ?? NaN), "", "", ""],
        [
          "preview",
          p?.status ?? "-",
          fmt(p?.ms ?? NaN),
          int(p?.figures?.eligible ?? 0),
          int(Object.values(p?.figures?.ineligible ?? {}).reduce((a, x) => a + x, 0)),
          "",
        ],
        [
          "create",
          c?.status ?? "-",
          fmt(c?.ms ?? NaN),
          int(eligible),
          int(Object.values(c?.figures?.ineligible ?? {}).reduce((a, x) => a + x, 0)),
          int(perSecond),
        ],
      ],
    }, {
      title: "Targets",
      columns: ["what", "value", "target", "met"],
      rows: [
        [
          "recipients queued per second of create",
          int(perSecond),
          `≥ ${int(RATE)}`,
          ratio >= TARGET ? "yes" : "NO",
        ],
        [
          "peak memory of the campaigns function's process (VmHWM)",
          mem ? `${fmt(mem.peakMiB)} MiB` : "n/a",
          `< ${MEMORY_TARGET_MB} MB`,
          memOk ? "yes" : "NO",
        ],
      ],
    }],
    ratio,
    target: TARGET,
    direction: "atLeast",
    ratioMeaning: `recipients queued per second of the create call over ${int(RATE)}`,
    checks,
    notes: [
      `customers added in ${fmt(insertSeconds)} s (set-based: customers, then consent events)`,
      `campaigns pid ${pid ?? "?"}: peak is the process's VmHWM since it started` +
      (ctx.quick ? " (a shared stack: includes earlier tests)" : "") +
      (idleMem ? `; before: ${fmt(idleMem.rssMiB)} MiB resident` : ""),
    ],
    figures: {
      customers: n,
      audience: byFilter ? "filter" : "ids",
      bodyBytes,
      insertSeconds,
      previewMs: p?.ms ?? null,
      createMs: c?.ms ?? null,
      eligible,
      expectedEligible,
      queued,
      deferredLogs,
      skips,
      planted: plantedSkips,
      perSecond,
      memory: mem,
      memoryTargetMet: memOk,
    },
  };
}

export const benchmark: Benchmark = {
  name: "campaign",
  description: "create and queue a 100,000-customer campaign through the campaigns function",
  run,
};
