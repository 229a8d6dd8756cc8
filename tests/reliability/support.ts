/**
 * Helpers for the reliability suites (fuzzing, faults, soak): a whole-database snapshot, a quiet
 * database to compare it against, the contract's error shape, the stack's function processes,
 * Twilio-signed webhook requests, and the exactly-once check over a business's send logs.
 */
import zlib from "node:zlib";
import assert from "node:assert/strict";
import twilio from "twilio";
import type postgres from "postgres";
import { ERROR_STATUS, type ErrorCode } from "@shared/contract/errors.ts";
import { functionWorkerPid } from "@local/functions.ts";
import { randomPhone } from "../support/sms.ts";
import { stack } from "../support/stack.ts";

export const info = stack();
export const SEND_SMS_URL = `${info.functionsUrl}/send-sms`;
export const WEBHOOK_URL = info.twilio.webhookUrl;
export const RETRIES_URL = `${info.functionsUrl}/process-retries`;
export const CRON_AUTH = { authorization: `Bearer ${info.processRetriesSecret}` };

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// --- database snapshots ----------------------------------------------------------------------

/**
 * Row count and an order-independent checksum of every row of every table in `public`: equal
 * snapshots mean nothing was inserted, updated or deleted anywhere.
 */
export async function snapshotAll(sql: postgres.Sql): Promise<Record<string, string>> {
  const tables = await sql<{ name: string }[]>`
    select tablename as name from pg_tables where schemaname = 'public' order by tablename`;
  const quote = (s: string) => `"${s.replaceAll('"', '""')}"`;
  const query = tables.map((t) =>
    `select '${t.name.replaceAll("'", "''")}' as t, count(*)::text || ':' ||
            coalesce(sum(hashtextextended(x::text, 0)), 0)::text as v
       from public.${quote(t.name)} x`
  ).join(" union all ");
  const rows = await sql.unsafe<{ t: string; v: string }[]>(query);
  return Object.fromEntries(rows.map((r) => [r.t, r.v]));
}

/** The tables whose snapshot differs. */
export function changedTables(a: Record<string, string>, b: Record<string, string>): string[] {
  const names = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...names].filter((n) => a[n] !== b[n]).sort();
}

/**
 * Waits until nothing writes to the database any more: the sandbox's messages are forgotten
 * (which stops their pending callbacks), then snapshots half a second apart must stay equal for
 * two seconds (a process-retries run still going would change them). Call with the cron job
 * paused.
 */
export async function quiesce(sql: postgres.Sql, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  await sandboxApi("/api/messages", { method: "DELETE" });
  await sandboxApi("/api/idle");
  let last = await snapshotAll(sql);
  let stableSince = Date.now();
  let changed: string[] = [];
  while (Date.now() < deadline) {
    await sleep(500);
    const next = await snapshotAll(sql);
    changed = changedTables(last, next);
    if (changed.length > 0) stableSince = Date.now();
    else if (Date.now() - stableSince >= 2000) return;
    last = next;
  }
  throw new Error(`the database did not settle (still changing: ${changed.join(", ")})`);
}

/**
 * After a request that sent a message: forgets the sandbox's messages (no more callbacks), waits
 * for the callbacks already on their way to be answered, then until two snapshots 150 ms apart
 * agree; returns the last one.
 */
export async function settle(sql: postgres.Sql): Promise<Record<string, string>> {
  await sandboxApi("/api/messages", { method: "DELETE" });
  await sandboxApi("/api/idle");
  let last = await snapshotAll(sql);
  for (let i = 0; i < 100; i++) {
    await sleep(150);
    const next = await snapshotAll(sql);
    if (changedTables(last, next).length === 0) return next;
    last = next;
  }
  throw new Error("the database did not settle");
}

// --- answers ---------------------------------------------------------------------------------

/** What an endpoint answered. */
export interface Answer {
  status: number;
  contentType: string;
  requestId: string | null;
  text: string;
  json: unknown;
}

/**
 * Deno.serve compresses a body for a client that accepts it; fetch decodes it only when it chose
 * the encodings itself (keeping the header), not when the caller sent its own `accept-encoding`
 * as the fuzz tests do.
 */
function decode(bytes: Uint8Array, encoding: string | null): Uint8Array {
  switch (encoding?.trim().toLowerCase()) {
    case undefined:
    case "":
    case "identity":
      return bytes;
    case "gzip":
      return zlib.gunzipSync(bytes);
    case "deflate":
      return zlib.inflateSync(bytes);
    case "br":
      return zlib.brotliDecompressSync(bytes);
    default:
      throw new Error(`unexpected content-encoding ${encoding}`);
  }
}

export async function answerOf(
  res: Response,
  options: { ownAcceptEncoding?: boolean } = {},
): Promise<Answer> {
  const raw = new Uint8Array(await res.arrayBuffer());
  const bytes = options.ownAcceptEncoding ? decode(raw, res.headers.get("content-encoding")) : raw;
  const text = new TextDecoder().decode(bytes);
  let json: unknown = undefined;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return {
    status: res.status,
    contentType: res.headers.get("content-type") ?? "",
    requestId: res.headers.get("x-request-id"),
    text,
    json,
  };
}

/**
 * Asserts the contract's error shape: JSON `{ error: { code, message, details? } }` with a known
 * code whose status is the answer's, and nothing else at the top level.
 */
export function assertContractError(a: Answer, allowed: readonly ErrorCode[], label: string) {
  const where = `${label}: ${a.status} ${a.text.slice(0, 300)}`;
  assert.match(a.contentType, /^application\/json/, where);
  const body = a.json as { error?: { code?: unknown; message?: unknown; details?: unknown } };
  assert.ok(body && typeof body === "object" && !Array.isArray(body), where);
  assert.deepEqual(Object.keys(body), ["error"], where);
  const e = body.error!;
  assert.ok(e && typeof e === "object", where);
  assert.ok(
    Object.keys(e).every((k) => ["code", "message", "details"].includes(k)),
    `unexpected keys in ${where}`,
  );
  assert.equal(typeof e.code, "string", where);
  assert.ok(
    (allowed as readonly string[]).includes(e.code as string),
    `code ${e.code} not in ${allowed.join("|")}: ${where}`,
  );
  assert.equal(a.status, ERROR_STATUS[e.code as ErrorCode], where);
  assert.equal(typeof e.message, "string", where);
  assert.ok((e.message as string).length > 0, where);
  assert.ok(a.requestId, `the function answered (x-request-id): ${where}`);
}

// --- the stack's function processes -----------------------------------------------------------

/** The stack's function `name`: its port. */
export function functionPort(name: string): number {
  const fn = info.functions.find((f) => f.name === name);
  if (!fn) throw new Error(`no function ${name} in the stack`);
  return fn.port;
}

/** How the stack's workers for function `name` ended so far (local/functions.ts `stats`). */
export async function workerStats(
  name: string,
): Promise<{ started: number; retired: number; terminated: number; crashed: number }> {
  const res = await fetch(`${info.apiUrl}/_local/functions`);
  const all = await res.json();
  if (!all[name]) throw new Error(`no function ${name} in the stack`);
  return all[name];
}

/**
 * The pid of the stack's current worker for function `name`. A function whose last worker was
 * retired has none until a request comes (as on the platform); a preflight request boots one.
 */
export async function functionPid(name: string): Promise<number | null> {
  const pid = functionWorkerPid(functionPort(name));
  if (pid !== null) return pid;
  const res = await fetch(`http://127.0.0.1:${functionPort(name)}/${name}`, { method: "OPTIONS" });
  await res.body?.cancel();
  return functionWorkerPid(functionPort(name));
}

/** Waits until the function's port accepts connections again. */
export async function waitListening(name: string, timeoutMs = 30_000): Promise<void> {
  const port = functionPort(name);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      await sleep(50);
    }
  }
  throw new Error(`${name} did not come back on ${port}`);
}

// --- sandbox -----------------------------------------------------------------------------------

export async function sandboxApi(path: string, init: RequestInit = {}): Promise<unknown> {
  const res = await fetch(`${info.sandboxUrl}${path}`, init);
  const text = await res.text();
  assert.ok(res.ok, `sandbox ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

export async function sandboxConfig(patch: Record<string, unknown>): Promise<void> {
  await sandboxApi("/api/config", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(patch),
  });
}

/** An outbound message as the sandbox lists it. */
export interface SandboxMessage {
  sid: string;
  to: string;
  body: string;
  status: string;
  timeline: { at: string; status: string }[];
}

export async function sandboxMessages(): Promise<SandboxMessage[]> {
  return await sandboxApi("/api/messages") as SandboxMessage[];
}

// --- Twilio-signed webhooks -------------------------------------------------------------------

/** Parameters of a form body as Twilio signs them: repeated keys become arrays. */
export function signedParams(form: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null);
  for (const [k, v] of new URLSearchParams(form)) {
    const existing = out[k];
    if (existing === undefined) out[k] = v;
    else if (Array.isArray(existing)) existing.push(v);
    else out[k] = [existing, v];
  }
  return out;
}

/** Signs `url` and a form body with twilio's own library, as Twilio would. */
export function signForm(url: string, form: string, token = info.twilio.authToken): string {
  return twilio.getExpectedTwilioSignature(token, url, signedParams(form));
}

/** POSTs a status callback for `sid`, signed. */
export async function postStatus(
  sid: string,
  status: string,
  extra: Record<string, string> = {},
): Promise<Answer> {
  const form = new URLSearchParams({
    AccountSid: info.twilio.accountSid,
    ApiVersion: "2010-04-01",
    From: info.twilio.phoneNumber,
    MessageSid: sid,
    SmsSid: sid,
    MessageStatus: status,
    SmsStatus: status,
    ...extra,
  }).toString();
  return await answerOf(
    await fetch(WEBHOOK_URL, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": signForm(WEBHOOK_URL, form),
      },
      body: form,
    }),
  );
}

// --- tenants, queue rows, draining --------------------------------------------------------------

/** An `Etc/GMT±N` zone whose local hour is `hour` right now. */
export function zoneAtLocalHour(hour: number, now = new Date()): string {
  let offset = (((hour - now.getUTCHours()) % 24) + 24) % 24;
  if (offset > 11) offset -= 24;
  if (offset === 0) return "Etc/GMT";
  return offset > 0 ? `Etc/GMT-${offset}` : `Etc/GMT+${-offset}`;
}

/** A random +1 212 number, unique enough for a run (tests/support/sms.ts). */
export { randomPhone };

export interface TenantCustomer {
  id: string;
  phone: string;
  timeZone: string;
  consent: string;
}

export interface Tenant {
  businessId: string;
  customers: TenantCustomer[];
  drop(): Promise<void>;
}

/** A business of its own (high daily quota) with the customers given. */
export async function makeTenant(
  sql: postgres.Sql,
  label: string,
  customers: { timeZone: string; phone?: string; consent?: string; phoneStatus?: string }[],
): Promise<Tenant> {
  const businessId = crypto.randomUUID();
  await sql`
    insert into public.businesses (id, name, sms_daily_quota, sms_help_contact)
    values (${businessId}, ${`rel ${label}`}, 1000000, 'help@rel.test')`;
  // The seeded owner is a member, so tests can call send-sms for this business as that user.
  const owner = info.seed.businesses[0].users[0];
  await sql`
    insert into public.business_members (business_id, user_id, role)
    values (${businessId}, ${owner.id}, 'owner')`;
  const out: TenantCustomer[] = [];
  for (const c of customers) {
    const id = crypto.randomUUID();
    const phone = c.phone ?? randomPhone();
    const consent = c.consent ?? "opted_in";
    await sql`
      insert into public.customers (id, business_id, name, phone, phone_status,
                                    sms_consent_status, sms_consent_at, time_zone, us_state)
      values (${id}, ${businessId}, ${label}, ${phone}, ${c.phoneStatus ?? "valid"}, ${consent},
              now(), ${c.timeZone}, 'NY')`;
    out.push({ id, phone, timeZone: c.timeZone, consent });
  }
  return {
    businessId,
    customers: out,
    async drop() {
      await sandboxApi("/api/messages", { method: "DELETE" }).catch(() => {});
      await sql`delete from public.businesses where id = ${businessId}`;
    },
  };
}

export interface QueuedRow {
  retryId: string;
  sendLogId: string;
  customer: TenantCustomer;
  body: string;
}

/** Queues `count` due rows (deferred send log + pending retry), as send-sms would have. */
export async function enqueueDue(
  sql: postgres.Sql,
  tenant: Tenant,
  count: number,
  tag: string,
): Promise<QueuedRow[]> {
  const rows: QueuedRow[] = Array.from({ length: count }, (_, i) => ({
    retryId: crypto.randomUUID(),
    sendLogId: crypto.randomUUID(),
    customer: tenant.customers[i % tenant.customers.length],
    body: `${tag} #${i}`,
  }));
  const input = rows.map((r) => ({
    retry_id: r.retryId,
    send_log_id: r.sendLogId,
    customer_id: r.customer.id,
    phone: r.customer.phone,
    body: r.body,
  }));
  await sql.begin(async (tx) => {
    await tx`
      insert into public.send_logs (id, business_id, channel, customer_id, to_phone, status,
                                    segments, encoding, status_at)
      select x.send_log_id, ${tenant.businessId}, 'sms', x.customer_id, x.phone, 'deferred', 1,
             'GSM-7', now()
        from jsonb_to_recordset(${tx.json(input)}::jsonb)
             as x(send_log_id uuid, customer_id uuid, phone text)`;
    await tx`
      insert into sms.retry_queue (id, business_id, customer_id, send_log_id, body, reason,
                                   max_attempts, scheduled_for)
      select x.retry_id, ${tenant.businessId}, x.customer_id, x.send_log_id, x.body,
             'provider_unavailable', 8, now() - interval '1 minute' * random()
        from jsonb_to_recordset(${tx.json(input)}::jsonb)
             as x(retry_id uuid, send_log_id uuid, customer_id uuid, body text)`;
  });
  return rows;
}

/** Open (pending or processing) retry rows of a business. */
export async function openRows(sql: postgres.Sql, businessId: string): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    select count(*)::int as n from sms.retry_queue
     where business_id = ${businessId} and status in ('pending', 'processing')`;
  return row.n;
}

/**
 * "Time passes" for a business's queue: backoffs run out (rows deferred for quiet hours or the
 * frequency cap keep their time) and, unless `leases` is false, leases expire. Expire leases
 * only when no live run holds them (after a worker died): a lease taken from a live worker is
 * exactly what the lease length exists to prevent.
 */
export async function timeWarp(
  sql: postgres.Sql,
  businessId: string,
  options: { leases?: boolean } = {},
): Promise<void> {
  if (options.leases !== false) {
    await sql`
      update sms.retry_queue set lease_expires_at = now() - interval '1 second'
       where business_id = ${businessId} and status = 'processing'`;
  }
  await sql`
    update sms.retry_queue set scheduled_for = now() - interval '1 second'
     where business_id = ${businessId} and status = 'pending'
       and reason in ('provider_unavailable', 'rate_limited')`;
}

/** POSTs to process-retries with the cron secret. */
export async function invokeRetries(
  url = RETRIES_URL,
  body: Record<string, unknown> = {},
): Promise<Answer> {
  return await answerOf(
    await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...CRON_AUTH },
      body: JSON.stringify(body),
    }),
  );
}

/**
 * Runs process-retries (time-warping the business's queue between runs) until none of its rows
 * is open, or `rounds` runs. Returns the runs' answers.
 */
export async function drain(
  sql: postgres.Sql,
  businessId: string,
  options: { url?: string; rounds?: number; batchSize?: number } = {},
): Promise<Answer[]> {
  const answers: Answer[] = [];
  for (let round = 0; round < (options.rounds ?? 20); round++) {
    if (await openRows(sql, businessId) === 0) break;
    await timeWarp(sql, businessId);
    const a = await invokeRetries(options.url, { batchSize: options.batchSize ?? 200 });
    answers.push(a);
    assert.equal(a.status, 200, `drain round ${round}: ${a.status} ${a.text}`);
  }
  return answers;
}

/** The state of a business's retry rows with their send logs. */
export interface RowState {
  id: string;
  send_log_id: string;
  status: string;
  attempts: number;
  last_error: string | null;
  outcome_uncertain: boolean;
  body: string;
  log_status: string;
  sid: string | null;
}

export async function rowStates(sql: postgres.Sql, businessId: string): Promise<RowState[]> {
  return [
    ...await sql<RowState[]>`
      select q.id, q.send_log_id, q.status, q.attempts, q.last_error, q.outcome_uncertain, q.body,
             l.status as log_status, l.provider_message_id ->> 'twilio_sid' as sid
        from sms.retry_queue q join public.send_logs l on l.id = q.send_log_id
       where q.business_id = ${businessId}`,
  ];
}

/** Figures of an exactly-once check. */
export interface ExactlyOnce {
  rows: number;
  completed: number;
  failed: number;
  cancelled: number;
}

/**
 * After recovery: every retry row of the business is finished, and each was sent exactly once
 * (completed: one sandbox message, the one whose sid its log holds) or not at all (failed with a
 * reason, or cancelled).
 */
export async function assertExactlyOnce(
  sql: postgres.Sql,
  businessId: string,
): Promise<ExactlyOnce> {
  const states = await rowStates(sql, businessId);
  const messages = await sandboxMessages();
  const byBody = new Map<string, SandboxMessage[]>();
  for (const m of messages) byBody.set(m.body, [...(byBody.get(m.body) ?? []), m]);
  const out: ExactlyOnce = { rows: states.length, completed: 0, failed: 0, cancelled: 0 };
  for (const s of states) {
    const got = byBody.get(s.body) ?? [];
    const label = `${s.body} (${s.status}, log ${s.log_status}, ${got.length} at Twilio)`;
    assert.ok(got.length <= 1, `never sent twice: ${label}`);
    if (s.status === "completed") {
      out.completed++;
      assert.equal(got.length, 1, `completed and at Twilio: ${label}`);
      assert.equal(s.sid, got[0].sid, `the log holds the message's sid: ${label}`);
    } else if (s.status === "failed") {
      out.failed++;
      assert.ok(s.last_error, `failed with its reason: ${label}`);
      assert.equal(s.log_status, "failed", label);
      assert.equal(got.length, 0, `a failed row never reached Twilio: ${label}`);
    } else {
      out.cancelled++;
      assert.equal(s.status, "cancelled", `finished: ${label}`);
      assert.equal(got.length, 0, label);
    }
  }
  return out;
}

/** Waits until `probe` gives a value (checked every 100 ms), or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** A call of the campaigns function as a signed-in user (the Acme owner unless told). */
export async function callCampaigns(
  body: Record<string, unknown>,
  token = info.tokens.users["owner@acme.test"],
): Promise<Answer> {
  return await answerOf(
    await fetch(`${info.functionsUrl}/campaigns`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    }),
  );
}
