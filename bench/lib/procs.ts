/**
 * The function processes of a stack, found through /proc (each worker's command line names the
 * port of its function: local/functions.ts), and their memory.
 *
 * @module
 */
import { functionPortArg, functionWorkerPid } from "@local/functions.ts";
import { cpuMsOf, reapedChildrenCpuMs, statFields, TICKS_PER_SECOND } from "@local/procfs.ts";

/** The pid of the worker serving the function on `port`, or null. */
export const functionPid = functionWorkerPid;

/** Memory of a process from /proc/<pid>/status, in MiB: peak (VmHWM) and current (VmRSS). */
export function processMemory(pid: number): { peakMiB: number; rssMiB: number } {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1]);
  return { peakMiB: kib("VmHWM") / 1024, rssMiB: kib("VmRSS") / 1024 };
}

/** The highest peak memory (VmHWM, MiB) among the workers a function had, and how many. */
export interface WorkersPeak {
  peakMiB: number;
  workers: number;
}

/** Which of `ports` a worker serves (its command line's {@link functionPortArg}), if any. */
function workerPort(pid: number, ports: number[]): number | null {
  try {
    const argv = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0");
    return ports.find((port) => argv.includes(functionPortArg(port))) ?? null;
  } catch {
    return null;
  }
}

/**
 * Reads, every `everyMs`, the peak memory of every worker of each function port until `stop()`:
 * under the platform's CPU limit workers retire during a run, and the one serving at the end, if
 * there is one, is not the only one that counts. The workers are found among the stack's
 * children, each command line read once: a scan of every process's (as `functionPid` does) ten
 * times a second cost the benchmark's process more per request of the slower function. Null for
 * a port with no worker seen.
 */
export function watchPeakMemory(ports: number[], everyMs = 100): {
  stop(): Map<number, WorkersPeak | null>;
} {
  const peaks = new Map(ports.map((port) => [port, new Map<number, number>()]));
  const portOf = new Map<number, number | null>();
  let stack: number | null = null;
  const sample = () => {
    stack ??= stackPid(ports);
    if (stack === null) return;
    for (const pid of childPids(stack)) {
      if (!portOf.has(pid)) portOf.set(pid, workerPort(pid, ports));
      const port = portOf.get(pid);
      if (port === null || port === undefined) continue;
      try {
        const peak = processMemory(pid).peakMiB;
        // A worker that has exited but is not yet reaped (a zombie) has no VmHWM line: NaN.
        if (!Number.isFinite(peak)) continue;
        const seen = peaks.get(port)!;
        seen.set(pid, Math.max(seen.get(pid) ?? 0, peak));
      } catch {
        // gone between the listing and the read: its last sample stands
      }
    }
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return new Map(
        [...peaks].map(([port, seen]) => [
          port,
          seen.size ? { peakMiB: Math.max(...seen.values()), workers: seen.size } : null,
        ]),
      );
    },
  };
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

/** CPU seconds (user + system, all threads) a process has used, or 0 once it is gone. */
export function cpuSeconds(pid: number): number {
  return cpuMsOf(`/proc/${pid}/stat`) / 1000;
}

/** The parent pid of a process, or null. */
export function parentPid(pid: number): number | null {
  const fields = statFields(`/proc/${pid}/stat`);
  return fields ? Number(fields[1]) : null;
}

/** Busy CPU seconds of the whole machine over every core (/proc/stat but idle and iowait). */
export function machineBusySeconds(): number {
  const [, ...values] = Deno.readTextFileSync("/proc/stat").split("\n")[0].trim().split(/\s+/);
  const ticks = values.slice(0, 8).map(Number); // user nice system idle iowait irq softirq steal
  return (ticks.reduce((a, n) => a + n, 0) - ticks[3] - ticks[4]) / TICKS_PER_SECOND;
}

/** The stack's process (every worker's parent), found through a worker of `ports`; null if none. */
export function stackPid(ports: number[]): number | null {
  for (const port of ports) {
    const pid = functionPid(port);
    const parent = pid === null ? null : parentPid(pid);
    if (parent !== null) return parent;
  }
  return null;
}

/** A process's children (Linux's `children` file of its main thread); empty once it is gone. */
export function childPids(pid: number): number[] {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).trim().split(/\s+/)
      .filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The postmaster of the cluster in `dataDir` and its backends (the postmaster's children). */
export function postgresPids(dataDir: string): number[] {
  try {
    const postmaster = Number(Deno.readTextFileSync(`${dataDir}/postmaster.pid`).split("\n")[0]);
    return [postmaster, ...childPids(postmaster)];
  } catch {
    return [];
  }
}

/** Postgres as a {@link ProcessGroup}: the postmaster waits for every backend. */
export function postgresGroup(dataDir: string): ProcessGroup {
  const pids = postgresPids(dataDir);
  return { pids, reaper: pids[0] };
}

/**
 * A group's processes: `pids` by their own CPU; `reaper`, when set, is the parent that waits for
 * them (the postmaster for backends, the stack for function workers), whose children's CPU
 * counts too.
 */
export interface ProcessGroup {
  pids: number[];
  reaper?: number;
}

/**
 * Measures the CPU seconds that groups of processes use from now until `stop()`, and the whole
 * machine's busy seconds (`machine`: also the kernel's network work and anything else running).
 * `groups` is asked at both ends, so processes that start in between (new backends) count in
 * full. A process that ends in between counts through its group's reaper, less what it had used
 * at the start; in a group without one it loses what it used since the start.
 */
export function cpuMeter(groups: () => Record<string, ProcessGroup>): {
  stop(): Record<string, number>;
} {
  const take = () => {
    const byGroup = Object.entries(groups()).map(([name, { pids, reaper }]) =>
      [name, {
        pids: new Map(pids.map((pid) => [pid, cpuSeconds(pid)])),
        reaper,
        reaped: reaper === undefined ? 0 : reapedChildrenCpuMs(reaper) / 1000,
      }] as const
    );
    return { byGroup: new Map(byGroup), machine: machineBusySeconds() };
  };
  const start = take();
  return {
    stop() {
      const end = take();
      const used: Record<string, number> = {};
      for (const [name, group] of end.byGroup) {
        const before = start.byGroup.get(name);
        let sum = 0;
        for (const [pid, seconds] of group.pids) {
          sum += Math.max(0, seconds - (before?.pids.get(pid) ?? 0));
        }
        const sameReaper = before !== undefined && group.reaper !== undefined &&
          group.reaper === before.reaper;
        if (sameReaper) sum += group.reaped - before.reaped;
        // Processes the group no longer lists: still running (a retired worker finishing its
        // requests) they count what they used since; gone, their whole time is in `reaped`.
        for (const [pid, seconds] of before?.pids ?? []) {
          if (group.pids.has(pid)) continue;
          const now = cpuSeconds(pid);
          sum += now > 0 ? now - seconds : sameReaper ? -seconds : 0;
        }
        used[name] = Math.max(0, sum);
      }
      used.machine = end.machine - start.machine;
      return used;
    },
  };
}

/** Several {@link cpuMeter} readings added up, group by group. */
export function sumCpu(readings: Record<string, number>[]): Record<string, number> {
  const sum: Record<string, number> = {};
  for (const reading of readings) {
    for (const [group, seconds] of Object.entries(reading)) {
      sum[group] = (sum[group] ?? 0) + seconds;
    }
  }
  return sum;
}
