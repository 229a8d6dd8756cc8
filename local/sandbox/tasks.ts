/**
 * Bookkeeping for background work (callbacks, inbound posts, held requests), so the sandbox can
 * report when it is idle and close without leaving timers or requests behind.
 * @module
 */

/** Tracks promises and owns the abort signal that cancels them on close. */
export class TaskTracker {
  #pending = new Set<Promise<unknown>>();
  #controller = new AbortController();

  /** Aborted when the sandbox closes; every wait and request should listen to it. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Registers background work. Its rejection is swallowed: background work logs its own errors. */
  track<T>(work: Promise<T>): Promise<T> {
    const settled = work.then(() => {}, () => {}).finally(() => this.#pending.delete(settled));
    this.#pending.add(settled);
    return work;
  }

  /** Number of unfinished tasks. */
  get size(): number {
    return this.#pending.size;
  }

  /** Resolves once no task is pending, including tasks started while waiting. */
  async idle(): Promise<void> {
    while (this.#pending.size > 0) {
      await Promise.all([...this.#pending]);
    }
  }

  /** Cancels everything and waits for it to wind down. */
  async close(): Promise<void> {
    this.#controller.abort(new Error("sandbox closed"));
    await this.idle();
  }
}
