/**
 * Structured logs for the functions: one JSON line per event with a request id. Only the fields
 * a caller passes are written, and known secret-bearing names are dropped, so tokens, secrets
 * and message bodies never reach the logs.
 *
 * @module
 */

/** Field names whose values are never logged, whatever the caller passes. */
const REDACTED =
  /^(body|message_body|authorization|auth_?token|token|secret|password|jwt|apikey|signature)$/i;

/** A logger bound to one function and request. */
export interface Logger {
  readonly requestId: string;
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
}

/** Where log lines go (console by default; tests capture them). */
export type LogSink = (line: string, level: "info" | "warn" | "error") => void;

const consoleSink: LogSink = (line, level) => {
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
};

function clean(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (REDACTED.test(k)) continue;
    out[k] = v instanceof Error ? { name: v.name, code: (v as { code?: unknown }).code } : v;
  }
  return out;
}

/** Creates a logger for one request of function `fn`. */
export function createLogger(
  fn: string,
  options: { requestId?: string; sink?: LogSink } = {},
): Logger {
  const requestId = options.requestId ?? crypto.randomUUID();
  const sink = options.sink ?? consoleSink;
  // A log line never fails the request that writes it: a handler logs after its commit, and a
  // field JSON cannot hold (a BigInt, a cycle) or a closed stdout (BrokenPipe) would turn a
  // written answer into a 500 that a client retries.
  const write =
    (level: "info" | "warn" | "error") => (event: string, fields: Record<string, unknown> = {}) => {
      const head = { level, fn, requestId, event, at: new Date().toISOString() };
      let line: string;
      try {
        line = JSON.stringify({ ...head, ...clean(fields) });
      } catch {
        line = JSON.stringify({ ...head, fields: "unserializable" });
      }
      try {
        sink(line, level);
      } catch {
        // Nowhere left to say it.
      }
    };
  return { requestId, info: write("info"), warn: write("warn"), error: write("error") };
}
