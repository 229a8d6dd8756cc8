/**
 * process-retries: drains the SMS retry queue. pg_cron calls it every minute (through pg_net) with
 * the cron secret; each run claims due rows in batches with a lease, re-checks every row (consent,
 * phone, quiet hours, frequency cap), sends at the sender's shared pace with bounded concurrency,
 * and finishes each row, until the queue is empty or its time or CPU budget is spent (the
 * platform terminates a worker past 2 s of CPU: a run starts at most `maxRows` rows).
 *
 * Never twice: a row is only sent by the worker holding its lease, with enough lease left to
 * outlast the Twilio call, after its log is marked 'sending'. A row whose earlier attempt may
 * have reached Twilio (a worker died mid-call, a request timed out) is first looked up in
 * Twilio's Messages list and completed if found. Never lost: every claimed row ends completed,
 * pending again (backoff, reschedule, released unstarted), cancelled or failed; a row whose
 * worker dies comes back when its lease expires.
 *
 * Statuses no callback reported: after the queue's work, a run asks Twilio's API about the logs
 * that waited longest for a status callback (refresh.ts has the thresholds) and applies the
 * answers forward only, as callbacks are applied, recorded with source 'lookup'.
 *
 * Prices: last, a run reads the prices of campaign messages Twilio has billed from its Messages
 * list, 1,000 a page (pricing.ts), and stores them on the logs in one statement a page.
 *
 * @module
 */
import { asService, type Db, type Sql } from "@shared/runtime/db.ts";
import { isSmsError, SmsError } from "@shared/contract/errors.ts";
import { connectedSql, type FunctionDeps, type FunctionHandler } from "@shared/runtime/function.ts";
import { jsonResponse, parseJson, readBody } from "@shared/runtime/http.ts";
import type { Logger } from "@shared/runtime/log.ts";
import {
  claimLimit,
  CpuLedger,
  createRunBudget,
  type RunBudget,
  type RunSeat,
  SendSpacer,
  sleep as defaultSleep,
  slotCostMs,
  TaskPool,
} from "./pacing.ts";
import { applyProviderError } from "@shared/store.ts";
import { FREQUENCY_CAP_LOOKBACK_MS } from "@shared/compliance/frequency-cap.ts";
import {
  applyRequestOverrides,
  finishReserveMs,
  leaseSecondsFor,
  minLeaseSecondsAtSend,
  parseProcessRetriesRequest,
  PLATFORM_SOFT_CPU_LIMIT_MS,
  retryConfigFromEnv,
  type RetryRunConfig,
} from "./config.ts";
import { decideRetry, planFailure, validityPeriodFor } from "./plan.ts";
import { findSentMessage, reconcileSince } from "./reconcile.ts";
import {
  fetchMessage,
  type FetchMessageResult,
  isMessageSid,
  listMessages,
  messagePages,
} from "@shared/twilio/messages.ts";
import { twilioDateTime } from "@shared/twilio/inbound-messages.ts";
import {
  mayReadPricePage,
  PRICE_PAGE_CPU_ROWS,
  PRICE_PAGE_SIZE,
  priceClaimLimit,
  pricesOf,
  priceWindow,
  type PricingConfig,
  pricingConfigFromEnv,
} from "./pricing.ts";
import {
  LOOKUP_TIMEOUT_MS,
  lookupOutcome,
  nextLookupClaim,
  type RefreshConfig,
  refreshConfigFromEnv,
} from "./refresh.ts";
import { recoverInbound, takeInboundRecovery } from "./recover-inbound.ts";
import { countSegments } from "@shared/text/segments.ts";
import { timingSafeEqual } from "@shared/twilio/signature.ts";
import { classifyTwilioError, type TwilioErrorClassification } from "@shared/twilio/errors.ts";
import { type TwilioClient, TwilioSendError } from "@shared/twilio/client.ts";
import type { ProcessRetriesResult } from "./config.ts";
import type { SendSmsResult } from "@shared/twilio/client.ts";
import {
  cancelRetry,
  claimDueRetries,
  type ClaimedRetry,
  claimPriceLookups,
  claimStatusLookups,
  completeRetry,
  failRetry,
  finishCampaigns,
  finishHeartbeat,
  finishRetrySend,
  type LookupApplied,
  nextDueInMs,
  pacingBacklogMs,
  recordMessagePrices,
  recordStatusLookup,
  releasePriceLookups,
  releaseStatusLookup,
  rescheduleRetry,
  reserveSendSlot,
  sendContext,
  sendLogForReconcile,
  sidsHeldElsewhere,
  startHeartbeat,
  startRetrySend,
} from "./store.ts";

/** Test seams of {@link createProcessRetriesHandler}; production uses the defaults. */
export interface ProcessRetriesOptions {
  /** Randomness for the backoff's jitter. */
  random?: () => number;
  /** Monotonic clock (ms) for the time budget. Default `performance.now`. */
  clock?: () => number;
  /** Waits for a send slot. */
  sleep?: (ms: number) => Promise<void>;
  /** The worker's CPU plan, shared by its runs (default: one per handler, so per isolate). */
  cpu?: CpuLedger;
  /** Keeps the worker's sends apart, across its runs (default: one per handler). */
  spacer?: SendSpacer;
}

/** Largest request body accepted (the cron sends `{}`). */
const MAX_BODY_BYTES = 4096;
/** Lookups in a row Twilio may leave unanswered before a run stops asking. */
const MAX_LOOKUP_ERRORS = 3;
/** Rounds of a row's decision under the locks before the row goes back to the queue. */
const LOCKED_ROUNDS = 3;
/**
 * CPU an answered request still costs, in ms (its statement and the bookkeeping): what a run in
 * flight may spend once it made all its requests. Measured: about 1 ms of the 4.3–4.5 ms a row
 * costs in all (edge-cpu); rounded up.
 */
const ANSWER_CPU_MS = 2;
/** Pages of the recipient's messages read at most when reconciling (50 per page). */
const RECONCILE_MAX_PAGES = 20;
/**
 * How long before its last booked slot a run whose plan is spent starts the next, and before the
 * sender's booked slots end a run left nothing to start hands on: a fresh worker took 0.24–0.32 s
 * from the request to its first booked batch, and its first 20–40 rows' statements took 100–250
 * ms more (new backends, cold code), so with 500 ms its first sends went up to 70 ms late (p50
 * of a run) and the lateness stayed with every later send of the worker; 2–23 ms with 800
 * (bench/drain.ts, docs/performance.md, thirteenth round).
 */
const BOOT_LEAD_MS = 800;
/** Least wait of a run left nothing to start before it hands on (bounds a worker's hand-ons). */
const MIN_HAND_ON_MS = 100;
/**
 * How long before its slot a row is started: its statements (a few ms, 100–250 on a fresh
 * worker's first rows, above) are done by then without every row of its batch queueing for the
 * pool's connections at once.
 */
const PREPARE_LEAD_MS = 400;
/**
 * Longest lead of a batch's first slot on an idle sender ({@link BOOK_LEAD_PER_ROW_MS}). Rows that
 * then go late catch up within the second (SendSpacer), so a longer lead only delays the drain:
 * 200 ms put the first request 230 ms after the call, 50 ms 80 ms.
 */
const BOOK_LEAD_MAX_MS = 50;
/**
 * How far ahead of now a batch's first slot is booked at the soonest, per row (up to
 * {@link BOOK_LEAD_MAX_MS}): on an idle sender the batch's first rows all start at once, and their
 * statements queue for the pool's connections. One row waits for 15 ms only.
 */
const BOOK_LEAD_PER_ROW_MS = 15;
/**
 * Gap between the slots another worker booked and this worker's next: a worker's sends catch up
 * with their slots (SendSpacer), but a stall just before its last ones can still leave them late,
 * and a fresh worker's boot stalls the one still sending. Each change of worker costs the gap:
 * 250 ms while sends never caught up (workers ended 100–400 ms late); 40 ms since, with the
 * busiest second at 99–101 (docs/decisions.md).
 */
const HAND_OVER_GAP_MS = 40;
/**
 * How far into the hand-over gap a worker still sends: a row that, as late as the worker's sends
 * run, would go later than that is booked again, after the next worker's slots rather than onto
 * its first ones (the lateness can still grow by the rest of the gap before the send).
 */
const HAND_OVER_REACH_MS = 15;
/** Rows of a batch still to start when the next batch is claimed (its round trips, ~40 ms). */
const PREFETCH_ROWS = 10;
/**
 * Share of the sender's limit a run books: a request reaches Twilio some milliseconds after its
 * decision, and a stalled process (this 2-core machine under load: up to 50 ms) lets the requests
 * decided meanwhile go together, which puts more than the booked pace into the second that starts
 * with them. With sends catching up and a busy-loop process beside the drain, its busiest second
 * was 100–101 at 97%, 100–102 at 97.5% and 101–102 at 98% (bench/drain.ts, docs/decisions.md).
 */
const PACE_HEADROOM = 0.97;

/** Whether the request carries the cron secret (as a bearer token or in `x-cron-secret`). */
export function hasCronSecret(req: Request, secret: string | undefined): boolean {
  if (!secret) return false;
  const authorization = req.headers.get("authorization") ?? "";
  const bearer = /^Bearer\s+(.+)$/i.exec(authorization.trim())?.[1] ?? "";
  const header = req.headers.get("x-cron-secret") ?? "";
  // Both are compared, so the time taken does not say which header was tried.
  const a = timingSafeEqual(bearer, secret);
  const b = timingSafeEqual(header, secret);
  return a || b;
}

type RowOutcome =
  | "sent"
  | "deferred"
  | "failed"
  | "cancelled"
  | "reconciled"
  | "released"
  | "lost"
  | "error";

function emptyResult(): ProcessRetriesResult {
  return { claimed: 0, sent: 0, deferred: 0, failed: 0, skipped: 0 };
}

/**
 * The process-retries handler: authorizes with `PROCESS_RETRIES_SECRET`, then runs the queue and
 * answers `{ claimed, sent, deferred, failed, skipped }`; every run is recorded in
 * `worker_heartbeats`.
 */
export function createProcessRetriesHandler(
  deps: FunctionDeps,
  options: ProcessRetriesOptions = {},
): FunctionHandler {
  let cpu = options.cpu;
  const spacer = options.spacer ?? new SendSpacer(options.clock);
  return async (req, log) => {
    if (!hasCronSecret(req, deps.env.PROCESS_RETRIES_SECRET)) {
      if (!deps.env.PROCESS_RETRIES_SECRET) log.error("process_retries_secret_missing");
      throw new SmsError("unauthorized", "a valid cron secret is required");
    }
    const text = await readBody(req, { maxBytes: MAX_BODY_BYTES });
    const { rest, recovery } = takeInboundRecovery(
      text.trim() ? parseJson(text) : null,
      deps.now(),
    );
    const request = parseProcessRetriesRequest(rest);
    const sql = await connectedSql(deps);

    const heartbeat = await startHeartbeat(sql, log.requestId);
    // A worker that cannot run still leaves a failed heartbeat, so worker_health says why.
    let config: RetryRunConfig;
    let refresh: RefreshConfig;
    let pricing: PricingConfig;
    try {
      config = applyRequestOverrides(retryConfigFromEnv(deps.env), request);
      refresh = refreshConfigFromEnv(deps.env);
      pricing = pricingConfigFromEnv(deps.env);
    } catch (error) {
      const message = `misconfigured: ${(error as Error).message}`;
      await finishHeartbeat(sql, { id: heartbeat, result: emptyResult(), error: message });
      throw error;
    }
    // One plan per isolate: the environment, and so the budget, is the same for all its runs.
    cpu ??= new CpuLedger(
      config.workerCpuBudgetMs,
      Math.min(PLATFORM_SOFT_CPU_LIMIT_MS, config.workerCpuBudgetMs),
    );
    if (!deps.twilio) {
      await finishHeartbeat(sql, { id: heartbeat, result: emptyResult(), error: "sms_disabled" });
      throw new SmsError("sms_disabled", "Twilio is not configured");
    }
    // Before the queue: a recovered STOP cancels the retries it would otherwise send.
    const recovered = recovery &&
      await recoverInbound({ sql, twilio: deps.twilio, env: deps.env, log }, recovery)
        .catch(async (error) => {
          await finishHeartbeat(sql, {
            id: heartbeat,
            result: emptyResult(),
            error: "inbound recovery failed",
          }).catch((e) => log.error("heartbeat_failed", { error: e }));
          throw error;
        });
    const run = new RetryRun({
      sql,
      twilio: deps.twilio,
      now: deps.now,
      log,
      config,
      refresh,
      pricing,
      worker: `process-retries/${log.requestId}`,
      options,
      cpu,
      spacer,
    });
    let result: ProcessRetriesResult;
    try {
      result = await run.run();
    } catch (error) {
      await finishHeartbeat(sql, {
        id: heartbeat,
        result: run.result,
        error: `run aborted: ${(error as Error)?.name ?? "error"}`,
      }).catch((e) => log.error("heartbeat_failed", { error: e }));
      throw error;
    }
    // Campaigns whose time came start, and those whose every message is final are done.
    await finishCampaigns(sql).catch((e) => log.error("finish_campaigns_failed", { error: e }));
    const error = run.rowErrors > 0 ? `${run.rowErrors} row(s) hit an unexpected error` : null;
    await finishHeartbeat(sql, { id: heartbeat, result, error })
      .catch((e) => log.error("heartbeat_failed", { error: e }));
    log.info("run_finished", {
      ...result,
      reconciled: run.reconciled,
      released: run.released,
      rowErrors: run.rowErrors,
      ...run.lookups,
      ...run.prices,
      chained: run.chained,
      ms: Math.round(run.elapsedMs()),
    });
    return jsonResponse(200, recovered ? { ...result, recoverInbound: recovered } : result);
  };
}

interface RunContext {
  sql: Sql;
  twilio: TwilioClient;
  now: () => Date;
  log: Logger;
  config: RetryRunConfig;
  refresh: RefreshConfig;
  pricing: PricingConfig;
  worker: string;
  options: ProcessRetriesOptions;
  cpu: CpuLedger;
  spacer: SendSpacer;
}

/** Claimed rows and their slots; `full`: the claim got all it asked for, so more may be due. */
interface Batch {
  rows: ClaimedRetry[];
  slots: Slot[];
  full: boolean;
}

/** A row's booked instant on the sender (ms on the run's clock), and how long it holds it. */
interface Slot {
  atMs: number;
  costMs: number;
}

/** A row started: where it goes and for how long Twilio may try. */
interface Prepared {
  to: string;
  validityPeriod: number;
}

/** One run: claims batches and works through them until the queue or the budget runs out. */
class RetryRun {
  readonly result = emptyResult();
  reconciled = 0;
  released = 0;
  rowErrors = 0;
  /** Status lookups: made, that moved a log, that found no message, that got no answer. */
  readonly lookups = { lookedUp: 0, refreshed: 0, notFound: 0, lookupErrors: 0 };
  /** Price lookups: list pages read, logs claimed, logs priced. */
  readonly prices = { pricePages: 0, priceClaimed: 0, priced: 0 };
  /** Whether this run started the next one. */
  chained = false;
  /** Rows taken when this run last started the next one (one start per plan spent). */
  #chainedAtTaken = -1;
  #ctx: RunContext;
  #budget: RunBudget;
  #saturated = false;
  #started = 0;
  /** Rows claimed: their CPU is planned when they are claimed, started or not. */
  #taken = 0;
  #paceKey: string;
  /** The run's place in its worker's CPU plan (set as it starts). */
  #seat: RunSeat | null = null;
  /** Segments per second this run books: the sender's limit less the headroom. */
  #pace: number;
  #sleep: (ms: number) => Promise<void>;

  constructor(ctx: RunContext) {
    this.#ctx = ctx;
    this.#budget = createRunBudget({
      budgetMs: ctx.config.budgetMs,
      reserveMs: finishReserveMs(ctx.config),
      clock: ctx.options.clock,
    });
    const c = ctx.twilio.config;
    // One pace per sender: the account and the number or service everything goes out through.
    this.#paceKey = `twilio:${c.accountSid}:${c.messagingServiceSid ?? c.from}`;
    this.#pace = ctx.config.segmentsPerSecond * PACE_HEADROOM;
    this.#sleep = ctx.options.sleep ?? defaultSleep;
  }

  elapsedMs(): number {
    return this.#budget.elapsedMs();
  }

  /** A time of this run (ms since it began) on the worker's clock. */
  #onClock(ms: number): number {
    return this.#budget.startedAt + ms;
  }

  #canStart(): boolean {
    return !this.#saturated && this.#budget.canStart();
  }

  /**
   * Starts the next run through pg_net, as the cron does, when this one was asked to chain: its
   * CPU plan, not the queue or the pace, ended it. A run that starts nothing never chains, so a
   * worker whose own plan is spent ends the chain until the next cron tick. Once per plan spent:
   * the next run may land in this worker and give this run room again.
   */
  async #chainNext(): Promise<void> {
    if (!this.#ctx.config.chain || this.#chainedAtTaken === this.#taken) return;
    this.#chainedAtTaken = this.#taken;
    try {
      const [{ id }] = await this.#ctx.sql<{ id: string }[]>`
        select sms.invoke_process_retries()::text as id`;
      this.chained = true;
      this.#ctx.log.info("run_chained", { netRequestId: id });
    } catch (error) {
      this.#ctx.log.error("chain_failed", { error, stack: stackLine(error) });
    }
  }

  /** Rows the CPU plans (the run's and the worker's) still allow to claim. */
  #rowsLeft(): number {
    const { maxRows, cpuMsPerRow } = this.#ctx.config;
    const worker = Math.floor(this.#ctx.cpu.leftMs / cpuMsPerRow);
    return Math.max(0, Math.min(maxRows - this.#taken, worker));
  }

  async run(): Promise<ProcessRetriesResult> {
    // Counted in the worker until its last statement (CpuLedger.enter).
    const seat = this.#seat = this.#ctx.cpu.enter();
    try {
      return await this.#work(seat);
    } finally {
      seat.leave();
    }
  }

  async #work(seat: RunSeat): Promise<ProcessRetriesResult> {
    const { config } = this.#ctx;
    const leaseSeconds = leaseSecondsFor(config);
    const pool = new TaskPool(config.concurrency);
    // Whether due rows were left when the CPU plan stopped the claiming.
    let more = false;
    // Per started row: settled once its request went to Twilio, or it ended without one.
    const issued: Promise<void>[] = [];
    const chains: Promise<void>[] = [];
    // When the last row was started (ms of the run).
    let startedAtMs = -Infinity;
    // A row's answer share of its CPU plan: spent when the row ends, the rest once its request
    // is made.
    const answerMs = Math.min(ANSWER_CPU_MS, config.cpuMsPerRow);
    try {
      // A chained run that reached a worker whose other run still claims: the room this request
      // proved (CpuLedger.enter) goes to that run, whose slots follow on without a hand-over.
      if (config.chain && seat.othersClaiming()) return this.result;
      let batch = await this.#claimBatch(leaseSeconds);
      claiming: while (batch) {
        const { rows, slots } = batch;
        more = batch.full;
        // The plan is spent with rows still due: the next run is started a fresh worker's boot
        // before this batch's last slot, so that its slots follow these, not a hole after them.
        // If it lands in this worker, the room it proves lets this run claim on.
        if (batch.full && this.#rowsLeft() < 1) {
          if (this.#taken >= config.maxRows) seat.claimed();
          const at = slots[slots.length - 1].atMs - BOOT_LEAD_MS;
          chains.push(
            this.#sleep(Math.max(0, at - this.#budget.elapsedMs())).then(() => this.#chainNext()),
          );
        }
        // The next batch is claimed and booked while this one's last rows wait for lanes, so its
        // slots follow on without the claim's round trips between them.
        let next: Promise<Batch | null> | null = null;
        const prefetchAt = batch.full ? Math.max(0, rows.length - PREFETCH_ROWS) : -1;
        for (const [i, row] of rows.entries()) {
          if (i === prefetchAt) next = this.#claimBatch(leaseSeconds);
          // A row is started a little before its slot, not with its whole batch, and half a slot
          // after the row before at the soonest: a batch's rows started together queue for the
          // pool's connections, and their statements' answers hold the event loop while earlier
          // rows' requests wait to go out (8 requests reached the sandbox within a millisecond).
          await this.#sleep(
            Math.max(
              slots[i].atMs - PREPARE_LEAD_MS,
              startedAtMs + slots[i].costMs / 2,
            ) - this.#budget.elapsedMs(),
          );
          startedAtMs = this.#budget.elapsedMs();
          await pool.ready();
          if (!this.#canStart()) {
            more = true;
            const extra = (await next)?.rows ?? [];
            await this.#releaseAll([...rows.slice(i), ...extra]);
            break claiming;
          }
          // Too late for this worker's booking, where the next worker's slots may begin: the
          // batch's rows left are booked again, after whatever was booked since.
          if (
            this.#ctx.spacer.pastBooking(
              this.#paceKey,
              this.#onClock(slots[i].atMs),
              HAND_OVER_REACH_MS,
            )
          ) {
            const again = await this.#bookSlots(rows.slice(i));
            if (again === null) {
              // As when a claim's booking finds the sender booked past the deadline.
              this.#saturated = more = true;
              await this.#releaseAll(rows.slice(i));
              break;
            }
            slots.splice(i, again.length, ...again);
            await this.#sleep(slots[i].atMs - PREPARE_LEAD_MS - this.#budget.elapsedMs());
          }
          this.#started++;
          const sent = Promise.withResolvers<void>();
          issued.push(sent.promise);
          // What a row spends, as planned: all but its answer's part once its request is made.
          let made = false;
          pool.start(async () => {
            try {
              await this.#processRow(row, slots[i], () => {
                if (!made) seat.spent(config.cpuMsPerRow - answerMs);
                made = true;
                sent.resolve();
              });
            } finally {
              seat.spent(answerMs);
            }
          });
        }
        batch = batch.full
          ? await (next ?? this.#claimBatch(leaseSeconds))
          : await this.#awaitNextDue(leaseSeconds);
      }
      seat.claimed();
      await Promise.all(chains);
      // A plan cut short (its deadline, the chain's next run not there yet): the next run now.
      if (more && this.#rowsLeft() < 1 && this.#started > 0 && !this.#saturated) {
        await this.#chainNext();
      }
      await Promise.all(issued);
      seat.issued();
      // Nothing started because the worker's other runs planned its CPU: the next run goes where
      // the runtime routes it (a fresh worker once this one is retired), rather than the chain
      // stopping until the cron's next minute. It is started a fresh worker's boot before the
      // sender's booked slots end, or once the others have made their requests if that is
      // sooner. One the runtime still routes here waits likewise, at least a hand-on apart.
      if (this.#started === 0 && seat.othersSending() && this.#rowsLeft() < 1) {
        const backlogMs = await pacingBacklogMs(this.#ctx.sql, this.#paceKey);
        const early = this.#sleep(Math.max(MIN_HAND_ON_MS, backlogMs - BOOT_LEAD_MS));
        await Promise.race([seat.othersIssued(), early]);
        await this.#chainNext();
      }
    } finally {
      await pool.drain();
    }
    // Sends first: statuses are refreshed with what the queue's work left of the budget. The
    // queue's work is done and recorded, so a failure here does not fail the run.
    try {
      await this.#refreshStatuses();
    } catch (error) {
      this.rowErrors++;
      this.#ctx.log.error("status_refresh_failed", { error, stack: stackLine(error) });
    }
    try {
      await this.#priceMessages();
    } catch (error) {
      this.rowErrors++;
      this.#ctx.log.error("price_lookup_failed", { error, stack: stackLine(error) });
    }
    return this.result;
  }

  /**
   * Reads the prices of the campaign messages Twilio billed and whose price is not stored yet:
   * claims them (oldest first, as many as the run's pages hold), lists the sender's messages
   * sent in their window, newest first, 1,000 a page, and stores each page's prices in one
   * statement (any unpriced log of a listed sid takes its price, claimed or not). It stops when
   * every claimed message was listed, the list ends, or the run's pages, CPU plan or time run
   * out; the messages it did not reach are then made due again at once. A message listed still
   * unpriced waits for the recheck interval.
   */
  async #priceMessages(): Promise<void> {
    const { sql, pricing, twilio, config } = this.#ctx;
    const canRead = () =>
      mayReadPricePage({
        config: pricing,
        read: this.prices.pricePages,
        cpuRowsLeft: this.#rowsLeft(),
        canStart: this.#budget.canStart(),
      });
    if (!canRead()) return;
    const claimed = await claimPriceLookups(sql, {
      limit: priceClaimLimit(pricing),
      config: pricing,
    });
    this.prices.priceClaimed = claimed.length;
    if (claimed.length === 0) return;
    const waiting = new Map(claimed.map((c) => [c.sid, c.sendLogId]));
    const window = priceWindow(claimed.map((c) => c.sentAt));
    const from = twilio.config.messagingServiceSid ? null : twilio.config.from;
    const pages = messagePages(
      twilio,
      {
        ...(from ? { From: from } : {}),
        "DateSent>": twilioDateTime(window.after),
        "DateSent<": twilioDateTime(window.before),
      },
      pricing.maxPages,
      PRICE_PAGE_SIZE,
    );
    let listedAll = false;
    try {
      while (waiting.size > 0 && canRead()) {
        this.#started += PRICE_PAGE_CPU_ROWS;
        this.#seat!.plan(PRICE_PAGE_CPU_ROWS * config.cpuMsPerRow);
        const page = await pages.next();
        if (page.done) {
          listedAll = page.value;
          break;
        }
        this.prices.pricePages++;
        for (const m of page.value) if (typeof m.sid === "string") waiting.delete(m.sid);
        this.prices.priced += await recordMessagePrices(sql, pricesOf(page.value));
      }
    } finally {
      if (!listedAll && waiting.size > 0) await releasePriceLookups(sql, [...waiting.values()]);
    }
  }

  /**
   * Asks Twilio for the current status of the logs that waited longest for a callback, one
   * request at a time (never more than one lookup in flight, so a run adds little to the
   * account's request rate), within the run's lookups, CPU plan and time, and applies each
   * answer as a callback would be applied. A lookup Twilio does not answer leaves its log due
   * for the next run; after {@link MAX_LOOKUP_ERRORS} in a row the run stops asking.
   */
  async #refreshStatuses(): Promise<void> {
    const { sql, refresh, twilio, log, config } = this.#ctx;
    let errorsInARow = 0;
    while (errorsInARow < MAX_LOOKUP_ERRORS) {
      const limit = nextLookupClaim({
        config: refresh,
        done: this.lookups.lookedUp,
        cpuRowsLeft: this.#rowsLeft(),
        canStart: this.#budget.canStart(),
      });
      if (limit < 1) return;
      const claimed = await claimStatusLookups(sql, { limit, config: refresh });
      if (claimed.length === 0) return;
      for (const [i, item] of claimed.entries()) {
        if (!this.#budget.canStart() || errorsInARow >= MAX_LOOKUP_ERRORS) {
          for (const left of claimed.slice(i)) await releaseStatusLookup(sql, left.sendLogId);
          return;
        }
        if (!isMessageSid(item.sid)) {
          // Not Twilio's doing: left marked, so it is not asked about again until the recheck.
          log.warn("status_lookup_bad_sid", { sendLogId: item.sendLogId });
          continue;
        }
        this.#started++;
        this.#seat!.plan(config.cpuMsPerRow);
        this.lookups.lookedUp++;
        let found: FetchMessageResult;
        try {
          found = await fetchMessage(twilio, item.sid, { timeoutMs: LOOKUP_TIMEOUT_MS });
        } catch (error) {
          errorsInARow++;
          this.lookups.lookupErrors++;
          log.warn("status_lookup_failed", { sendLogId: item.sendLogId, sid: item.sid, error });
          await releaseStatusLookup(sql, item.sendLogId);
          continue;
        }
        errorsInARow = 0;
        const outcome = lookupOutcome(found);
        let applied: LookupApplied;
        try {
          applied = await recordStatusLookup(sql, {
            sendLogId: item.sendLogId,
            sid: item.sid,
            outcome,
          });
        } catch (error) {
          // Marked looked up: asked again after the recheck interval.
          log.error("status_lookup_record_failed", { sendLogId: item.sendLogId, error });
          this.rowErrors++;
          continue;
        }
        if (outcome.kind === "not_found") this.lookups.notFound++;
        if (applied.applied) {
          this.lookups.refreshed++;
          log.info("status_refreshed", {
            sendLogId: item.sendLogId,
            sid: item.sid,
            fromStatus: item.status,
            toStatus: applied.status,
            ...(outcome.kind === "status" && outcome.errorCode !== null
              ? { errorCode: outcome.errorCode }
              : {}),
          });
        }
      }
      if (claimed.length < limit) return;
    }
  }

  #count(outcome: RowOutcome): void {
    switch (outcome) {
      case "sent":
        this.result.sent++;
        break;
      case "deferred":
        this.result.deferred++;
        break;
      case "failed":
        this.result.failed++;
        break;
      case "reconciled":
        this.reconciled++;
        this.result.skipped++;
        break;
      case "released":
        this.released++;
        this.result.skipped++;
        break;
      case "error":
        this.rowErrors++;
        this.result.skipped++;
        break;
      default:
        this.result.skipped++;
    }
  }

  /**
   * Once the queue ran dry, a run the cron started (or chained) that has sent waits for the next
   * row coming due before its deadline (a send a 429 deferred, a short backoff) and claims it,
   * rather than leaving it until the cron's next minute. `null`: nothing to wait for, or the row
   * was not there to claim (another worker took it).
   */
  async #awaitNextDue(leaseSeconds: number): Promise<Batch | null> {
    if (!this.#ctx.config.chain || this.#started === 0) return null;
    if (!this.#canStart() || this.#rowsLeft() < 1) return null;
    const inMs = await nextDueInMs(this.#ctx.sql);
    if (inMs === null || inMs >= this.#budget.remainingStartMs()) return null;
    await this.#sleep(inMs);
    return await this.#claimBatch(leaseSeconds);
  }

  /**
   * Claims the next batch (no more rows than the CPU plans have room for, nor than can start
   * before the deadline at the pace), plans their CPU and books their slots. `null`: nothing more
   * to start.
   */
  async #claimBatch(leaseSeconds: number): Promise<Batch | null> {
    const { sql, config, worker } = this.#ctx;
    const room = this.#rowsLeft();
    if (!this.#canStart() || room < 1) {
      // Room a later request proves goes to that request's run, not to this one.
      this.#seat!.claimed();
      return null;
    }
    const backlogMs = await pacingBacklogMs(sql, this.#paceKey);
    const limit = claimLimit({
      batchSize: Math.min(config.batchSize, room),
      remainingStartMs: this.#budget.remainingStartMs(),
      segmentsPerSecond: this.#pace,
      backlogMs,
    });
    if (limit < 1) return null;
    const rows = await claimDueRetries(sql, { limit, leaseSeconds, worker });
    this.result.claimed += rows.length;
    if (rows.length === 0) return null;
    const slots = await this.#bookSlots(rows);
    // Every slot left before the deadline is taken (by this run or others): stop starting.
    if (slots === null) {
      this.#saturated = true;
      await this.#releaseAll(rows);
      return null;
    }
    // Planned as claimed, so another run of the worker cannot plan the same CPU meanwhile.
    this.#taken += rows.length;
    this.#seat!.plan(rows.length * config.cpuMsPerRow);
    return { rows, slots, full: rows.length === limit };
  }

  /**
   * Books a claimed batch's segments on the sender in one reservation, so no other worker's slot
   * falls between its rows' (two isolates' timers drift apart, and interleaved sends bunched up:
   * docs/decisions.md). Each row's slot follows the previous row's segments. A row that then is
   * not sent leaves its slot unused, which only ever slows the pace. `null`: the sender is booked
   * past the run's deadline.
   */
  async #bookSlots(rows: ClaimedRetry[]): Promise<Slot[] | null> {
    const { sql, twilio } = this.#ctx;
    const segments = rows.map((row) =>
      countSegments(row.body, { smartEncoding: twilio.config.smartEncoded })
    );
    const askedMs = this.#budget.elapsedMs();
    const booked = await reserveSendSlot(sql, {
      key: this.#paceKey,
      segments: segments.reduce((a, b) => a + b, 0),
      segmentsPerSecond: this.#pace,
      maxWaitMs: this.#budget.remainingStartMs(),
      leadMs: Math.min(BOOK_LEAD_MAX_MS, BOOK_LEAD_PER_ROW_MS * rows.length),
      booker: this.#ctx.spacer.worker,
      gapMs: HAND_OVER_GAP_MS,
    });
    const answeredMs = this.#budget.elapsedMs();
    if (booked === null) return null;
    // The slot is an instant, placed by the database's clock read with it: an answer this busy
    // event loop took up late would otherwise push the whole batch onto the next one's slots
    // (another worker's). The database read its clock between the question and the answer, so
    // those bound it if the two hosts' clocks disagree.
    const bookedAtMs = answeredMs - (this.#ctx.now().getTime() - booked.dbNowMs);
    let atMs = Math.min(answeredMs, Math.max(askedMs, bookedAtMs)) + booked.waitMs;
    const slots = segments.map((n) => {
      const slot = { atMs, costMs: slotCostMs(n, this.#pace) };
      atMs += slot.costMs;
      return slot;
    });
    this.#ctx.spacer.booked(this.#paceKey, this.#onClock(atMs));
    return slots;
  }

  /**
   * Waits for the row's slot, then for the worker's previous send to be far enough behind
   * (SendSpacer): timers that fire late (a busy event loop) fire together.
   */
  async #awaitSlot(slot: Slot): Promise<void> {
    await this.#sleep(Math.max(0, slot.atMs - this.#budget.elapsedMs()));
    await this.#ctx.spacer.take(this.#paceKey, this.#onClock(slot.atMs), slot.costMs, this.#sleep);
  }

  /** Works one row; `issued` is called when its request goes to Twilio, or when it ends. */
  async #processRow(row: ClaimedRetry, slot: Slot, issued: () => void): Promise<void> {
    let outcome: RowOutcome;
    try {
      outcome = await this.#attempt(row, slot, issued);
    } catch (error) {
      // The row stays held; its lease brings it back (reconciled first if it was marked sending).
      this.#ctx.log.error("row_failed", { retryId: row.id, error, stack: stackLine(error) });
      outcome = "error";
    } finally {
      issued();
    }
    this.#count(outcome);
  }

  /** Hands back claimed rows this run will not start, counting each outcome. */
  async #releaseAll(rows: ClaimedRetry[]): Promise<void> {
    for (const row of rows) this.#count(await this.#release(row));
  }

  /** Puts a row this run claimed but did not start back to pending, attempt given back. */
  async #release(row: ClaimedRetry): Promise<RowOutcome> {
    try {
      const ok = await rescheduleRetry(this.#ctx.sql, {
        retryId: row.id,
        worker: this.#ctx.worker,
        at: row.scheduledFor,
        reason: null,
      });
      return ok ? "released" : "lost";
    } catch (error) {
      this.#ctx.log.error("release_failed", { retryId: row.id, error });
      return "error";
    }
  }

  async #attempt(row: ClaimedRetry, slot: Slot, issued: () => void): Promise<RowOutcome> {
    const { twilio } = this.#ctx;
    if (!this.#canStart()) return await this.#release(row);

    if (row.outcomeUncertain) {
      const found = await this.#reconcileOrFail(row);
      if (found !== "not_found") return found;
    }

    const waitMs = Math.max(0, slot.atMs - this.#budget.elapsedMs());
    const prepared = await this.#prepare(row, waitMs);
    if (typeof prepared === "string") return prepared;

    await this.#awaitSlot(slot);
    let sent: SendSmsResult;
    try {
      const sending = twilio.sendMessage({
        to: prepared.to,
        body: row.body,
        validityPeriod: prepared.validityPeriod,
      });
      issued();
      sent = await sending;
    } catch (error) {
      return await this.#recordFailure(row, error, prepared.to);
    }
    await this.#recordSent(row, sent);
    return "sent";
  }

  /**
   * Decides the row's fate on a fresh read and, to send, starts it: the log marked 'sending' with
   * its receipt, if what the decision read still holds under the locks. First as statements of
   * their own (no lock held across a round trip); if another send to the number (or a consent,
   * number or zone change) came in between, once more in one transaction that holds the locks
   * from the read to the start, so a number many workers send to cannot starve a row.
   */
  async #prepare(row: ClaimedRetry, waitMs: number): Promise<Prepared | RowOutcome> {
    const first = await this.#decideAndStart(this.#ctx.sql, row, waitMs);
    if (first !== "changed") return first;
    // Under the locks only what they do not cover can still change: another log of the number
    // that a callback or a failed send moves out of the recent sends, the business's settings.
    // That is rare, so the locked round is tried again before the row goes back.
    for (let round = 0; round < LOCKED_ROUNDS; round++) {
      const locked = await asService(this.#ctx.sql, (tx) => this.#decideAndStart(tx, row, waitMs));
      if (locked !== "changed") return locked;
    }
    return await this.#release(row);
  }

  async #decideAndStart(
    db: Db,
    row: ClaimedRetry,
    waitMs: number,
  ): Promise<Prepared | RowOutcome | "changed"> {
    const { worker, config, twilio } = this.#ctx;
    const held = { retryId: row.id, worker };
    const now = this.#ctx.now();
    const since = new Date(now.getTime() - FREQUENCY_CAP_LOOKBACK_MS);
    const minLeaseSeconds = minLeaseSecondsAtSend(config, this.#budget.remainingStartMs());
    const context = await sendContext(db, { ...held, minLeaseSeconds, since });
    if (!context.leaseHeld) return "lost";
    if (!this.#canStart()) {
      const ok = await rescheduleRetry(db, { ...held, at: row.scheduledFor, reason: null });
      return ok ? "released" : "lost";
    }
    let decision = decideRetry(context.facts, now);
    // The slot may come after the recipient's window closes (or the cap fills).
    if (decision.action === "send" && waitMs > 0) {
      const later = decideRetry(context.facts, new Date(now.getTime() + waitMs));
      if (later.action !== "send") decision = later;
    }
    switch (decision.action) {
      case "complete":
        return await completeRetry(db, held) ? "reconciled" : "lost";
      case "cancel":
        return await cancelRetry(db, { ...held, reason: decision.reason }) ? "cancelled" : "lost";
      case "reschedule": {
        const ok = await rescheduleRetry(db, { ...held, at: decision.at, reason: decision.reason });
        return ok ? "deferred" : "lost";
      }
    }
    const started = await startRetrySend(db, {
      ...held,
      minLeaseSeconds,
      since,
      fingerprint: context.fingerprint,
      receipt: decision.receipt,
    });
    if (started !== "started") return started;
    return {
      to: decision.to,
      validityPeriod: validityPeriodFor(
        decision.windowSeconds === null ? null : decision.windowSeconds - Math.ceil(waitMs / 1000),
        twilio.config.validityPeriod,
      ),
    };
  }

  /**
   * Stores Twilio's answer and completes the row. The message is out, so a passing database error
   * is retried a few times; if it persists the row stays 'sending' and its lease brings it back to
   * be reconciled, never resent.
   */
  async #recordSent(row: ClaimedRetry, sent: Pick<SendSmsResult, "sid" | "status" | "segments">) {
    const { sql, worker, log } = this.#ctx;
    for (let i = 0;; i++) {
      try {
        const completed = await finishRetrySend(sql, {
          retryId: row.id,
          sendLogId: row.sendLogId,
          worker,
          sent,
        });
        if (!completed) log.warn("lease_lost_after_send", { retryId: row.id, sid: sent.sid });
        return;
      } catch (error) {
        if (i >= 3) throw error;
        log.warn("record_sent_retry", { retryId: row.id, error });
        await defaultSleep(200 * 2 ** i);
      }
    }
  }

  async #recordFailure(row: ClaimedRetry, error: unknown, to: string): Promise<RowOutcome> {
    const { sql, worker, log } = this.#ctx;
    const classification = classificationOf(error);
    const plan = planFailure(
      classification,
      { attempts: row.attempts, maxAttempts: row.maxAttempts, at: this.#ctx.now() },
      { random: this.#ctx.options.random },
    );
    log.warn("send_failed", {
      retryId: row.id,
      code: classification.code,
      httpStatus: classification.httpStatus,
      effect: classification.effect,
      uncertain: plan.outcomeUncertain,
      permanent: plan.permanent,
    });
    if (plan.outcomeUncertain && plan.permanent) {
      // Last attempt and we cannot tell whether it went out: look before calling it failed.
      const found = await this.#lookUp(row, to).catch(() => null);
      if (found) {
        await this.#recordSent(row, found);
        return "sent";
      }
    }
    const status = await asService(sql, async (tx) => {
      if (plan.applyEffect) {
        await applyProviderError(tx, { sendLogId: row.sendLogId, classification });
      }
      return await failRetry(tx, { retryId: row.id, worker, plan });
    });
    if (status === null) return "lost";
    return status === "failed" ? "failed" : "deferred";
  }

  /**
   * For a row whose earlier attempt may have reached Twilio: completes it when Twilio has the
   * message; "not_found" when it may be sent; a failed attempt (kept uncertain) when Twilio
   * cannot be asked.
   */
  async #reconcileOrFail(row: ClaimedRetry): Promise<RowOutcome | "not_found"> {
    const { sql, worker, log } = this.#ctx;
    const sendLog = await sendLogForReconcile(sql, row.sendLogId);
    if (!sendLog) return "lost";
    if (sendLog.twilioSid) {
      // The dead worker stored the sid but did not complete the row.
      const ok = await completeRetry(sql, { retryId: row.id, worker });
      return ok ? "reconciled" : "lost";
    }
    if (!sendLog.toPhone) return "not_found";
    let found: Pick<SendSmsResult, "sid" | "status" | "segments"> | null;
    try {
      found = await this.#lookUp(row, sendLog.toPhone, sendLog.createdAt);
    } catch (error) {
      log.warn("reconcile_failed", { retryId: row.id, error });
      const classification = classifyTwilioError({ network: true });
      const plan = planFailure(
        classification,
        { attempts: row.attempts, maxAttempts: row.maxAttempts, at: this.#ctx.now() },
        { random: this.#ctx.options.random },
      );
      const status = await failRetry(sql, {
        retryId: row.id,
        worker,
        plan: { ...plan, error: "could not ask Twilio whether the message went out" },
      });
      if (status === null) return "lost";
      return status === "failed" ? "failed" : "deferred";
    }
    if (!found) return "not_found";
    log.info("reconciled", { retryId: row.id, sid: found.sid });
    await this.#recordSent(row, found);
    return "reconciled";
  }

  /** Searches the recipient's messages (newest first) for this row's text. */
  async #lookUp(
    row: ClaimedRetry,
    to: string,
    logCreatedAt?: Date,
  ): Promise<Pick<SendSmsResult, "sid" | "status" | "segments"> | null> {
    const { twilio, sql } = this.#ctx;
    const createdAt = logCreatedAt ??
      (await sendLogForReconcile(sql, row.sendLogId))?.createdAt ?? new Date(0);
    const cfg = twilio.config;
    const target = {
      to,
      from: cfg.messagingServiceSid ? null : cfg.from,
      messagingServiceSid: cfg.messagingServiceSid,
      body: row.body,
      since: reconcileSince(createdAt),
    };
    const candidates = await listMessages(twilio, {
      to,
      from: target.from,
      since: target.since,
      maxPages: RECONCILE_MAX_PAGES,
    });
    const matching = candidates.filter((m) => findSentMessage([m], target) !== null);
    if (matching.length === 0) return null;
    const taken = await sidsHeldElsewhere(sql, {
      sids: matching.map((m) => m.sid),
      sendLogId: row.sendLogId,
    });
    const message = findSentMessage(matching, target, { takenSids: taken });
    if (!message) return null;
    const segments = Number(message.numSegments);
    return {
      sid: message.sid,
      status: message.status as SendSmsResult["status"],
      segments: Number.isInteger(segments) && segments > 0
        ? segments
        : countSegments(row.body, { smartEncoding: this.#ctx.twilio.config.smartEncoded }),
    };
  }
}

/** The classification of whatever a send threw. */
function classificationOf(error: unknown): TwilioErrorClassification {
  if (error instanceof TwilioSendError) return error.classification;
  if (isSmsError(error)) {
    // Refused before any request (e.g. the number is not E.164): final, and nothing went out.
    return {
      ...classifyTwilioError({ code: null, httpStatus: 400 }),
      errorCode: error.code,
      description: error.code,
    };
  }
  // Something broke around the request: it may or may not have reached Twilio.
  return classifyTwilioError({ network: true });
}

function stackLine(error: unknown): string | undefined {
  return (error as Error)?.stack?.split("\n")[1]?.trim();
}
