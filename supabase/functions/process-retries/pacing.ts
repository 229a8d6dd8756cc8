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
  #runs = new Set<RunState>();
  #waiting: (() => void)[] = [];

  /**
   * `softLimitMs`: the CPU past which the runtime retires a worker (it routes no new request to
   * it), so a worker a request reaches has spent less than that.
   */
  constructor(readonly budgetMs: number, readonly softLimitMs: number = budgetMs) {}

  /**
   * Counts a run in the worker. The runtime routed this request here, so the worker had spent
   * less than the soft limit; from then on it spends at most what its runs planned and have not
   * spent yet. What was planned before is replaced by that when it is less: the estimates run
   * ahead of the real CPU, and a request that still reaches the worker is the proof.
   */
  enter(): RunSeat {
    let floor = this.softLimitMs;
    for (const r of this.#runs) floor += r.pendingMs;
    this.#planned = Math.min(this.#planned, floor);
    const run: RunState = { sending: true, claiming: true, pendingMs: 0 };
    this.#runs.add(run);
    // Each waiter checks again whether it is done waiting.
    const settle = () => {
      run.claiming = run.sending = false;
      for (const wake of this.#waiting.splice(0)) wake();
    };
    return {
      plan: (ms) => {
        this.#planned += ms;
        run.pendingMs += ms;
      },
      spent: (ms) => {
        run.pendingMs = Math.max(0, run.pendingMs - ms);
      },
      claimed: () => {
        run.claiming = false;
      },
      issued: settle,
      leave: () => {
        settle();
        this.#runs.delete(run);
      },
      othersClaiming: () => [...this.#runs].some((r) => r !== run && r.claiming),
      othersSending: () => this.#othersSending(run),
      othersIssued: () => this.#othersIssued(run),
    };
  }

  #othersSending(self: RunState): boolean {
    return [...this.#runs].some((r) => r !== self && r.sending);
  }

  /** Settles once no run of the worker but `self` is starting sends. */
  #othersIssued(self: RunState): Promise<void> {
    if (!this.#othersSending(self)) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => this.#othersSending(self) ? this.#waiting.push(check) : resolve();
      this.#waiting.push(check);
    });
  }

  /** What is left to plan. */
  get leftMs(): number {
    return Math.max(0, this.budgetMs - this.#planned);
  }
}

/** A run in a {@link CpuLedger}. */
interface RunState {
  /** Still starting sends. */
  sending: boolean;
  /** Would claim more rows if the worker's plan had room. */
  claiming: boolean;
  /** Planned and not yet spent. */
  pendingMs: number;
}

/** A run's place in its worker's {@link CpuLedger}. */
export interface RunSeat {
  /** Plans `ms` more for this run (the caller checked {@link CpuLedger.leftMs} first). */
  plan(ms: number): void;
  /** `ms` of what this run planned is spent. */
  spent(ms: number): void;
  /** The run claims no more rows, whatever room the worker's plan gets. */
  claimed(): void;
  /** Every request of the run went to Twilio: only its answers are left. */
  issued(): void;
  /** The run ended. */
  leave(): void;
  /** Whether another run of the worker would take the room the plan gets. */
  othersClaiming(): boolean;
  /** Whether another run of the worker is still starting sends. */
  othersSending(): boolean;
  /** Settles once no other run of the worker is starting sends. */
  othersIssued(): Promise<void>;
}

/** A send a {@link SendSpacer} counted: when it went (on its clock) and its slot's length. */
interface Sent {
  at: number;
  costMs: number;
}

/**
 * Keeps one worker's sends to a sender at the booked pace in every second, across all its runs.
 * The database books the slots; a row waits for its own, then here, so that timers that fire late
 * together (a busy event loop) do not send together.
 *
 * A send that a stall made late catches up, within a window: it may go as soon as the worker's
 * sends in the last {@link windowMs} (its own excluded) occupy at most that long of the sender,
 * and never closer than {@link minGapShare} of a slot to the one before. Any span of the window's
 * length then holds no more than sends on time would. A stall is caught up within the second
 * after it; that second's windows are full, so the one after echoes the stall, fainter each time.
 * Sent on the schedule alone, each stall's delay stayed with every later send, and a worker ended
 * its life 100–400 ms behind its slots (docs/decisions.md).
 */
export class SendSpacer {
  /** Names this worker when it books the sender's slots (`sms.reserve_send_slot`'s booker). */
  readonly worker = crypto.randomUUID();
  /** Per sender: this worker's sends within the last window, oldest first. */
  #sent = new Map<string, Sent[]>();
  /** Per sender: the end of the last slot this worker booked (ms, on the clock). */
  #bookedUntil = new Map<string, number>();
  /** Per sender: how late this worker's last send was after its slot (ms). */
  #lag = new Map<string, number>();

  constructor(
    readonly clock: () => number = () => performance.now(),
    /** The span over which sends may not occupy the sender longer than it lasts. */
    readonly windowMs = 1000,
    /** Least gap between two sends, as a share of the earlier one's slot. */
    readonly minGapShare = 0.75,
  ) {}

  /**
   * Resolves once the worker's next send on `key` may go, and counts a send of the slot at
   * `slotAt` (on the clock), `slotMs` long. The caller has waited for the slot itself.
   */
  async take(
    key: string,
    slotAt: number,
    slotMs: number,
    sleep: (ms: number) => Promise<void>,
  ): Promise<void> {
    let sent = this.#sent.get(key);
    if (!sent) this.#sent.set(key, sent = []);
    for (let ms = this.#waitMs(sent); ms > 0; ms = this.#waitMs(sent)) await sleep(ms);
    const now = this.clock();
    sent.push({ at: now, costMs: slotMs });
    this.#lag.set(key, Math.max(0, now - slotAt));
  }

  /** How long a send must wait after `sent`, pruned to the window. */
  #waitMs(sent: Sent[]): number {
    const now = this.clock();
    while (sent.length > 0 && sent[0].at <= now - this.windowMs) sent.shift();
    if (sent.length === 0) return 0;
    const last = sent[sent.length - 1];
    let at = last.at + last.costMs * this.minGapShare;
    let busy = sent.reduce((sum, s) => sum + s.costMs, 0);
    // The oldest sends must leave the window until the rest occupy no more than it.
    for (let i = 0; busy > this.windowMs; i++) {
      busy -= sent[i].costMs;
      at = Math.max(at, sent[i].at + this.windowMs);
    }
    return at - now;
  }

  /** The worker booked slots on `key` until `until` (on the clock). */
  booked(key: string, until: number): void {
    this.#bookedUntil.set(key, Math.max(this.#bookedUntil.get(key) ?? -Infinity, until));
  }

  /**
   * Whether a send booked at `slotAt`, as late as the worker's sends now run, would go more than
   * `overMs` past the end of the worker's booked slots: where another worker's slots may start,
   * and its sends and this one's would reach the sender together.
   */
  pastBooking(key: string, slotAt: number, overMs: number): boolean {
    const until = this.#bookedUntil.get(key);
    return until !== undefined && slotAt + (this.#lag.get(key) ?? 0) > until + overMs;
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
