/**
 * Edge functions of a project: discovery from `supabase/functions` and `config.toml`, and a
 * supervisor per function that runs it the way the edge runtime does (workers, limits).
 */
import { parse as parseToml } from "smol-toml";
import { edgeDenoPath } from "./edge-deno.ts";
import { WorkerProcess } from "./edge-worker.ts";
import { FREE_PLAN_LIMITS, type FunctionLimits, platformAnswer } from "./limits.ts";
import { join, PROJECT_ROOT } from "./paths.ts";
import { statFields } from "./procfs.ts";

/** One function the gateway can route to. */
export interface FunctionSpec {
  name: string;
  entry: string;
  verifyJwt: boolean;
}

/**
 * Lists the functions of a Supabase project folder (one holding `config.toml` and `functions/`).
 * `verify_jwt` defaults to true, as on Supabase.
 */
export async function discoverFunctions(supabaseDir: string): Promise<FunctionSpec[]> {
  let config: Record<string, unknown> = {};
  try {
    config = parseToml(await Deno.readTextFile(join(supabaseDir, "config.toml")));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const settings = (config.functions ?? {}) as Record<string, { verify_jwt?: boolean }>;
  const specs: FunctionSpec[] = [];
  try {
    for await (const dirent of Deno.readDir(join(supabaseDir, "functions"))) {
      if (!dirent.isDirectory || dirent.name.startsWith("_") || dirent.name.startsWith(".")) {
        continue;
      }
      const entry = join(supabaseDir, "functions", dirent.name, "index.ts");
      try {
        await Deno.stat(entry);
      } catch {
        continue;
      }
      specs.push({
        name: dirent.name,
        entry,
        verifyJwt: settings[dirent.name]?.verify_jwt ?? true,
      });
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return specs.sort((a, b) => a.name.localeCompare(b.name));
}

/** What a function's supervisor needs. */
export interface ProcessOptions {
  /**
   * The port the function is reached on (the supervisor's; workers listen on ports of their own);
   * 0 lets the system pick one as it binds, which no other process can take first.
   */
  port: number;
  /** The whole environment the function sees (nothing is inherited). */
  env: Record<string, string>;
  /** Tag added to the workers' command lines so a stack's processes can be found. */
  tag: string;
  log: (line: string) => void;
  /**
   * File that also receives the workers' stdout and stderr (appended, across workers); the
   * output is still echoed to this process's own stdout/stderr.
   */
  logFile?: string;
  /** Drops the workers' stdout (info logs) when there is no log file; stderr still shows. */
  quiet?: boolean;
  /** The platform's per-worker limits (default: the hosted free plan). */
  limits?: FunctionLimits;
}

// Headers that describe one hop and must not be forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "trailer",
];

/** How often the supervisor reads its workers' CPU time and age. */
const MONITOR_MS = 25;

/**
 * How long a worker's unexpected exit waits before it is reported and replaced: time for a
 * shutdown signal that reached the whole process group to reach this process's handler too.
 */
const EXIT_GRACE_MS = 250;

/**
 * One function as the edge runtime runs it with the `per_worker` policy: requests go to the
 * current worker; a worker past its CPU soft limit or half its wall clock is retired (new
 * requests boot a fresh worker, its own finish) and one past the CPU hard limit or the wall clock
 * is terminated, its requests in flight answered 546. A retired worker's successor boots with the
 * next request, as the platform boots a new isolate; one that died is replaced at once. The
 * supervisor also listens on `port`, so tests and benchmarks that call a function directly meet
 * the same limits as calls through the gateway.
 */
export class FunctionProcess {
  readonly limits: FunctionLimits;
  #current: WorkerProcess | null = null;
  #booting: Promise<WorkerProcess> | null = null;
  #workers = new Set<WorkerProcess>();
  #server: Deno.HttpServer | null = null;
  #monitor: ReturnType<typeof setInterval> | undefined;
  #stopping = false;
  #cpuOfGoneMs = 0;
  #counts = { started: 0, retired: 0, terminated: 0, crashed: 0 };
  #port: number;

  constructor(readonly spec: FunctionSpec, readonly options: ProcessOptions) {
    this.limits = options.limits ?? FREE_PLAN_LIMITS;
    this.#port = options.port;
  }

  /** The port the function is reached on (the one bound, once started with port 0). */
  get port(): number {
    return this.#port;
  }

  /** CPU time its workers have spent serving, gone ones included (to the monitor's last look). */
  cpuMs(): number {
    let ms = this.#cpuOfGoneMs;
    for (const w of this.#workers) ms += w.dead ? w.lastCpuMs : w.cpuMs();
    return ms;
  }

  /**
   * What happened to its workers: booted, retired (a limit's soft side), terminated for a limit,
   * or out of heap, and crashed (died otherwise: an uncaught error, a kill from outside).
   */
  stats(): { started: number; retired: number; terminated: number; crashed: number } {
    return { ...this.#counts };
  }

  /** Listens on `port` and boots the first worker; resolves once it accepts requests. */
  async start(): Promise<void> {
    this.#server = Deno.serve(
      { port: this.port, hostname: "127.0.0.1", onListen: () => {} },
      (req) => {
        const url = new URL(req.url);
        return this.dispatch(url.pathname + url.search, {
          method: req.method,
          headers: req.headers,
          body: req.body,
        });
      },
    );
    this.#port = (this.#server.addr as Deno.NetAddr).port;
    const monitor = setInterval(() => this.#check(), MONITOR_MS);
    Deno.unrefTimer(monitor);
    this.#monitor = monitor;
    await this.#worker();
  }

  /**
   * Sends one request to the current worker (`path` with its query) and answers what it answers,
   * or what the platform answers when the worker cannot: 503 boot error, 504 idle timeout, 546
   * resource limit, 500 worker error. A caller that goes away does not cancel the request.
   */
  async dispatch(path: string, init: RequestInit): Promise<Response> {
    let worker: WorkerProcess;
    try {
      worker = await this.#worker();
    } catch (e) {
      this.options.log(`function ${this.spec.name}: ${(e as Error).message}`);
      return platformAnswer("boot_error");
    }
    worker.inFlight++;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      worker.inFlight--;
      if (worker.retired && worker.inFlight === 0) this.#drop(worker);
    };
    const headers = new Headers(init.headers);
    for (const h of HOP_BY_HOP) headers.delete(h);
    // The client's accept-encoding is for the last hop (this server's Deno.serve compresses for
    // it). Forwarded, it would make fetch hand back the worker's compressed bytes undecoded;
    // without it fetch asks for and decodes its own encodings.
    headers.delete("accept-encoding");
    const idle = new AbortController();
    const timer = setTimeout(() => idle.abort(), this.limits.idleTimeoutMs);
    try {
      const upstream = await Promise.race([
        fetch(`http://127.0.0.1:${worker.port}${path}`, {
          ...init,
          headers,
          redirect: "manual",
          signal: idle.signal,
        }),
        worker.exited.then(() => Promise.reject(new Error("worker exited"))),
      ]);
      const out = new Headers(upstream.headers);
      for (const h of HOP_BY_HOP) out.delete(h);
      // fetch has decoded the body (and kept the header); this server compresses again if the
      // client accepts it.
      if (out.has("content-encoding")) {
        out.delete("content-encoding");
        out.delete("content-length");
      }
      return new Response(upstream.body ? endsWith(upstream.body, end) : null, {
        status: upstream.status,
        statusText: upstream.statusText,
        headers: out,
      });
    } catch {
      end();
      if (idle.signal.aborted) return platformAnswer("idle_timeout");
      // A worker killed mid-request resets the connection a moment before its exit is seen.
      await Promise.race([worker.exited, new Promise((r) => setTimeout(r, 1000))]);
      if (worker.limitHit || worker.diedOfMemory()) return platformAnswer("resource_limit");
      return platformAnswer("worker_error");
    } finally {
      clearTimeout(timer);
    }
  }

  /** The worker new requests go to, booting one when there is none or it was retired. */
  #worker(): Promise<WorkerProcess> {
    const w = this.#current;
    if (w && !w.retired && !w.dead) return Promise.resolve(w);
    this.#booting ??= this.#boot().finally(() => this.#booting = null);
    return this.#booting;
  }

  async #boot(): Promise<WorkerProcess> {
    if (this.#stopping) throw new Error("stopping");
    // Port 0: the worker binds whatever port the system gives it and says which. A port found
    // free here and bound by the worker later could be taken in between (AddrInUse, seen).
    const portFile = `/tmp/sms-worker-${crypto.randomUUID()}.port`;
    const worker = new WorkerProcess({
      deno: edgeDenoPath(),
      args: functionArgs(0, this.spec.entry, {
        tag: this.options.tag,
        functionPort: this.port,
        denoFlags: [`--v8-flags=--max-heap-size=${this.limits.memoryMb}`],
        portFile,
      }),
      env: this.options.env,
      port: 0,
      portFile,
      logFile: this.options.logFile,
      quiet: this.options.quiet,
    });
    this.#counts.started++;
    this.#workers.add(worker);
    worker.exited.then((status) => {
      this.#cpuOfGoneMs += worker.lastCpuMs;
      this.#workers.delete(worker);
      if (this.#current === worker) this.#current = null;
      if (this.#stopping || worker.retired) return;
      // A worker the supervisor terminated was counted then; the others are counted here.
      const oom = !worker.limitHit && worker.diedOfMemory();
      if (!worker.limitHit) this.#counts[oom ? "terminated" : "crashed"]++;
      // Ctrl-C or a signal to the process group reaches the workers and this process at once,
      // and a worker's exit can be seen before this process's own signal handler has run: the
      // report and the replacement wait a moment, so a shutdown is neither called a crash nor
      // answered with a new worker.
      setTimeout(() => {
        if (this.#stopping) return;
        if (!worker.limitHit) {
          const why = oom ? "out of memory" : `exited (code ${status.code})`;
          this.options.log(`function ${this.spec.name}: worker ${why}; replacing it`);
        }
        // A worker that served and died is replaced at once, so the next request finds one
        // warm; one that never booted is retried by the next request only (no crash loop).
        if (worker.ready) this.#worker().catch(() => {});
      }, EXIT_GRACE_MS);
    });
    await worker.waitReady();
    this.#current = worker;
    return worker;
  }

  /** Retires or terminates workers past their limits, as the platform's supervisor does. */
  #check(): void {
    const { cpuSoftMs, cpuHardMs, wallClockMs } = this.limits;
    for (const w of this.#workers) {
      if (w.dead) continue;
      const cpu = w.cpuMs();
      const age = performance.now() - w.bornAt;
      const hit = cpu >= cpuHardMs ? "cpu" : age >= wallClockMs ? "wall_clock" : null;
      if (hit) {
        this.options.log(
          `function ${this.spec.name}: worker terminated (${
            hit === "cpu" ? `CPU time ${cpu} ms ≥ ${cpuHardMs} ms` : "wall clock"
          }, ${w.inFlight} request(s) in flight)`,
        );
        this.#counts.terminated++;
        w.kill(hit);
      } else if (!w.retired && (cpu >= cpuSoftMs || age >= wallClockMs / 2)) {
        w.retired = true;
        this.#counts.retired++;
        if (w.inFlight === 0) this.#drop(w);
      }
    }
  }

  #drop(worker: WorkerProcess): void {
    if (this.#current === worker) this.#current = null;
    worker.stop().catch(() => {});
  }

  /**
   * From now on a worker that exits is neither reported nor replaced and none boots: the first
   * thing a shutdown does, before it gets to stopping this function.
   */
  halt(): void {
    this.#stopping = true;
    clearInterval(this.#monitor);
  }

  /**
   * Stops every worker (SIGTERM, SIGKILL after a grace period) and waits until each has exited,
   * a booting one included; then stops listening. Bounded: nothing here waits on a client.
   */
  async stop(): Promise<void> {
    this.halt();
    // A booting worker is in #workers already: stopping it ends its boot, so the boot is not
    // awaited first (on a busy machine it could take its whole boot timeout).
    await Promise.all([...this.#workers].map((w) => w.stop()));
    await this.#booting?.catch(() => {});
    await Promise.all([...this.#workers].map((w) => w.stop()));
    const server = this.#server;
    if (server) await withTimeout(server.shutdown(), 2000).catch(() => {});
  }
}

/** `promise`, or a rejection after `ms` (the promise is left to settle on its own). */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not finish within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** `body`, calling `end` once when it is read to the end, fails or is cancelled. */
function endsWith(body: ReadableStream<Uint8Array>, end: () => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          end();
          controller.close();
        } else {
          controller.enqueue(value);
        }
      } catch (e) {
        end();
        controller.error(e);
      }
    },
    cancel(reason) {
      end();
      return reader.cancel(reason);
    },
  });
}

/** The argument that names, in a worker's command line, the port of the function it serves. */
export const functionPortArg = (port: number) => `--function-port=${port}`;

/**
 * The `deno run` arguments a function process is started with (local/function-host.ts serving
 * `entry` on `port`); `denoFlags` (e.g. `--inspect`) go before the host; `tag` names the stack
 * and `functionPort` the supervisor's port, so tests can find a function's worker.
 */
export function functionArgs(
  port: number,
  entry: string,
  options: { denoFlags?: string[]; tag?: string; functionPort?: number; portFile?: string } = {},
): string[] {
  return [
    "run",
    "--quiet",
    // The function's own deno.json (beside its index.ts), the import map deploy uploads with it.
    `--config=${entry.replace(/[^/]*$/, "deno.json")}`,
    "--allow-net",
    "--allow-env",
    "--allow-read",
    "--allow-sys",
    "--allow-write=/tmp",
    ...(options.denoFlags ?? []),
    join(PROJECT_ROOT, "local", "function-host.ts"),
    String(port),
    entry,
    ...(options.tag === undefined ? [] : [`--stack=${options.tag}`]),
    ...(options.functionPort === undefined ? [] : [functionPortArg(options.functionPort)]),
    ...(options.portFile === undefined ? [] : [`--port-file=${options.portFile}`]),
  ];
}

/**
 * The pid of the newest worker of the function reached on `functionPort` (found by the
 * `--function-port` its command line carries), or null while it has none.
 */
export function functionWorkerPid(functionPort: number): number | null {
  const tag = functionPortArg(functionPort);
  let newest: { pid: number; start: number } | null = null;
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    let argv: string[];
    try {
      argv = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).split("\0");
    } catch {
      continue; // gone meanwhile
    }
    if (!argv.includes(tag)) continue;
    const fields = statFields(`/proc/${entry.name}/stat`);
    if (!fields) continue; // gone meanwhile
    const start = Number(fields[19]); // starttime
    if (!newest || start >= newest.start) newest = { pid: Number(entry.name), start };
  }
  return newest?.pid ?? null;
}
