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
  const write =
    (level: "info" | "warn" | "error") => (event: string, fields: Record<string, unknown> = {}) =>
      sink(
        JSON.stringify({
          level,
          fn,
          requestId,
          event,
          at: new Date().toISOString(),
          ...clean(fields),
        }),
        level,
      );
  return { requestId, info: write("info"), warn: write("warn"), error: write("error") };
}
