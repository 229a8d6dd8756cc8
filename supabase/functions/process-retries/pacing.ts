/**
 * Time and throughput bookkeeping for a worker that sends in bulk: how much of its wall-clock
 * budget is left to start sends, how many rows are worth claiming at a given rate, how long a
 * send's segments occupy the sender, and a pool that runs tasks with bounded concurrency.
 *
 * The rate itself is enforced across workers by the database (`sms.reserve_send_slot`, a GCRA
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

/**
 * The CPU time a worker has planned to spend, shared by every run in it (the platform counts CPU
 * per worker, not per request). Estimates, not measurements: an isolate cannot read its own CPU
 * time on the platform.
 */
export class CpuLedger {
  #planned = 0;
  /** The runs in the worker, and whether each is still starting sends. */
  #runs = new Set<{ sending: boolean }>();
  #waiting: (() => void)[] = [];

  /**
   * `softLimitMs`: the CPU past which the runtime retires a worker (it routes no new request to
   * it), so a worker a request reaches has spent less than that. `tailMs`: what a run that has
   * made all its requests may still spend (its answers).
   */
  constructor(
    readonly budgetMs: number,
    readonly softLimitMs: number = budgetMs,
    readonly tailMs: number = 0,
  ) {}

  /**
   * Counts a run in the worker. A run that finds no other run starting sends replaces what was
   * planned before with the soft limit (and the tails of the runs still waiting for answers) when
   * that is less: the runtime routed this request here, so the worker had not reached it.
   */
  enter(): RunSeat {
    if (![...this.#runs].some((r) => r.sending)) {
      const floor = this.softLimitMs + (this.#runs.size > 0 ? this.tailMs : 0);
      this.#planned = Math.min(this.#planned, floor);
    }
    const run = { sending: true };
    this.#runs.add(run);
    // Each waiter checks again whether it is done waiting.
    const settle = () => {
      run.sending = false;
      for (const wake of this.#waiting.splice(0)) wake();
    };
    return {
      issued: settle,
      leave: () => {
        settle();
        this.#runs.delete(run);
      },
      othersSending: () => this.#othersSending(run),
      othersIssued: () => this.#othersIssued(run),
    };
  }

  #othersSending(self: { sending: boolean }): boolean {
    return [...this.#runs].some((r) => r !== self && r.sending);
  }

  /** Settles once no run of the worker but `self` is starting sends. */
  #othersIssued(self: { sending: boolean }): Promise<void> {
    if (!this.#othersSending(self)) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => this.#othersSending(self) ? this.#waiting.push(check) : resolve();
      this.#waiting.push(check);
    });
  }

  /** Plans `ms` more (the caller checked {@link leftMs} first). */
  plan(ms: number): void {
    this.#planned += ms;
  }

  /** What is left to plan. */
  get leftMs(): number {
    return Math.max(0, this.budgetMs - this.#planned);
  }
}

/** A run's place in its worker's {@link CpuLedger}. */
export interface RunSeat {
  /** Every request of the run went to Twilio: only its answers are left. */
  issued(): void;
  /** The run ended. */
  leave(): void;
  /** Whether another run of the worker is still starting sends. */
  othersSending(): boolean;
  /** Settles once no other run of the worker is starting sends. */
  othersIssued(): Promise<void>;
}

/**
 * Keeps one worker's sends to a sender a least gap apart, across all its runs. The database books
 * the slots; this keeps timers that fire late together (a busy event loop) from sending together.
 */
export class SendSpacer {
  /** Names this worker when it books the sender's slots (`sms.reserve_send_slot`'s booker). */
  readonly worker = crypto.randomUUID();
  #last = new Map<string, number>();

  constructor(readonly clock: () => number = () => performance.now()) {}

  /** Resolves once `gapMs` has passed since the worker's previous send on `key`, and counts a send. */
  async take(key: string, gapMs: number, sleep: (ms: number) => Promise<void>): Promise<void> {
    const wait = () => (this.#last.get(key) ?? -Infinity) + gapMs - this.clock();
    for (let ms = wait(); ms > 0; ms = wait()) await sleep(ms);
    this.#last.set(key, this.clock());
  }
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

/**
 * At most `concurrency` tasks in flight, fed as items arrive: process-retries claims its next
 * batch as soon as the last row of the current one has started, so a batch's tail never leaves
 * lanes idle while the pace would allow more sends.
 */
export class TaskPool {
  readonly concurrency: number;
  #inFlight = new Set<Promise<void>>();
  #failure: { error: unknown } | null = null;

  constructor(concurrency: number) {
    this.concurrency = Math.max(1, Math.floor(concurrency));
  }

  /** Tasks started and not yet settled. */
  get size(): number {
    return this.#inFlight.size;
  }

  /** Resolves once a lane is free. */
  async ready(): Promise<void> {
    while (this.#inFlight.size >= this.concurrency) await Promise.race(this.#inFlight);
  }

  /** Starts `task` now (after {@link ready}); its rejection is reported by {@link drain}. */
  start(task: () => Promise<unknown>): void {
    const running: Promise<void> = task().then(
      () => {},
      (error) => {
        this.#failure ??= { error };
      },
    ).finally(() => this.#inFlight.delete(running));
    this.#inFlight.add(running);
  }

  /** Waits for every task; then rejects with the first task's error, if any. */
  async drain(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
    if (this.#failure) throw this.#failure.error;
  }
}

/** Resolves after `ms` (at once for 0 or less). */
export function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}
