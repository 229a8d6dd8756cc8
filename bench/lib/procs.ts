/**
 * The function processes of a stack, found through /proc (the stack starts each as
 * `deno run … local/function-host.ts <port> <entry> --stack=<state dir>`), and their memory.
 *
 * @module
 */

/** The pid of the process serving a function on `port`, or null. */
export function functionPid(port: number): number | null {
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    let argv: string[];
    try {
      argv = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).split("\0");
    } catch {
      continue;
    }
    const host = argv.findIndex((a) => a.endsWith("/local/function-host.ts"));
    if (host >= 0 && argv[host + 1] === String(port)) return Number(entry.name);
  }
  return null;
}

/** Memory of a process from /proc/<pid>/status, in MiB: peak (VmHWM) and current (VmRSS). */
export function processMemory(pid: number): { peakMiB: number; rssMiB: number } {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1]);
  return { peakMiB: kib("VmHWM") / 1024, rssMiB: kib("VmRSS") / 1024 };
}

/** The environment a running process was started with (to start another one the same way). */
export function processEnv(pid: number): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of Deno.readTextFileSync(`/proc/${pid}/environ`).split("\0")) {
    const eq = pair.indexOf("=");
    if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}
