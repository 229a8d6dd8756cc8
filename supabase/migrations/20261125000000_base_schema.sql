-- Base schema: the app's own tables (businesses, members, customers, email send logs, scheduled
-- sends) with what the SMS channel adds to them, the private schema `sms` with its privilege
-- defaults, and the one membership rule, sms.is_member(), behind every policy. Access is decided
-- by RLS: a member reaches only their business's rows.
--
-- It applies to both kinds of project: an empty one (local development, a new app), where it
-- creates everything, and the app's own database, which already has these tables (phase 20:
-- customers with phone_status and sms_consent_status, email-only send_logs with a text
-- provider_message_id). There it creates only what is missing and changes nothing that exists:
-- tables, indexes and the view "if not exists", the columns the SMS channel reads added when
-- absent, policies of these names replaced by the same definitions. send_logs keeps the shape
-- phase 20 gave it here; the next migration (send logs and message events) turns it into the
-- two-channel log.
--
-- The migrations, in order (each object is created in exactly one of them):
--   base_schema     this file
--   send_logs       SMS send logs, message events, the forward-only status rule
--   retry_queue     the retry queue, process-retries' pacing and context, heartbeats, cron
--   consent         consent events, the consent change, the audit of direct writes
--   send_path       idempotency keys, the daily quota, send-sms's two calls, provider errors
--   inbound         inbound replies (STOP, START, HELP, free text)
-- Until the first release is recorded in CHANGELOG.md, a fix goes into the file that owns the
-- object; after it, migrations are append-only.

-- =================================================================================================
-- The private schema and who may execute what
-- =================================================================================================

-- `sms` holds what only the Edge Functions (postgres.js over SUPABASE_DB_URL, not PostgREST) and
-- cron use: the queue, idempotency keys, counters, heartbeats and every RPC. PostgREST does not
-- expose it (config.toml [api] schemas), so nothing in it is reachable from a browser whatever
-- its grants. `public` keeps what a signed-in member reads through supabase-js, under RLS.
create schema if not exists sms;
comment on schema sms is
  'SMS channel internals: used by the Edge Functions and cron, never exposed through the API.';

-- service_role: the functions' service work (the RPCs it is granted below, in each file).
-- authenticated: only sms.is_member(), which every policy calls as the signed-in user.
grant usage on schema sms to service_role, authenticated;

-- A function is executable by nobody but its owner until a grant says otherwise. Postgres grants
-- EXECUTE to PUBLIC on every new function (a global default, which a per-schema default cannot
-- take back), and Supabase adds anon, authenticated and service_role in public; both are revoked
-- here, once, for the functions the role applying migrations creates from now on, in every
-- schema. Each file then grants what each role needs, next to the functions. service_role keeps
-- the platform's default in public; tables keep the platform's defaults in public (each SMS table
-- there states its grants) and `sms` has none at all.
alter default privileges revoke execute on functions from public;
alter default privileges in schema public revoke execute on functions from anon, authenticated;

-- =================================================================================================
-- Tables
-- =================================================================================================

create table if not exists public.businesses (
  id uuid primary key default gen_random_uuid(),
  name text not null check (length(name) between 1 and 200),
  time_zone text not null default 'America/New_York',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on column public.businesses.time_zone is 'IANA zone used when a customer has none';

-- What the SMS channel keeps per business.
alter table public.businesses
  add column if not exists sms_daily_quota integer
    check (sms_daily_quota is null or sms_daily_quota >= 0),
  -- A phone number, an email address or a web address, in GSM-7 characters and short enough to
  -- go whole into the one-segment answer to HELP (twilio-webhook replies.ts): a business without
  -- one cannot send SMS (send-sms: help_contact_missing).
  add column if not exists sms_help_contact text
    constraint businesses_sms_help_contact_check check (
      char_length(sms_help_contact) between 3 and 60
      and (
        -- email
        sms_help_contact ~ '^[A-Za-z0-9.!#$%&''*+/=?_-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$'
        -- web address (scheme optional)
        or sms_help_contact ~* '^(https?://)?[a-z0-9-]+(\.[a-z0-9-]+)+(:[0-9]{1,5})?(/[A-Za-z0-9._%/?=&#+:@!$,;*()-]*)?$'
        -- phone: digits with the usual separators, 7 to 15 digits
        or (sms_help_contact ~ '^\+?[0-9(][0-9 ().-]*[0-9]$'
            and char_length(regexp_replace(sms_help_contact, '[^0-9]', '', 'g')) between 7 and 15))),
  add column if not exists sms_sender_alert text,
  add column if not exists sms_sender_alert_code integer,
  add column if not exists sms_sender_alert_at timestamptz,
  add column if not exists sms_allowed_countries text[] not null
    default '{US,PR,VI,GU,AS,MP}'
    -- The array's text form quotes an element with a comma or space and writes NULL for a null
    -- one, so this admits exactly a list of upper-case alpha-2 codes.
    check (sms_allowed_countries::text ~ '^\{([A-Z]{2}(,[A-Z]{2})*)?\}$');
comment on column public.businesses.sms_daily_quota is
  'SMS a business may send per rolling 24 h; null: the deployment default (SMS_DAILY_QUOTA)';
comment on column public.businesses.sms_help_contact is
  'How recipients reach the business (phone, email or URL); named in the answer to HELP';
comment on column public.businesses.sms_allowed_countries is
  'ISO 3166-1 alpha-2 countries the business may text (like Twilio''s geo permissions): default '
  'the US and its territories; send-sms refuses other numbers (country_not_permitted), '
  'process-retries cancels them';
comment on column public.businesses.sms_sender_alert is
  'Set when Twilio refuses this business''s sends for an account-level reason (e.g. 30034: '
  'sender not registered for A2P 10DLC); cleared by a person once fixed';

create table if not exists public.business_members (
  business_id uuid not null references public.businesses (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  role text not null default 'member' check (role in ('owner', 'admin', 'member')),
  created_at timestamptz not null default now(),
  primary key (business_id, user_id)
);
create index if not exists business_members_user_id_idx on public.business_members (user_id);

create table if not exists public.customers (
  id uuid primary key default gen_random_uuid(),
  business_id uuid not null references public.businesses (id) on delete cascade,
  name text not null default '',
  email text,
  phone text check (phone ~ '^\+[1-9][0-9]{7,14}$'),
  phone_status text not null default 'unknown'
    check (phone_status in ('unknown', 'valid', 'invalid', 'landline')),
  sms_consent_status text not null default 'unknown'
    check (sms_consent_status in ('unknown', 'opted_in', 'opted_out')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
-- What the SMS channel reads besides phase 20's phone_status and sms_consent_status.
alter table public.customers
  add column if not exists sms_consent_at timestamptz,
  add column if not exists sms_opted_out_at timestamptz,
  add column if not exists time_zone text,
  add column if not exists us_state text check (us_state ~ '^[A-Z]{2}$');
comment on column public.customers.phone is 'E.164';
comment on column public.customers.time_zone is 'IANA zone when known; else derived from the area code';
create index if not exists customers_business_id_idx on public.customers (business_id);
create index if not exists customers_phone_idx on public.customers (phone);

-- Older code reads contacts; customers replaced them. security_invoker keeps RLS in force.
do $$
begin
  if to_regclass('public.contacts') is null then
    create view public.contacts with (security_invoker = true) as
      select id, business_id, name, email, phone, created_at, updated_at
      from public.customers;
  end if;
end
$$;

create table if not exists public.send_logs (
  id uuid primary key default gen_random_uuid(),
  business_id uuid not null references public.businesses (id) on delete cascade,
  contact_id uuid references public.customers (id) on delete set null,
  -- Checked by send_logs_status_check, which comes with the channel (send_logs migration).
  status text not null default 'queued',
  provider_message_id text,
  subject text,
  error text,
  sent_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists send_logs_business_id_idx on public.send_logs (business_id, created_at desc);
create index if not exists send_logs_contact_id_idx on public.send_logs (contact_id);

create table if not exists public.scheduled_sends (
  id uuid primary key default gen_random_uuid(),
  business_id uuid not null references public.businesses (id) on delete cascade,
  customer_id uuid not null references public.customers (id) on delete cascade,
  payload jsonb not null default '{}'::jsonb,
  scheduled_for timestamptz not null,
  status text not null default 'pending'
    check (status in ('pending', 'processing', 'sent', 'failed', 'cancelled')),
  attempts integer not null default 0,
  locked_at timestamptz,
  locked_by text,
  last_error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists scheduled_sends_business_id_idx on public.scheduled_sends (business_id);
create index if not exists scheduled_sends_customer_id_idx on public.scheduled_sends (customer_id);
create index if not exists scheduled_sends_due_idx on public.scheduled_sends (scheduled_for)
  where status = 'pending';

-- =================================================================================================
-- Membership: the one rule behind every policy and every membership check
-- =================================================================================================

-- Whether user_id is a member of the business (with one of `roles`, when given). Policies pass
-- (select auth.uid()), evaluated once per statement; the RPCs pass the acting user send-sms
-- verified. Security definer, so a policy that calls it does not go through business_members'
-- own RLS; plpgsql, so its query is planned once per session (a security definer sql function
-- is never inlined and is planned again in every statement that calls it). Executable by
-- authenticated because policies run as the signed-in user; sms is not exposed, so nobody can
-- call it through the API.
create function sms.is_member(business_id uuid, user_id uuid, roles text[] default null)
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return exists (
    select 1 from public.business_members bm
     where bm.business_id = is_member.business_id
       and bm.user_id = is_member.user_id
       and (is_member.roles is null or bm.role = any (is_member.roles)));
end
$$;
comment on function sms.is_member(uuid, uuid, text[]) is
  'Whether user_id is a member of the business (with one of roles, when given); every policy and RPC membership check.';
grant execute on function sms.is_member(uuid, uuid, text[]) to authenticated;

-- =================================================================================================
-- Row-level security
-- =================================================================================================

alter table public.businesses enable row level security;
alter table public.business_members enable row level security;
alter table public.customers enable row level security;
alter table public.send_logs enable row level security;
alter table public.scheduled_sends enable row level security;

-- anon has no business here at all; RLS would hide rows anyway, this also hides the tables.
revoke all on public.businesses, public.business_members, public.customers, public.contacts,
  public.send_logs, public.scheduled_sends from anon;

drop policy if exists "members read their memberships" on public.business_members;
create policy "members read their memberships" on public.business_members
  for select to authenticated
  using (user_id = (select auth.uid()));

drop policy if exists "members read their business" on public.businesses;
create policy "members read their business" on public.businesses
  for select to authenticated
  using (sms.is_member(id, (select auth.uid())));

drop policy if exists "owners update their business" on public.businesses;
create policy "owners update their business" on public.businesses
  for update to authenticated
  using (sms.is_member(id, (select auth.uid()), array['owner', 'admin']))
  with check (sms.is_member(id, (select auth.uid()), array['owner', 'admin']));

drop policy if exists "members read customers" on public.customers;
create policy "members read customers" on public.customers
  for select to authenticated
  using (sms.is_member(business_id, (select auth.uid())));
drop policy if exists "members add customers" on public.customers;
create policy "members add customers" on public.customers
  for insert to authenticated
  with check (sms.is_member(business_id, (select auth.uid())));
drop policy if exists "members change customers" on public.customers;
create policy "members change customers" on public.customers
  for update to authenticated
  using (sms.is_member(business_id, (select auth.uid())))
  with check (sms.is_member(business_id, (select auth.uid())));
drop policy if exists "members delete customers" on public.customers;
create policy "members delete customers" on public.customers
  for delete to authenticated
  using (sms.is_member(business_id, (select auth.uid())));

-- Members read every send log of their business; the policies that let them write email logs
-- (and only email logs) come with the channel column, in the send_logs migration.
drop policy if exists "members read send logs" on public.send_logs;
create policy "members read send logs" on public.send_logs
  for select to authenticated
  using (sms.is_member(business_id, (select auth.uid())));

drop policy if exists "members read scheduled sends" on public.scheduled_sends;
create policy "members read scheduled sends" on public.scheduled_sends
  for select to authenticated
  using (sms.is_member(business_id, (select auth.uid())));
drop policy if exists "members schedule sends" on public.scheduled_sends;
create policy "members schedule sends" on public.scheduled_sends
  for insert to authenticated
  with check (sms.is_member(business_id, (select auth.uid())));
drop policy if exists "members change scheduled sends" on public.scheduled_sends;
create policy "members change scheduled sends" on public.scheduled_sends
  for update to authenticated
  using (sms.is_member(business_id, (select auth.uid())))
  with check (sms.is_member(business_id, (select auth.uid())));
drop policy if exists "members delete scheduled sends" on public.scheduled_sends;
create policy "members delete scheduled sends" on public.scheduled_sends
  for delete to authenticated
  using (sms.is_member(business_id, (select auth.uid())));

-- =================================================================================================
-- Claiming due scheduled sends (the app's email scheduler)
-- =================================================================================================

-- Workers claim a batch atomically: SKIP LOCKED lets concurrent workers take disjoint rows.
create or replace function public.claim_due_scheduled_sends(batch_size integer, worker text)
returns setof public.scheduled_sends
language plpgsql
security definer
set search_path = ''
as $$
begin
  if batch_size is null or batch_size < 1 or batch_size > 1000 then
    raise exception 'batch_size must be between 1 and 1000' using errcode = '22023';
  end if;
  return query
  update public.scheduled_sends s
     set status = 'processing',
         attempts = s.attempts + 1,
         locked_at = now(),
         locked_by = worker,
         updated_at = now()
   where s.id in (
     select d.id from public.scheduled_sends d
      where d.status = 'pending' and d.scheduled_for <= now()
      order by d.scheduled_for
      limit batch_size
      for update skip locked)
  returning s.*;
end
$$;
-- Explicit, not left to the defaults: on the app's own database the function may predate them.
revoke execute on function public.claim_due_scheduled_sends(integer, text)
  from public, anon, authenticated;
grant execute on function public.claim_due_scheduled_sends(integer, text) to service_role;
