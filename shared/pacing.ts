/**
 * Time and throughput bookkeeping for a worker that sends in bulk: how much of its wall-clock
 * budget is left to start sends, how many rows are worth claiming at a given rate, how long a
 * send's segments occupy the sender, and a pool that runs tasks with bounded concurrency.
 *
 * The rate itself is enforced across workers by the database (`reserve_sms_send_slot`, a GCRA
 * without burst); {@link slotCostMs} is the same rule's arithmetic, for planning.
 *
 * @module
 */

/** Milliseconds a message of `segments` segments occupies a sender allowed `segmentsPerSecond`. */
export function slotCostMs(segments: number, segmentsPerSecond: number): number {
  if (!(segmentsPerSecond > 0)) throw new RangeError("segmentsPerSecond must be positive");
  return (Math.max(1, segments) * 1000) / segmentsPerSecond;
}

/**
 * The least time `segments` segments take at `segmentsPerSecond` when the first goes at once:
 * each later one waits for the previous ones' slots (e.g. 300 one-segment sends at 100/s start
 * over 2.99 s).
 */
export function minimumSpanMs(segments: readonly number[], segmentsPerSecond: number): number {
  let total = 0;
  for (let i = 0; i < segments.length - 1; i++) total += slotCostMs(segments[i], segmentsPerSecond);
  return total;
}

/** A run's wall-clock budget: sends may start until {@link RunBudget.startDeadline}. */
export interface RunBudget {
  /** When the run began (ms, from the clock given). */
  readonly startedAt: number;
  /** Last instant a send may start (ms). */
  readonly startDeadline: number;
  /** Milliseconds left to start sends (never negative). */
  remainingStartMs(): number;
  /** Whether a send may still start. */
  canStart(): boolean;
  /** Milliseconds since the run began. */
  elapsedMs(): number;
}

/** Options of {@link createRunBudget}. */
export interface RunBudgetOptions {
  /** The run's whole budget. */
  budgetMs: number;
  /** Kept free at the end for started sends to finish. */
  reserveMs: number;
  /** Monotonic clock in ms; default `performance.now`. */
  clock?: () => number;
}

/** Starts a budget now. */
export function createRunBudget(options: RunBudgetOptions): RunBudget {
  const clock = options.clock ?? (() => performance.now());
  const startedAt = clock();
  const startDeadline = startedAt + Math.max(0, options.budgetMs - options.reserveMs);
  return {
    startedAt,
    startDeadline,
    remainingStartMs: () => Math.max(0, startDeadline - clock()),
    canStart: () => clock() < startDeadline,
    elapsedMs: () => clock() - startedAt,
  };
}

/** Input of {@link claimLimit}. */
export interface ClaimLimitInput {
  /** Largest claim wanted. */
  batchSize: number;
  /** Time left to start sends. */
  remainingStartMs: number;
  segmentsPerSecond: number;
  /** Time already booked on the sender by other workers (their reserved slots), in ms. */
  backlogMs?: number;
}

/**
 * How many rows to claim now: no more than could start before the deadline at the rate (each row
 * costs at least one segment), so a run does not take rows it would only have to hand back.
 */
export function claimLimit(input: ClaimLimitInput): number {
  const usable = input.remainingStartMs - Math.max(0, input.backlogMs ?? 0);
  if (usable <= 0) return 0;
  const fit = Math.floor((usable * input.segmentsPerSecond) / 1000) + 1;
  return Math.max(0, Math.min(input.batchSize, fit));
}

/** Options of {@link runPool}. */
export interface RunPoolOptions {
  /** Tasks in flight at once (at least 1). */
  concurrency: number;
  /** Checked before each task starts; once false, the remaining items are not started. */
  shouldStart?: () => boolean;
}

/** What {@link runPool} did. */
export interface RunPoolResult<T> {
  /** Results of the tasks that ran, in item order (`undefined` for items not started). */
  results: (T | undefined)[];
  /** Items whose task never started, in order. */
  notStarted: number[];
}

/**
 * Runs `task` over `items` with at most `concurrency` in flight, in order, and stops starting new
 * ones once `shouldStart` says so. A task's rejection rejects the pool after the tasks in flight
 * settle (callers that must not stop catch inside `task`).
 */
export async function runPool<I, T>(
  items: readonly I[],
  task: (item: I, index: number) => Promise<T>,
  options: RunPoolOptions,
): Promise<RunPoolResult<T>> {
  const results: (T | undefined)[] = new Array(items.length).fill(undefined);
  const started = new Array<boolean>(items.length).fill(false);
  let next = 0;
  let stopped = false;
  let failure: { error: unknown } | null = null;
  const lane = async () => {
    while (!stopped && failure === null && next < items.length) {
      if (options.shouldStart && !options.shouldStart()) {
        stopped = true;
        return;
      }
      const index = next++;
      started[index] = true;
      try {
        results[index] = await task(items[index], index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  const lanes = Math.max(1, Math.min(Math.floor(options.concurrency), items.length));
  await Promise.all(Array.from({ length: lanes }, lane));
  if (failure !== null) throw (failure as { error: unknown }).error;
  const notStarted: number[] = [];
  started.forEach((s, i) => {
    if (!s) notStarted.push(i);
  });
  return { results, notStarted };
}

/** Resolves after `ms` (at once for 0 or less). */
export function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}
