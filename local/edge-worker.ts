/**
 * One worker of a function: a process running local/function-host.ts on the edge runtime's Deno,
 * the local counterpart of one edge-runtime isolate. local/functions.ts decides when a worker is
 * retired or terminated; this module starts it, reads its CPU time and stops it.
 */

import { threadCpuMs } from "./procfs.ts";

/** Why a worker was terminated by its supervisor. */
export type LimitHit = "cpu" | "wall_clock";

/** How to start a worker. */
export interface WorkerSpawn {
  /** The edge Deno binary. */
  deno: string;
  args: string[];
  /** The whole environment the function sees (nothing is inherited). */
  env: Record<string, string>;
  /** Internal port the worker listens on; 0: the one it writes to `portFile` once bound. */
  port: number;
  portFile?: string;
  /** Appends the worker's stdout and stderr here too (they are echoed either way). */
  logFile?: string;
  /** Drops stdout (info logs) when there is no log file; stderr still shows. */
  quiet?: boolean;
}

/** A running worker process. */
export class WorkerProcess {
  #port: number;
  #portFile: string | undefined;
  readonly pid: number;
  readonly bornAt = performance.now();
  /** Requests sent to it whose response has not ended. */
  inFlight = 0;
  /** Accepted connections once. */
  ready = false;
  /** Takes no new requests; stopped once idle. */
  retired = false;
  /** CPU time at the last reading (what is known of it once the process is gone). */
  lastCpuMs = 0;
  /** Set when the supervisor terminated it for a limit. */
  limitHit: LimitHit | null = null;
  /** Resolves with the exit status; `dead` is true from then on. */
  readonly exited: Promise<Deno.CommandStatus>;
  dead = false;
  status: Deno.CommandStatus | null = null;
  #child: Deno.ChildProcess;
  #cpuBaseMs = 0;

  constructor(spawn: WorkerSpawn) {
    this.#port = spawn.port;
    this.#portFile = spawn.portFile;
    this.#child = new Deno.Command(spawn.deno, {
      args: spawn.args,
      clearEnv: true,
      env: spawn.env,
      stdin: "null",
      stdout: spawn.logFile ? "piped" : spawn.quiet ? "null" : "inherit",
      stderr: spawn.logFile ? "piped" : "inherit",
    }).spawn();
    this.pid = this.#child.pid;
    const logged = spawn.logFile ? tee(this.#child, spawn.logFile) : null;
    this.exited = this.#child.status.then(async (status) => {
      await logged?.catch(() => {});
      if (spawn.portFile) await Deno.remove(spawn.portFile).catch(() => {});
      this.dead = true;
      this.status = status;
      return status;
    });
  }

  /** The port it listens on (0 until a worker started on port 0 has said which). */
  get port(): number {
    return this.#port;
  }

  /**
   * Waits until the worker accepts connections; throws when it exits first or takes longer than
   * `timeoutMs`. CPU is counted from here: module loading and type stripping are a local cost
   * (the platform boots from a bundle made at deploy time).
   */
  async waitReady(timeoutMs = 30_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline && !this.dead) {
      try {
        if (this.#port === 0 && this.#portFile) {
          this.#port = Number(await Deno.readTextFile(this.#portFile));
          await Deno.remove(this.#portFile).catch(() => {});
        }
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: this.port });
        conn.close();
        this.#cpuBaseMs = this.#cpuTotalMs();
        this.ready = true;
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    if (!this.dead) this.kill();
    const status = await this.exited;
    throw new Error(`worker did not start (exit code ${status.code}, signal ${status.signal})`);
  }

  /**
   * CPU time of the worker's JavaScript thread since it became ready. The edge runtime counts
   * the isolate's thread (CLOCK_THREAD_CPUTIME_ID); Deno runs JavaScript on the main thread,
   * whose task id is the pid, and its schedstat run time is that clock's measure.
   */
  cpuMs(): number {
    if (!this.dead) this.lastCpuMs = Math.max(this.lastCpuMs, this.#cpuTotalMs() - this.#cpuBaseMs);
    return this.lastCpuMs;
  }

  #cpuTotalMs(): number {
    return threadCpuMs(this.pid);
  }

  /** True when the process ended the way V8 ends an isolate that ran out of heap. */
  diedOfMemory(): boolean {
    const s = this.status;
    return s !== null && (s.signal === "SIGTRAP" || s.signal === "SIGABRT" ||
      s.code === 133 || s.code === 134);
  }

  /** Terminates at once (SIGKILL), recording the limit that was hit. */
  kill(limit?: LimitHit): void {
    if (limit) this.limitHit = limit;
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }

  /** Asks the process to end (SIGTERM), killing it after 3 s; waits until it is gone. */
  async stop(): Promise<void> {
    if (!this.dead) {
      try {
        this.#child.kill("SIGTERM");
      } catch {
        // already gone
      }
    }
    const timer = setTimeout(() => this.kill(), 3000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Copies the child's stdout and stderr to `path` and to our own stdout and stderr. */
async function tee(child: Deno.ChildProcess, path: string): Promise<void> {
  const file = await Deno.open(path, { create: true, append: true });
  const writeAll = async (to: { write(p: Uint8Array): Promise<number> }, bytes: Uint8Array) => {
    for (let done = 0; done < bytes.length;) done += await to.write(bytes.subarray(done));
  };
  const pump = async (stream: ReadableStream<Uint8Array>, echo: typeof Deno.stdout) => {
    for await (const chunk of stream) {
      await writeAll(file, chunk);
      await writeAll(echo, chunk).catch(() => {});
    }
  };
  try {
    await Promise.all([pump(child.stdout, Deno.stdout), pump(child.stderr, Deno.stderr)]);
  } finally {
    file.close();
  }
}
