/**
 * A scratch tenant for the benchmarks that call send-sms: a business of its own (with a daily
 * quota large enough for a benchmark), a signed-in owner with a token minted by the stack's key,
 * and customers whose local time is midday in New York rules (no frequency cap), so every send
 * goes out now. `drop()` deletes all of it.
 *
 * @module
 */
import type postgres from "postgres";
import type { StackInfo } from "@local/stack.ts";
import { loadOrCreateKeys, mintUserToken } from "@local/keys.ts";
import { join } from "@local/paths.ts";

/**
 * A fixed-offset zone in which the local hour is `hour` right now (as tests/support/sms.ts's
 * helper: Etc/GMT zones exist for every offset from -12 to +14; POSIX signs).
 */
export function zoneAtLocalHour(hour: number, now = new Date()): string {
  let offset = hour - now.getUTCHours();
  if (offset > 14) offset -= 24;
  if (offset < -12) offset += 24;
  if (offset === 0) return "Etc/GMT";
  return offset > 0 ? `Etc/GMT-${offset}` : `Etc/GMT+${-offset}`;
}

export interface ScratchTenant {
  businessId: string;
  userId: string;
  token: string;
  /** Adds `n` SMS-ready customers; their ids and phones. */
  customers(n: number): Promise<{ id: string; phone: string }[]>;
  /**
   * Adds a campaign audience of `n` customers in one set-based insert: {@link PROFILES}' states
   * and zones in turn, and one in ten ineligible ({@link planted}). Their ids, in insert order.
   * `ready`: instead, every one SMS-ready at midday in New York rules, as {@link customers}.
   */
  population(n: number, options?: { ready?: boolean }): Promise<string[]>;
  drop(): Promise<void>;
}

/**
 * The states, zones and area codes of a {@link ScratchTenant.population}, in turn: the
 * compliance rules differ by state (Florida's and Oklahoma's frequency caps) and by zone (the
 * quiet hours), and a campaign plans per (zone, state, area code) group. The last one has no
 * zone or state: the rules derive them from the number.
 */
export const PROFILES: readonly { state: string | null; zone: string | null; area: string }[] = [
  { state: "NY", zone: "America/New_York", area: "212" },
  { state: "CA", zone: "America/Los_Angeles", area: "415" },
  { state: "TX", zone: "America/Chicago", area: "512" },
  { state: "FL", zone: "America/New_York", area: "305" },
  { state: "IL", zone: "America/Chicago", area: "312" },
  { state: "WA", zone: "America/Los_Angeles", area: "206" },
  { state: "AZ", zone: "America/Phoenix", area: "602" },
  { state: "CO", zone: "America/Denver", area: "303" },
  { state: "OK", zone: "America/Chicago", area: "405" },
  { state: "GA", zone: "America/New_York", area: "404" },
  { state: "HI", zone: "Pacific/Honolulu", area: "808" },
  { state: "AK", zone: "America/Anchorage", area: "907" },
  { state: null, zone: null, area: "646" },
];

/**
 * Who of a population of `n` may not receive a campaign, by the campaigns contract's reason:
 * customer i (from 0) by `i % 100`: 0–3 consent unknown, 4–6 opted out, 7 no number,
 * 8 an invalid number, 9 a landline.
 */
export function planted(n: number): {
  no_consent: number;
  opted_out: number;
  invalid_phone: number;
} {
  const share = (from: number, to: number) => {
    let count = 0;
    for (let r = from; r <= to; r++) count += r < n % 100 ? 1 : 0;
    return Math.floor(n / 100) * (to - from + 1) + count;
  };
  return { no_consent: share(0, 3), opted_out: share(4, 6), invalid_phone: share(7, 9) };
}

let phoneSeq = Math.floor(Math.random() * 5_000_000);

export async function scratchTenant(
  sql: postgres.Sql,
  info: StackInfo,
  label: string,
): Promise<ScratchTenant> {
  const businessId = crypto.randomUUID();
  const userId = crypto.randomUUID();
  const email = `bench-${userId.slice(0, 8)}@bench.test`;
  await sql`insert into public.businesses (id, name) values (${businessId}, ${`bench: ${label}`})`;
  // A business sends SMS only with a help contact (send-sms: help_contact_missing).
  await sql`update public.businesses set sms_help_contact = 'help@bench.test'
             where id = ${businessId}`;
  // The per-business daily quota (1,000 by default) would stop a benchmark half-way.
  const [{ quota }] = await sql<{ quota: boolean }[]>`
    select exists (select 1 from information_schema.columns
                    where table_schema = 'public' and table_name = 'businesses'
                      and column_name = 'sms_daily_quota') as quota`;
  if (quota) {
    await sql`update public.businesses set sms_daily_quota = 1000000 where id = ${businessId}`;
  }
  await sql`
    insert into auth.users (id, email, raw_app_meta_data, raw_user_meta_data, email_confirmed_at)
    values (${userId}, ${email}, '{"provider": "email"}', '{"name": "Bench"}', now())`;
  await sql`
    insert into public.business_members (business_id, user_id, role)
    values (${businessId}, ${userId}, 'owner')`;
  const keys = await loadOrCreateKeys(join(info.stateDir, "jwt-keys.json"));
  const token = await mintUserToken(keys, { sub: userId, email }, {
    issuer: `${info.apiUrl}/auth/v1`,
    expiresIn: 6 * 3600,
    mode: info.authMode,
  });
  return {
    businessId,
    userId,
    token,
    async customers(n) {
      const zone = zoneAtLocalHour(13);
      const phones = Array.from({ length: n }, () => {
        phoneSeq = (phoneSeq + 1) % 10_000_000;
        // 212 (New York), exchange 7xx-9xx: the tests number from 2xx-6xx (tests/support/sms.ts)
        // on the stack whose quick forms `npm test` runs.
        return `+1212${String(7_000_000 + (phoneSeq % 3_000_000)).padStart(7, "0")}`;
      });
      return await sql<{ id: string; phone: string }[]>`
        insert into public.customers (business_id, name, phone, phone_status, sms_consent_status,
                                      sms_consent_at, time_zone, us_state)
        select ${businessId}, 'Bench ' || p.n, p.phone, 'valid', 'opted_in', now(), ${zone}, 'NY'
          from unnest(${phones}::text[]) with ordinality as p (phone, n)
        returning id, phone`;
    },
    async population(n, options = {}) {
      const base = phoneSeq;
      phoneSeq = (phoneSeq + n) % 10_000_000;
      const profiles = options.ready
        ? { states: ["NY"], zones: [zoneAtLocalHour(13)], areas: ["212"] }
        : {
          states: PROFILES.map((p) => p.state),
          zones: PROFILES.map((p) => p.zone),
          areas: PROFILES.map((p) => p.area),
        };
      const ready = options.ready === true;
      // Set-based: the consent trigger (customers_consent_guard) would take one advisory lock
      // per row, and 100,000 of them overflow the lock table of one transaction. For a number
      // never seen before it records an 'import' event per given status and keeps the status
      // written; the same here, in two statements, with the trigger stood aside as the consent
      // RPCs stand it aside (sms.consent_change_by_rpc).
      const rows = await sql.begin(async (tx) => {
        await tx`select set_config('sms.consent_change_by_rpc', 'on', true)`;
        const inserted = await tx<{ id: string }[]>`
          with p as (
            select i, (i % ${profiles.areas.length}) + 1 as k,
                   case when ${ready}::boolean then 99 else i % 100 end as r
              from generate_series(0, ${n - 1}::integer) as i
          )
          insert into public.customers (business_id, name, phone, phone_status,
                                        sms_consent_status, sms_consent_at, sms_opted_out_at,
                                        time_zone, us_state)
          select ${businessId}, 'Bench ' || p.i,
                 case when p.r = 7 then null
                      else '+1' || (${profiles.areas}::text[])[p.k]
                           || (7000000 + (${base}::integer + p.i) % 3000000)::text end,
                 case p.r when 8 then 'invalid' when 9 then 'landline' else 'valid' end,
                 case when p.r < 4 then 'unknown' when p.r < 7 then 'opted_out'
                      else 'opted_in' end,
                 case when p.r >= 7 then now() end,
                 case when p.r between 4 and 6 then now() end,
                 (${profiles.zones}::text[])[p.k], (${profiles.states}::text[])[p.k]
            from p
           order by p.i
          returning id`;
        await tx`
          insert into public.sms_consent_events
            (business_id, customer_id, phone, to_status, source, method, details, occurred_at)
          select c.business_id, c.id, c.phone, c.sms_consent_status, 'import',
                 case when c.sms_consent_status = 'opted_in' then 'import' end,
                 '{"via": "insert on customers"}'::jsonb, now()
            from public.customers c
           where c.business_id = ${businessId} and c.sms_consent_status <> 'unknown'`;
        return inserted;
      });
      return rows.map((r) => r.id);
    },
    async drop() {
      await sql`delete from public.businesses where id = ${businessId}`;
      await sql`delete from auth.users where id = ${userId}`;
    },
  };
}
