/** Reading /proc: the one parser of a process's or thread's `stat` line, and a thread's run time. */

/** Clock ticks per second of /proc's CPU times (USER_HZ; 100 on every Linux Debian ships). */
export const TICKS_PER_SECOND = 100;

/**
 * The fields of a `stat` file (`/proc/<pid>/stat`, `/proc/<pid>/task/<tid>/stat`) after the
 * command name, which may hold spaces: proc(5) field N is index N − 3 (state 0, ppid 1, utime 11,
 * stime 12, starttime 19). Null once the process is gone.
 */
export function statFields(path: string): string[] | null {
  try {
    const stat = Deno.readTextFileSync(path);
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

/** User + system CPU time of a `stat` file's process or thread, in ms; 0 once it is gone. */
export function cpuMsOf(path: string): number {
  const fields = statFields(path);
  return fields ? ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND : 0;
}

/**
 * CPU time of the children a process has waited for (cutime + cstime), in ms: where a backend's
 * or a retired worker's time goes once it has exited. 0 once the process is gone.
 */
export function reapedChildrenCpuMs(pid: number): number {
  const fields = statFields(`/proc/${pid}/stat`);
  return fields ? ((Number(fields[13]) + Number(fields[14])) * 1000) / TICKS_PER_SECOND : 0;
}

/**
 * CPU time a process's main thread has run, in ms to the nanosecond: the first field of its
 * `schedstat` (the scheduler's sum_exec_runtime, the clock CLOCK_THREAD_CPUTIME_ID reads).
 * `stat` counts in 10 ms ticks, too coarse for a run of a few tens of ms. 0 once it is gone.
 */
export function threadCpuMs(pid: number): number {
  try {
    const ns = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/schedstat`).split(" ")[0];
    return Number(ns) / 1e6;
  } catch {
    return 0;
  }
}
