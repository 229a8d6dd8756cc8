/**
 * The pg_net stand-in's worker: sends the requests that `net.http_post` queued, once their
 * transaction has committed, and records each answer in `net._http_response`, as pg_net's
 * background worker does.
 */
import type postgres from "postgres";

/** A running worker. */
export interface NetWorker {
  /** Resolves when every request queued so far has been answered. */
  drain(): Promise<void>;
  stop(): Promise<void>;
}

interface QueuedRequest {
  id: string;
  method: string;
  url: string;
  /** pg_net allows null (http_post with `headers => null`). */
  headers: Record<string, string> | null;
  body: Uint8Array | null;
  timeout_milliseconds: number;
}

/** Starts the worker on an open postgres.js pool. */
export async function startNetWorker(
  sql: postgres.Sql,
  options: { log: (line: string) => void; batchSize?: number },
): Promise<NetWorker> {
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  let again = false;
  const inflight = new Set<Promise<void>>();

  async function send(req: QueuedRequest): Promise<void> {
    let row: Record<string, unknown>;
    try {
      const res = await fetch(req.url, {
        method: req.method,
        headers: req.headers ?? {},
        body: req.body && req.method !== "GET" ? new Uint8Array(req.body) : undefined,
        signal: AbortSignal.timeout(req.timeout_milliseconds),
      });
      row = {
        id: req.id,
        status_code: res.status,
        content_type: res.headers.get("content-type"),
        headers: Object.fromEntries(res.headers),
        content: await res.text(),
        timed_out: false,
        error_msg: null,
      };
    } catch (e) {
      const timedOut = (e as Error).name === "TimeoutError";
      row = {
        id: req.id,
        status_code: null,
        content_type: null,
        headers: null,
        content: null,
        timed_out: timedOut,
        error_msg: timedOut ? "Timeout was reached" : (e as Error).message,
      };
    }
    await sql`insert into net._http_response ${sql(row)}`;
  }

  async function pump(): Promise<void> {
    while (!stopped) {
      // Taking rows out of the queue is what marks them as picked up (pg_net deletes them too).
      const batch = await sql<QueuedRequest[]>`
        delete from net.http_request_queue
         where id in (select id from net.http_request_queue order by id
                      limit ${options.batchSize ?? 50} for update skip locked)
        returning id::text, method, url, headers, body, timeout_milliseconds`;
      if (batch.length === 0) return;
      for (const req of batch) {
        const p = send(req).catch((e) => options.log(`net worker: ${(e as Error).message}`))
          .finally(() => inflight.delete(p));
        inflight.add(p);
      }
    }
  }

  function kick(): Promise<void> {
    if (stopped) return running;
    again = true;
    running = running.then(async () => {
      while (again && !stopped) {
        again = false;
        await pump().catch((e) => options.log(`net worker: ${(e as Error).message}`));
      }
    });
    return running;
  }

  const listener = await sql.listen("net_http_request", () => void kick());
  // The poll catches requests queued while the listener was reconnecting.
  const poll = setInterval(() => void kick(), 1000);
  await kick();

  return {
    async drain() {
      await kick();
      await Promise.all(inflight);
    },
    async stop() {
      stopped = true;
      clearInterval(poll);
      await listener.unlisten();
      await running;
      await Promise.all(inflight);
    },
  };
}
