-- Base schema as the product had it before SMS: businesses, members, customers, email send logs
-- and scheduled sends. Access is decided by RLS: a member reaches only their business's rows.
--
-- It applies to both kinds of project: an empty one (local development, a new app), where it
-- creates everything, and the app's own database, which already has these tables (phase 20:
-- customers with phone_status and sms_consent_status, email-only send_logs with a text
-- provider_message_id). There it creates only what is missing and changes nothing that exists:
-- tables, indexes and the view "if not exists", the columns the SMS channel reads added when
-- absent, policies of these names replaced by the same definitions.

create table if not exists public.businesses (
  id uuid primary key default gen_random_uuid(),
  name text not null check (length(name) between 1 and 200),
  time_zone text not null default 'America/New_York',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on column public.businesses.time_zone is 'IANA zone used when a customer has none';

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
  status text not null default 'queued'
    check (status in ('queued', 'sent', 'delivered', 'bounced', 'failed')),
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

-- Row-level security ---------------------------------------------------------------------------

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
  using (id in (select bm.business_id from public.business_members bm
                where bm.user_id = (select auth.uid())));

drop policy if exists "owners update their business" on public.businesses;
create policy "owners update their business" on public.businesses
  for update to authenticated
  using (id in (select bm.business_id from public.business_members bm
                where bm.user_id = (select auth.uid()) and bm.role in ('owner', 'admin')))
  with check (id in (select bm.business_id from public.business_members bm
                     where bm.user_id = (select auth.uid()) and bm.role in ('owner', 'admin')));

drop policy if exists "members read customers" on public.customers;
create policy "members read customers" on public.customers
  for select to authenticated
  using (business_id in (select bm.business_id from public.business_members bm
                         where bm.user_id = (select auth.uid())));
drop policy if exists "members add customers" on public.customers;
create policy "members add customers" on public.customers
  for insert to authenticated
  with check (business_id in (select bm.business_id from public.business_members bm
                              where bm.user_id = (select auth.uid())));
drop policy if exists "members change customers" on public.customers;
create policy "members change customers" on public.customers
  for update to authenticated
  using (business_id in (select bm.business_id from public.business_members bm
                         where bm.user_id = (select auth.uid())))
  with check (business_id in (select bm.business_id from public.business_members bm
                              where bm.user_id = (select auth.uid())));
drop policy if exists "members delete customers" on public.customers;
create policy "members delete customers" on public.customers
  for delete to authenticated
  using (business_id in (select bm.business_id from public.business_members bm
                         where bm.user_id = (select auth.uid())));

drop policy if exists "members read send logs" on public.send_logs;
create policy "members read send logs" on public.send_logs
  for select to authenticated
  using (business_id in (select bm.business_id from public.business_members bm
                         where bm.user_id = (select auth.uid())));
drop policy if exists "members add send logs" on public.send_logs;
create policy "members add send logs" on public.send_logs
  for insert to authenticated
  with check (business_id in (select bm.business_id from public.business_members bm
                              where bm.user_id = (select auth.uid())));
drop policy if exists "members change send logs" on public.send_logs;
create policy "members change send logs" on public.send_logs
  for update to authenticated
  using (business_id in (select bm.business_id from public.business_members bm
                         where bm.user_id = (select auth.uid())))
  with check (business_id in (select bm.business_id from public.business_members bm
                              where bm.user_id = (select auth.uid())));

drop policy if exists "members read scheduled sends" on public.scheduled_sends;
create policy "members read scheduled sends" on public.scheduled_sends
  for select to authenticated
  using (business_id in (select bm.business_id from public.business_members bm
                         where bm.user_id = (select auth.uid())));
drop policy if exists "members schedule sends" on public.scheduled_sends;
create policy "members schedule sends" on public.scheduled_sends
  for insert to authenticated
  with check (business_id in (select bm.business_id from public.business_members bm
                              where bm.user_id = (select auth.uid())));
drop policy if exists "members change scheduled sends" on public.scheduled_sends;
create policy "members change scheduled sends" on public.scheduled_sends
  for update to authenticated
  using (business_id in (select bm.business_id from public.business_members bm
                         where bm.user_id = (select auth.uid())))
  with check (business_id in (select bm.business_id from public.business_members bm
                              where bm.user_id = (select auth.uid())));
drop policy if exists "members delete scheduled sends" on public.scheduled_sends;
create policy "members delete scheduled sends" on public.scheduled_sends
  for delete to authenticated
  using (business_id in (select bm.business_id from public.business_members bm
                         where bm.user_id = (select auth.uid())));

-- Claiming due scheduled sends ------------------------------------------------------------------

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

revoke execute on function public.claim_due_scheduled_sends(integer, text)
  from public, anon, authenticated;
grant execute on function public.claim_due_scheduled_sends(integer, text) to service_role;
