-- SMS consent and its audit.
--
-- sms_consent_events is the append-only record of every change of a customer's SMS consent:
-- from, to, source (keyword, api, import, provider_error), evidence (the message sid, the keyword,
-- the acting user, the provider error code) and time. Members read their business's events (the
-- evidence of each opt-in and opt-out). sms.apply_consent_change() changes the customer and
-- records the event in one transaction; an opt-out also cancels the customer's pending retries
-- there. Changes written straight to customers (the app's own forms, imports) are recorded by a
-- trigger with the same effects, so no path changes consent unaudited.

-- =================================================================================================
-- sms_consent_events
-- =================================================================================================

create table public.sms_consent_events (
  id bigint generated always as identity primary key,
  business_id uuid not null references public.businesses (id) on delete cascade,
  customer_id uuid not null references public.customers (id) on delete cascade,
  -- Null when the customer was created with this status.
  from_status text check (from_status in ('unknown', 'opted_in', 'opted_out')),
  to_status text not null check (to_status in ('unknown', 'opted_in', 'opted_out')),
  source text not null check (source in ('keyword', 'api', 'import', 'provider_error')),
  -- Evidence. acting_user_id has no foreign key on purpose: the evidence outlives the account.
  message_sid text check (char_length(message_sid) between 2 and 64),
  keyword text check (char_length(keyword) between 1 and 160),
  acting_user_id uuid,
  error_code integer,
  details jsonb not null default '{}'::jsonb check (jsonb_typeof(details) = 'object'),
  occurred_at timestamptz not null default now(),
  created_at timestamptz not null default now(),
  constraint sms_consent_events_keyword_evidence check (source <> 'keyword' or keyword is not null),
  constraint sms_consent_events_provider_evidence
    check (source <> 'provider_error' or error_code is not null or message_sid is not null),
  constraint sms_consent_events_api_evidence check (source <> 'api' or acting_user_id is not null)
);
comment on table public.sms_consent_events is
  'Append-only audit of every SMS consent change, with its evidence.';

create index sms_consent_events_customer_id_idx
  on public.sms_consent_events (customer_id, occurred_at desc);
create index sms_consent_events_business_id_idx
  on public.sms_consent_events (business_id, occurred_at desc);

create function sms.consent_events_append_only()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  raise exception 'sms_consent_events is append-only' using errcode = '42501';
end
$$;
create trigger sms_consent_events_append_only
  before update on public.sms_consent_events
  for each row execute function sms.consent_events_append_only();

-- Members read their business's events; nobody writes them but the functions below (their owner),
-- not even service_role. Deletes happen only by cascade, with the customer.
alter table public.sms_consent_events enable row level security;
revoke all on public.sms_consent_events from anon, authenticated, service_role;
grant select on public.sms_consent_events to authenticated, service_role;
revoke all on sequence public.sms_consent_events_id_seq from anon, authenticated, service_role;

create policy "members read sms consent events" on public.sms_consent_events
  for select to authenticated
  using (sms.is_member(business_id, (select auth.uid())));

-- =================================================================================================
-- An opt-out cancels what is waiting
-- =================================================================================================

-- Cancels a customer's pending retries and their deferred send logs. A row a worker holds is left
-- to the worker, which re-checks consent before sending.
create function sms.cancel_pending_retries(p_customer_id uuid, p_reason text)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row record;
  v_count integer := 0;
begin
  for v_row in
    update sms.retry_queue q
       set status = 'cancelled', last_error = p_reason, finished_at = now(), updated_at = now()
     where q.customer_id = p_customer_id and q.status = 'pending'
    returning q.send_log_id
  loop
    perform sms.end_send_log(v_row.send_log_id, 'canceled', p_reason, null);
    v_count := v_count + 1;
  end loop;
  return v_count;
end
$$;

-- =================================================================================================
-- The consent change
-- =================================================================================================

-- Applies a consent change and records it, atomically. Always records an event, also when the
-- status does not change (a second STOP is evidence too). Opting out cancels every pending retry
-- of the customer in the same transaction. Timestamps: opting in sets sms_consent_at and clears
-- sms_opted_out_at; opting out sets sms_opted_out_at.
-- Errors: customer_not_found (also when p_acting_user is not a member), 22023 for bad input,
-- 23514 when the source's evidence is missing.
create function sms.apply_consent_change(
  p_customer_id uuid,
  p_to_status text,
  p_source text,
  p_message_sid text default null,
  p_keyword text default null,
  p_acting_user uuid default null,
  p_error_code integer default null,
  p_details jsonb default '{}'::jsonb,
  p_occurred_at timestamptz default null
)
returns table (
  event_id bigint,
  from_status text,
  to_status text,
  changed boolean,
  cancelled_retries integer
)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_customer public.customers;
  v_at timestamptz := coalesce(p_occurred_at, now());
  v_event_id bigint;
  v_cancelled integer := 0;
begin
  if p_to_status is null or p_to_status not in ('unknown', 'opted_in', 'opted_out') then
    raise exception 'p_to_status must be unknown, opted_in or opted_out' using errcode = '22023';
  end if;
  if p_source is null or p_source not in ('keyword', 'api', 'import', 'provider_error') then
    raise exception 'p_source must be keyword, api, import or provider_error'
      using errcode = '22023';
  end if;
  select c.* into v_customer from public.customers c where c.id = p_customer_id for update;
  if not found then
    raise exception 'customer_not_found' using errcode = 'P0002';
  end if;
  if p_acting_user is not null and not sms.is_member(v_customer.business_id, p_acting_user) then
    raise exception 'customer_not_found'
      using errcode = 'P0002', detail = 'the acting user is not a member of this business';
  end if;

  if v_customer.sms_consent_status is distinct from p_to_status then
    -- The audit trigger on customers skips this update: the event is written below, with the
    -- evidence.
    perform set_config('sms.consent_change_by_rpc', 'on', true);
    update public.customers c
       set sms_consent_status = p_to_status,
           sms_consent_at = case when p_to_status = 'opted_in' then v_at else c.sms_consent_at end,
           sms_opted_out_at = case p_to_status when 'opted_out' then v_at
                                               when 'opted_in' then null
                                               else c.sms_opted_out_at end,
           updated_at = now()
     where c.id = v_customer.id;
    perform set_config('sms.consent_change_by_rpc', 'off', true);
  end if;

  insert into public.sms_consent_events as e
    (business_id, customer_id, from_status, to_status, source, message_sid, keyword,
     acting_user_id, error_code, details, occurred_at)
  values (v_customer.business_id, v_customer.id, v_customer.sms_consent_status, p_to_status,
          p_source, p_message_sid, p_keyword, p_acting_user, p_error_code,
          coalesce(p_details, '{}'::jsonb), v_at)
  returning e.id into v_event_id;

  if p_to_status = 'opted_out' then
    v_cancelled := sms.cancel_pending_retries(v_customer.id, 'opted_out');
  end if;

  event_id := v_event_id;
  from_status := v_customer.sms_consent_status;
  to_status := p_to_status;
  changed := v_customer.sms_consent_status is distinct from p_to_status;
  cancelled_retries := v_cancelled;
  return next;
end
$$;

-- =================================================================================================
-- Direct writes to customers
-- =================================================================================================

-- A member's own form (source 'api', the acting user from the JWT) or an import / system write
-- (no user: source 'import'). Same effects as the RPC: an event, and an opt-out cancels pending
-- retries.
create function sms.customers_consent_audit()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_from text;
begin
  if coalesce(current_setting('sms.consent_change_by_rpc', true), '') = 'on' then
    return null;
  end if;
  if tg_op = 'UPDATE' then
    if new.sms_consent_status is not distinct from old.sms_consent_status then
      return null;
    end if;
    v_from := old.sms_consent_status;
  elsif new.sms_consent_status = 'unknown' then
    return null;
  end if;
  insert into public.sms_consent_events
    (business_id, customer_id, from_status, to_status, source, acting_user_id, details)
  values (new.business_id, new.id, v_from, new.sms_consent_status,
          case when v_user is null then 'import' else 'api' end, v_user,
          jsonb_build_object('via', lower(tg_op) || ' on customers'));
  if new.sms_consent_status = 'opted_out' then
    perform sms.cancel_pending_retries(new.id, 'opted_out');
  end if;
  return null;
end
$$;

create trigger customers_sms_consent_audit
  after insert or update of sms_consent_status on public.customers
  for each row execute function sms.customers_consent_audit();

-- =================================================================================================
-- Grants (everything else here is its owner's)
-- =================================================================================================

grant execute on function
  sms.apply_consent_change(uuid, text, text, text, text, uuid, integer, jsonb, timestamptz)
  to service_role;
