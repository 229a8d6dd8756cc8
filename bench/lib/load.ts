/** A closed-loop load generator: `concurrency` clients, each sending its next request when the
 * previous one is answered, until `total` requests have been sent. */

export interface LoadResult {
  seconds: number;
  perSecond: number;
  latenciesMs: number[];
  statuses: Record<string, number>;
  /** Bodies of the first few unexpected answers. */
  errors: string[];
}

export async function closedLoop(
  total: number,
  concurrency: number,
  request: (index: number) => Promise<Response>,
  ok: (res: Response, body: string) => boolean,
): Promise<LoadResult> {
  const latenciesMs: number[] = [];
  const statuses: Record<string, number> = {};
  const errors: string[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < total) {
      const index = next++;
      const t0 = performance.now();
      let status = "network_error";
      let body = "";
      let good = false;
      try {
        const res = await request(index);
        body = await res.text();
        status = String(res.status);
        good = ok(res, body);
      } catch (e) {
        body = (e as Error).message;
      }
      latenciesMs.push(performance.now() - t0);
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (!good && errors.length < 5) errors.push(`${status} ${body.slice(0, 300)}`);
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  return { seconds, perSecond: total / seconds, latenciesMs, statuses, errors };
}

/** Several runs of one load taken as one: their requests and their seconds added up. */
export function joinLoads(runs: LoadResult[]): LoadResult {
  const seconds = runs.reduce((sum, r) => sum + r.seconds, 0);
  const latenciesMs = runs.flatMap((r) => r.latenciesMs);
  const statuses: Record<string, number> = {};
  for (const r of runs) {
    for (const [status, n] of Object.entries(r.statuses)) {
      statuses[status] = (statuses[status] ?? 0) + n;
    }
  }
  return {
    seconds,
    perSecond: latenciesMs.length / seconds,
    latenciesMs,
    statuses,
    errors: runs.flatMap((r) => r.errors).slice(0, 5),
  };
}
