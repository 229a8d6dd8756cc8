/**
 * What every Edge Function shares around its own logic: the clients it is given (database,
 * Twilio, clock, environment), resolved once per isolate, and the outer handler that answers
 * CORS preflight and turns any error into the contract's JSON shape with a request id in logs.
 *
 * @module
 */
import { createDb, dbUrlFromEnv, type Sql } from "./db.ts";
import { errorResponse, isSmsError, SmsError } from "../contract/errors.ts";
import { CORS_HEADERS } from "./http.ts";
import { createLogger, type Logger, type LogSink } from "./log.ts";
import type { TwilioClient } from "../twilio/client.ts";

/** Environment variables as a plain record. */
export type Env = Readonly<Record<string, string | undefined>>;

/** The clients a function works with; tests build their own. */
export interface FunctionDeps {
  env: Env;
  /** Database pool; `null` when no database URL is configured. */
  sql: Sql | null;
  /** Twilio sender; `null` when Twilio is not configured (SMS disabled). */
  twilio: TwilioClient | null;
  /** Current time (injectable so quiet-hours logic can be tested at any instant). */
  now: () => Date;
  /** Where log lines go. */
  logSink?: LogSink;
  /** Settles once the pool's first connection opened (or failed to); see {@link connectedSql}. */
  ready?: Promise<void>;
}

/**
 * Resolves the clients from the environment (call once per isolate, at module load). The Twilio
 * client comes from `twilio/client.ts`'s `twilioClientFromEnv` in the function's `index.ts`; a
 * function that never calls Twilio leaves it out, which keeps twilio's package out of its module
 * graph (about 40 ms of every cold start on the edge runtime's Deno: docs/performance.md).
 */
export function depsFromEnv(
  env: Env,
  clients: { twilio?: TwilioClient | null } = {},
): FunctionDeps {
  const url = dbUrlFromEnv(env);
  const sql = url ? createDb(url) : null;
  return {
    env,
    sql,
    // Connect while the rest of start-up and the first request's own work go on (cold start);
    // a failure here is the first request's to report.
    ready: sql ? sql`select 1`.then(() => {}, () => {}) : undefined,
    twilio: clients.twilio ?? null,
    now: () => new Date(),
  };
}

/**
 * The database pool once its first connection is open ({@link FunctionDeps.ready}), or a 500 that
 * says the function is misconfigured. A handler awaits it where it first needs the database, so
 * what it does before (checking a token or a signature, parsing) overlaps with the connection
 * opened at start-up; a query sent while that connection is still opening would open a second.
 */
export async function connectedSql(deps: FunctionDeps): Promise<Sql> {
  if (!deps.sql) throw new Error("SUPABASE_DB_URL is not set");
  await deps.ready;
  return deps.sql;
}

/** A request handler given a per-request logger. */
export type FunctionHandler = (req: Request, log: Logger) => Promise<Response>;

/** Options of {@link serveFunction}. */
export interface ServeFunctionOptions {
  logSink?: LogSink;
  /** Methods the function accepts (default POST). */
  methods?: string[];
}

/**
 * Wraps a function's handler: answers OPTIONS, refuses other methods, and converts errors.
 * An {@link SmsError} keeps its code; anything else is logged with the request id and answered
 * 500 `internal`, never with its message (it could carry secrets or message bodies).
 */
export function serveFunction(
  name: string,
  handler: FunctionHandler,
  options: ServeFunctionOptions = {},
): (req: Request) => Promise<Response> {
  const methods = options.methods ?? ["POST"];
  return async (req) => {
    const log = createLogger(name, { sink: options.logSink });
    const headers = { ...CORS_HEADERS, "x-request-id": log.requestId };
    if (req.method === "OPTIONS") return new Response("ok", { status: 200, headers });
    try {
      if (!methods.includes(req.method)) {
        throw new SmsError("invalid_request", `method ${req.method} is not allowed`);
      }
      const res = await handler(req, log);
      res.headers.set("x-request-id", log.requestId);
      return res;
    } catch (error) {
      if (isSmsError(error)) {
        if (error.status >= 500) log.warn("refused", { code: error.code });
      } else {
        log.error("unexpected_error", { error, stack: (error as Error)?.stack?.split("\n")[1] });
      }
      return errorResponse(error, { headers });
    }
  };
}
