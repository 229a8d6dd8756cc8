/**
 * Helpers for the twilio-webhook tests: Twilio-signed requests (signed by twilio's own library),
 * fresh customers with numbers of their own, and send logs linked to a Twilio sid.
 */
import twilio from "twilio";
import type postgres from "postgres";
import { sha256Hex } from "@shared/twilio/signature.ts";
import { newSid as sandboxSid } from "@local/sandbox/ids.ts";
import { stack } from "../support/stack.ts";

/** A fresh Twilio message sid. */
export const newSid = () => sandboxSid("SM");

/**
 * A fresh, valid North American number (area code 646, exchange 200–699: the benchmarks number
 * from 7xx–9xx, as tests/support/sms.ts explains), unique per call.
 */
export function newPhone(): string {
  const [a, b] = crypto.getRandomValues(new Uint32Array(2));
  return `+1646${200 + (a % 500)}${String(b % 10_000).padStart(4, "0")}`;
}

/** What a webhook answered. */
export interface Answer {
  status: number;
  contentType: string | null;
  text: string;
}

async function answer(res: Response): Promise<Answer> {
  return {
    status: res.status,
    contentType: res.headers.get("content-type"),
    text: await res.text(),
  };
}

/** Options of {@link postForm} and {@link postJson}. */
export interface SignOptions {
  /** URL to sign (default: the public webhook URL). */
  signUrl?: string;
  /** Token to sign with (default: the stack's auth token). */
  token?: string;
  /** Signature to send instead of computing one; `null` sends none. */
  signature?: string | null;
  /** Parameters to post instead of the signed ones (a tampered request). */
  postParams?: Record<string, string>;
  idempotencyToken?: string;
}

/** POSTs a form-encoded webhook, signed with `getExpectedTwilioSignature`. */
export async function postForm(
  params: Record<string, string>,
  options: SignOptions = {},
): Promise<Answer> {
  const info = stack();
  const url = info.twilio.webhookUrl;
  const signature = options.signature !== undefined
    ? options.signature
    : twilio.getExpectedTwilioSignature(
      options.token ?? info.twilio.authToken,
      options.signUrl ?? url,
      params,
    );
  const headers: Record<string, string> = {
    "content-type": "application/x-www-form-urlencoded",
  };
  if (signature !== null) headers["x-twilio-signature"] = signature;
  if (options.idempotencyToken) headers["i-twilio-idempotency-token"] = options.idempotencyToken;
  return await answer(
    await fetch(url, {
      method: "POST",
      headers,
      body: new URLSearchParams(options.postParams ?? params).toString(),
    }),
  );
}

/** Options of {@link postJson}. */
export interface JsonOptions {
  token?: string;
  /** Body to post instead of the signed one. */
  postBody?: string;
  /** Leave `bodySHA256` out of the URL (sign the URL alone). */
  noHash?: boolean;
  /** Host to sign instead of the public one. */
  signUrl?: string;
}

/** POSTs a JSON webhook the way Twilio signs one: `bodySHA256` in the URL, the URL signed. */
export async function postJson(body: string, options: JsonOptions = {}): Promise<Answer> {
  const info = stack();
  const url = options.noHash
    ? info.twilio.webhookUrl
    : `${info.twilio.webhookUrl}?bodySHA256=${await sha256Hex(body)}`;
  const signed = options.signUrl ? url.replace(info.twilio.webhookUrl, options.signUrl) : url;
  const signature = twilio.getExpectedTwilioSignature(
    options.token ?? info.twilio.authToken,
    signed,
    {},
  );
  return await answer(
    await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", "x-twilio-signature": signature },
      body: options.postBody ?? body,
    }),
  );
}

/** Twilio's status-callback parameters for a message. */
export function statusParams(
  sid: string,
  status: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  const info = stack();
  return {
    AccountSid: info.twilio.accountSid,
    ApiVersion: "2010-04-01",
    From: info.twilio.phoneNumber,
    To: "+12125550100",
    MessageSid: sid,
    SmsSid: sid,
    MessageStatus: status,
    SmsStatus: status,
    ...extra,
  };
}

/** Twilio's inbound-message parameters. */
export function inboundParams(from: string, body: string, extra: Record<string, string> = {}) {
  const info = stack();
  const sid = newSid();
  return {
    MessageSid: sid,
    SmsMessageSid: sid,
    SmsSid: sid,
    AccountSid: info.twilio.accountSid,
    From: from,
    To: info.twilio.phoneNumber,
    Body: body,
    NumMedia: "0",
    NumSegments: "1",
    SmsStatus: "received",
    ApiVersion: "2010-04-01",
    ...extra,
  };
}

/** A business of the test's own, removed (with everything in it) by `drop()`. */
export async function scratchBusiness(sql: postgres.Sql, label: string) {
  const id = crypto.randomUUID();
  await sql`
    insert into public.businesses (id, name, sms_help_contact)
    values (${id}, ${`Test ${label}`}, 'help@test.test')`;
  return { id, drop: () => sql`delete from public.businesses where id = ${id}`.then(() => {}) };
}

/** Inserts an SMS-ready customer (as the table owner) and returns its id. */
export async function newCustomer(
  sql: postgres.Sql,
  businessId: string,
  options: { phone?: string; consent?: "opted_in" | "unknown" | "opted_out"; name?: string } = {},
): Promise<{ id: string; phone: string }> {
  const phone = options.phone ?? newPhone();
  const [row] = await sql<{ id: string }[]>`
    insert into public.customers (business_id, name, phone, phone_status, sms_consent_status,
                                  sms_consent_at, time_zone, us_state)
    values (${businessId}, ${options.name ?? "Webhook Test"}, ${phone}, 'valid',
            ${options.consent ?? "opted_in"}, now(), 'America/New_York', 'NY')
    returning id`;
  return { id: row.id, phone };
}

/** A send log handed to Twilio under `sid` (status queued), as send-sms leaves it. */
export async function sentLog(sql: postgres.Sql, customerId: string, sid: string): Promise<string> {
  const [log] = await sql<{ id: string }[]>`
    select (sms.create_send_log(${customerId}, 1, 'GSM-7')).id`;
  await sql`select sms.record_send_result(${log.id}, ${sid}, 'queued')`;
  return log.id;
}

/** Waits until `check` returns a truthy value (polling), or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | null | undefined | false>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error("timed out waiting for a condition");
    await new Promise((r) => setTimeout(r, 50));
  }
}
