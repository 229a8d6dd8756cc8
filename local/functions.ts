/**
 * Edge functions of a project: discovery from `supabase/functions` and `config.toml`, and one
 * supervised Deno process per function.
 */
import { parse as parseToml } from "smol-toml";
import { join, PROJECT_ROOT } from "./paths.ts";

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

/** What a supervised function process needs. */
export interface ProcessOptions {
  port: number;
  /** The whole environment the function sees (nothing is inherited). */
  env: Record<string, string>;
  /** Tag added to the command line so a stack's processes can be found (the state folder). */
  tag: string;
  log: (line: string) => void;
  /**
   * File that also receives the process's stdout and stderr (appended, across restarts); the
   * output is still echoed to this process's own stdout/stderr.
   */
  logFile?: string;
  /** Drops the process's stdout (info logs) when there is no log file; stderr still shows. */
  quiet?: boolean;
}

/** A function process that is restarted when it dies, until stopped. */
export class FunctionProcess {
  #child: Deno.ChildProcess | null = null;
  #stopping = false;
  #restarts = 0;
  #exited: Promise<void> = Promise.resolve();

  constructor(readonly spec: FunctionSpec, readonly options: ProcessOptions) {}

  /** The port the function listens on. */
  get port(): number {
    return this.options.port;
  }

  /** How many times the process was restarted after dying. */
  get restarts(): number {
    return this.#restarts;
  }

  /** Starts the process and waits until it accepts connections. */
  async start(): Promise<void> {
    this.#spawn();
    await this.ready();
  }

  /** Waits until the function's port accepts connections (up to `timeoutMs`). */
  async ready(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: this.port });
        conn.close();
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error(`function ${this.spec.name} did not listen on ${this.port}`);
  }

  #spawn(): void {
    const child = new Deno.Command(Deno.execPath(), {
      args: functionArgs(this.port, this.spec.entry, { tag: this.options.tag }),
      clearEnv: true,
      env: this.options.env,
      stdin: "null",
      stdout: this.options.logFile ? "piped" : this.options.quiet ? "null" : "inherit",
      stderr: this.options.logFile ? "piped" : "inherit",
    }).spawn();
    this.#child = child;
    const logged = this.options.logFile ? this.#tee(child, this.options.logFile) : null;
    this.#exited = child.status.then(async (status) => {
      await logged?.catch(() => {});
      if (this.#stopping) return;
      this.#restarts++;
      this.options.log(
        `function ${this.spec.name} exited (code ${status.code}); restarting`,
      );
      // A short pause keeps a function that crashes at start-up from spinning the CPU.
      setTimeout(() => {
        if (!this.#stopping) this.#spawn();
      }, Math.min(2000, 100 * this.#restarts));
    });
  }

  /** Copies the child's stdout and stderr to `path` and to our own stdout and stderr. */
  async #tee(child: Deno.ChildProcess, path: string): Promise<void> {
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

  /** Stops the process and waits for it to exit. */
  async stop(): Promise<void> {
    this.#stopping = true;
    const child = this.#child;
    if (!child) return;
    try {
      child.kill("SIGTERM");
    } catch {
      // already gone
    }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }, 3000);
    await child.status;
    clearTimeout(timer);
    await this.#exited;
  }
}

/**
 * The `deno run` arguments a function process is started with (local/function-host.ts serving
 * `entry` on `port`); `denoFlags` (e.g. `--inspect`) go before the host, `tag` names the stack.
 */
export function functionArgs(
  port: number,
  entry: string,
  options: { denoFlags?: string[]; tag?: string } = {},
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
  ];
}
