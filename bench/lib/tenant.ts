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
  drop(): Promise<void>;
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
        // 212 (New York), exchange 7xx-9xx: away from the 555 numbers the tests use.
        return `+1212${String(7_000_000 + (phoneSeq % 3_000_000)).padStart(7, "0")}`;
      });
      return await sql<{ id: string; phone: string }[]>`
        insert into public.customers (business_id, name, phone, phone_status, sms_consent_status,
                                      sms_consent_at, time_zone, us_state)
        select ${businessId}, 'Bench ' || p.n, p.phone, 'valid', 'opted_in', now(), ${zone}, 'NY'
          from unnest(${phones}::text[]) with ordinality as p (phone, n)
        returning id, phone`;
    },
    async drop() {
      await sql`delete from public.businesses where id = ${businessId}`;
      await sql`delete from auth.users where id = ${userId}`;
    },
  };
}
