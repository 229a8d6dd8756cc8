/**
 * Database access for the functions: one small postgres.js pool per isolate, and transactions
 * that run as the signed-in user exactly as PostgREST does, so RLS decides what they touch.
 *
 * @module
 */
import postgres from "postgres";
import { type ErrorCode as SmsErrorCode, SmsError } from "../contract/errors.ts";
import type { Database } from "../database.types.ts";

/** A postgres.js client. */
export type Sql = postgres.Sql;
/** A postgres.js transaction. */
export type Tx = postgres.TransactionSql;
/**
 * Where one statement runs: a transaction, or the pool itself for a statement that is a whole
 * transaction on its own (one `security definer` call needs no `begin`, role switch or `commit`:
 * it runs as its owner whatever the caller's role).
 */
export type Db = Sql | Tx;

type Schema = keyof Database;
type Functions<S extends Schema> = Database[S]["Functions"];
type Returned<S extends Schema, F extends keyof Functions<S>> = Functions<S>[F] extends
  { Returns: infer R } ? R extends readonly (infer E)[] ? E : R : never;
type Tables<S extends Schema> = Database[S]["Tables"];
type TableColumns<S extends Schema, T extends keyof Tables<S>> = Tables<S>[T] extends
  { Row: infer R } ? R : never;
/** Overrides of a row's column types; naming a column the row does not have is a type error. */
type Overrides<Row, O> = { [K in keyof O]: K extends keyof Row ? unknown : never };

/**
 * One row that function `F` of schema `S` returns, typed from `database.types.ts` (generated
 * from the migrations), with `O` replacing what the generator cannot know: postgres.js reads a
 * timestamp as a `Date` (the generated types describe PostgREST's JSON, where it is a string), a
 * `returns table` column may be null, a text column may hold one of a few values.
 */
export type RpcRow<
  S extends Schema,
  F extends keyof Functions<S>,
  O extends Overrides<Returned<S, F>, O> = Record<never, never>,
> = Omit<Returned<S, F>, keyof O> & O;

/** One row of table `T` of schema `S` (generated), with `O` as in {@link RpcRow}. */
export type TableRow<
  S extends Schema,
  T extends keyof Tables<S>,
  O extends Overrides<TableColumns<S, T>, O> = Record<never, never>,
> = Omit<TableColumns<S, T>, keyof O> & O;

/** Pool settings. */
export interface DbOptions {
  /** Connections in the pool (an isolate serves few requests at a time). */
  max?: number;
}

/**
 * Opens a pool. `prepare: false` keeps it usable behind Supabase's transaction pooler
 * (port 6543), which cannot hold prepared statements across transactions.
 */
export function createDb(url: string, options: DbOptions = {}): Sql {
  return postgres(url, {
    max: options.max ?? 5,
    // A statement waits for a free connection rather than queue behind one in flight: with one
    // round trip per statement ({@link params}) postgres.js 4 would pipeline it behind a slow
    // one (a send waiting on its number's or the quota's lock), and a single send beside a
    // campaign's drain waited 2.1–2.5 s instead of 1.4 s (docs/decisions.md).
    max_pipeline: 1,
    prepare: false,
    // Parameters typed from their JavaScript values (a Date as timestamptz...), as postgres.js 3
    // did: the statements here were written for it.
    infer: true,
    // Once two connection attempts failed, postgres.js 4 rejects queries at once until its
    // backoff ends. A function's requests come far apart, so each tries to connect instead: the
    // first request after an outage reconnects rather than failing on the last one's error.
    backoff: 0,
    idle_timeout: 20,
    connect_timeout: 10,
    onnotice: () => {},
  });
}

/** Postgres type ids of the parameters {@link params} names. */
const TEXT_OID = 25;
const INT4_OID = 23;

/**
 * Parameters with their type named, for the statements a send makes. postgres.js (with
 * `prepare: false`) sends a statement whose parameters all have a known type, or are null, in
 * one round trip (Parse, Describe, Bind, Execute, Sync). A string or a number has no type it can
 * infer, so it first asks the server for the statement's parameter types (Parse, Describe,
 * Flush), waits, then binds: a second round trip for every such statement. The SQL still casts
 * each one (`${p.text(id)}::uuid`), as it would an untyped parameter. docs/decisions.md, "One
 * round trip per statement".
 */
export function params(db: Db): {
  text(value: string | null | undefined): postgres.Parameter<string | null>;
  int(value: number | null | undefined): postgres.Parameter<number | null>;
} {
  return {
    text: (value) => db.typed(value ?? null, TEXT_OID),
    int: (value) => db.typed(value ?? null, INT4_OID),
  };
}

/** The database URL from the environment: `SMS_DB_URL` overrides Supabase's `SUPABASE_DB_URL`. */
export function dbUrlFromEnv(env: Record<string, string | undefined>): string | undefined {
  return env.SMS_DB_URL || env.SUPABASE_DB_URL || undefined;
}

/**
 * Runs `fn` in a transaction that starts with `setup`. The setup is not awaited first: it goes
 * out with `fn`'s first statement, one round trip instead of two. If it fails, the transaction
 * fails with its error (postgres.js reports the first error of a transaction).
 */
async function inTransaction<T>(
  sql: Sql,
  setup: (tx: Tx) => Promise<unknown>,
  fn: (tx: Tx) => Promise<T>,
): Promise<T> {
  return await sql.begin(async (tx) => {
    const ready = setup(tx);
    // Awaited below; until then a failure must not count as unhandled.
    ready.catch(() => {});
    const result = await fn(tx);
    await ready;
    return result;
  }) as T;
}

/**
 * Runs `fn` in a transaction as role `authenticated` with `request.jwt.claims` set, as PostgREST
 * does for a user's request. Everything `fn` reads or writes passes through RLS.
 */
export async function asUser<T>(
  sql: Sql,
  claims: Record<string, unknown>,
  fn: (tx: Tx) => Promise<T>,
): Promise<T> {
  return await inTransaction(
    sql,
    (tx) =>
      tx`select set_config('role', 'authenticated', true),
                set_config('request.jwt.claims', ${JSON.stringify(claims)}, true)`,
    fn,
  );
}

/**
 * Runs `fn` in a transaction as role `service_role`: the role the `security definer` RPCs are
 * granted to. Functions connect as the database owner; switching role keeps them to what the
 * service role may do.
 */
export async function asService<T>(sql: Sql, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return await inTransaction(sql, (tx) => tx`select set_config('role', 'service_role', true)`, fn);
}

// The SMS RPCs raise these words as their message (see the migrations) for refusals a caller
// can act on; everything else is a bug or an outage.
const RPC_REFUSALS: Record<string, { code: SmsErrorCode; message: string }> = {
  customer_not_found: { code: "customer_not_found", message: "Customer not found" },
  opted_out: { code: "opted_out", message: "The customer has opted out of SMS" },
  no_consent: { code: "no_consent", message: "The customer has not consented to SMS" },
  help_contact_missing: {
    code: "help_contact_missing",
    message: "This business has no SMS help contact; add one before sending SMS",
  },
  quota_exceeded: {
    code: "quota_exceeded",
    message: "This business has reached its daily SMS limit; try again later",
  },
  invalid_phone: {
    code: "invalid_phone",
    message: "The customer has no mobile number that can receive SMS",
  },
};

/** The contract error an RPC refusal stands for, or `null` for any other error. */
export function rpcRefusal(error: unknown): SmsError | null {
  const e = error as { message?: unknown; code?: unknown };
  if (typeof e?.message !== "string" || !["P0001", "P0002"].includes(String(e.code))) return null;
  const refusal = RPC_REFUSALS[e.message];
  return refusal ? new SmsError(refusal.code, refusal.message) : null;
}
