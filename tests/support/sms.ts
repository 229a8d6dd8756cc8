/**
 * Helpers for end-to-end tests of the SMS functions: customers in a chosen local time, a
 * supabase-js client signed in as a seeded user, the sandbox's JSON API, and a snapshot of what
 * the database holds (to prove a refusal wrote nothing).
 */
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import type postgres from "postgres";
import { stack } from "./stack.ts";

/**
 * A fixed-offset zone in which the local hour is `hour` right now. Etc/GMT zones exist for
 * every offset from -12 to +14, so every hour of the day is somewhere; the sign is POSIX's
 * (Etc/GMT+5 is five hours behind UTC).
 */
export function zoneAtLocalHour(hour: number, now = new Date()): string {
  let offset = hour - now.getUTCHours(); // local = utc + offset
  if (offset > 14) offset -= 24;
  if (offset < -12) offset += 24;
  if (offset === 0) return "Etc/GMT";
  return offset > 0 ? `Etc/GMT-${offset}` : `Etc/GMT+${-offset}`;
}

/**
 * A random NANP number in area code 212 (New York), unique enough for a test run. The exchange
 * starts with 2-6: 2-9 as in every number in service (send-sms refuses any other,
 * libphonenumber), less 7-9, which the benchmarks' tenants number from (bench/lib/tenant.ts):
 * `npm test` runs their quick forms on the tests' stack, and a test that looks for what the
 * sandbox sent to its number once found a benchmark's message there.
 */
export function randomPhone(): string {
  const [a, b] = crypto.getRandomValues(new Uint32Array(2));
  return `+1212${2 + (a % 5)}${String(b % 1e6).padStart(6, "0")}`;
}

/** What a test customer looks like. */
export interface CustomerSpec {
  businessId?: string;
  phone?: string | null;
  consent?: "unknown" | "opted_in" | "opted_out";
  phoneStatus?: "unknown" | "valid" | "invalid" | "landline";
  timeZone?: string | null;
  state?: string | null;
}

/** Inserts a customer (as the database owner) and returns its id and phone. */
export async function createCustomer(
  sql: postgres.Sql,
  spec: CustomerSpec = {},
): Promise<{ id: string; phone: string | null; businessId: string }> {
  const businessId = spec.businessId ?? stack().seed.businesses[0].id;
  const phone = spec.phone === undefined ? randomPhone() : spec.phone;
  const [row] = await sql<{ id: string }[]>`
    insert into public.customers (business_id, name, phone, phone_status, sms_consent_status,
                                  sms_consent_at, time_zone, us_state)
    values (${businessId}, 'Test Customer', ${phone}, ${spec.phoneStatus ?? "valid"},
            ${spec.consent ?? "opted_in"}, now(),
            ${spec.timeZone === undefined ? zoneAtLocalHour(13) : spec.timeZone},
            ${spec.state === undefined ? "NY" : spec.state})
    returning id`;
  return { id: row.id, phone, businessId };
}

/** A supabase-js client signed in as a seeded user (by email). */
export function userClient(email = "owner@acme.test"): SupabaseClient {
  const info = stack();
  return createClient(info.apiUrl, info.tokens.anon, {
    auth: { persistSession: false, autoRefreshToken: false },
    global: { headers: { Authorization: `Bearer ${info.tokens.users[email]}` } },
  });
}

/** A message as the sandbox lists it. */
export interface SandboxMessage {
  sid: string;
  to: string;
  from: string | null;
  body: string;
  status: string;
  num_segments: string;
  status_callback?: string | null;
  validity_period?: number | null;
}

/** The sandbox's JSON API. */
export const sandbox = {
  async messages(to?: string): Promise<SandboxMessage[]> {
    const all = await (await fetch(`${stack().sandboxUrl}/api/messages`))
      .json() as SandboxMessage[];
    return to ? all.filter((m) => m.to === to) : all;
  },
  async attempts(): Promise<{ to: string; outcome: string }[]> {
    return await (await fetch(`${stack().sandboxUrl}/api/attempts`)).json();
  },
  async config(patch: Record<string, unknown>): Promise<void> {
    const res = await fetch(`${stack().sandboxUrl}/api/config`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(patch),
    });
    await res.body?.cancel();
    if (!res.ok) throw new Error(`sandbox config: ${res.status}`);
  },
  async reset(): Promise<void> {
    await sandbox.config({ reset: true });
  },
};

/** Row counts and a checksum of customers: equal snapshots mean nothing was written. */
export async function dbSnapshot(sql: postgres.Sql): Promise<Record<string, string>> {
  const [row] = await sql<Record<string, string>[]>`
    select (select count(*) from public.send_logs)::text as send_logs,
           (select count(*) from sms.retry_queue)::text as retries,
           -- Callbacks for earlier tests' messages keep arriving (twilio-webhook records them);
           -- send-sms itself writes only api/system events.
           (select count(*) from public.sms_message_events where source <> 'callback')::text
             as events,
           (select count(*) from public.sms_consent_events)::text as consent_events,
           (select count(*) from sms.idempotency_keys)::text as idempotency_keys,
           (select md5(coalesce(string_agg(c::text, ',' order by c.id), ''))
              from public.customers c) as customers`;
  return row;
}
