-- SMS consent: kept per phone number, with its evidence.
--
-- Consent belongs to the number (E.164), per business; an opt-out the handset sent to the shared
-- sender (a STOP keyword) holds for the number in every business
-- that sends from it, which is every business of the project (one sender, see the inbound
-- migration). The number's state is derived from sms_consent_events by sms.number_consent():
-- * the latest event of (business, number), phone changes aside;
-- * unless the handset's latest word to the shared sender (a STOP or START keyword event, in any
--   business) is an opt-out at least as recent: then the number is opted out, also in a business
--   that had no record of it then and in records created later. (Twilio's 21610 is recorded in
--   the business whose send it refused; any other business's send gets its own 21610.)
-- customers.sms_consent_status (and sms_consent_at / sms_opted_out_at) is kept in step with the
-- number's state in the transaction that changes it (docs/decisions.md, "Compliance depth:
-- consent per number (issue 19)"):
-- * sms.apply_number_consent() records an event and updates every record of the business with
--   that number; an opt-out cancels their pending retries there;
-- * a trigger on customers makes direct writes (the app's forms, imports) follow the same rules:
--   a new or re-created record with an opted-out number starts opted out; a direct write cannot
--   lift an opt-out (only the consumer's START, or an opt-in recorded with its evidence through
--   sms.record_opt_in); a phone change resets consent to the new number's state ('unknown' for a
--   number the business has no consent record of) and phone_status to 'unknown', recorded as a
--   'phone_change' event; any other change is recorded ('api' for a member, 'import' without a
--   user) and applies to the number.
--
-- Evidence is kept: events have no foreign key to customers or businesses (they outlive both),
-- carry the number they apply to, and an opt-in carries how it was captured (method, the consent
-- language shown, source URL or keyword, IP and user agent when given, the actor, the time). They
-- are deleted only by sms.prune_consent_events(), past the retention of sms.consent_retention
-- (default 5 years, 10 for opt-outs). Members export a number's history with
-- public.export_sms_consent_history() (docs/compliance.md, "Consent evidence").

-- =================================================================================================
-- sms_consent_events
-- =================================================================================================

create table public.sms_consent_events (
  id bigint generated always as identity primary key,
  -- No foreign keys: the evidence outlives the customer, the business and the acting user's
  -- account. Members still read it by business membership (RLS below).
  business_id uuid not null,
  -- The record the change was made through, when there was one (it may since be deleted).
  customer_id uuid,
  -- The number the event applies to (null only for a record without a number).
  phone text check (phone ~ '^\+[1-9][0-9]{7,14}$'),
  -- Null when the customer was created with this status.
  from_status text check (from_status in ('unknown', 'opted_in', 'opted_out')),
  to_status text not null check (to_status in ('unknown', 'opted_in', 'opted_out')),
  -- keyword: the handset's STOP/START; provider_error: Twilio's refusal (21610: the handset's
  -- STOP to Twilio); api: a member; import: a write without a user; consent_capture: an opt-in
  -- recorded with its evidence (sms.record_opt_in); phone_change: the record's number changed
  -- (its consent was reset to the new number's state; not a change of any number's consent).
  source text not null
    check (source in ('keyword', 'api', 'import', 'provider_error', 'consent_capture',
                      'phone_change')),
  -- How an opt-in was captured (CTIA 5.1.2): web_form, keyword, verbal, import, written.
  method text check (method in ('web_form', 'keyword', 'verbal', 'import', 'written')),
  -- The consent language shown to (or read to) the consumer, verbatim.
  consent_language text check (char_length(consent_language) between 1 and 4000),
  -- Where consent was given: the form's URL, the keyword's short code/number, the import file.
  source_url text check (char_length(source_url) between 1 and 2000),
  ip_address inet,
  user_agent text check (char_length(user_agent) between 1 and 1000),
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
  constraint sms_consent_events_api_evidence check (source <> 'api' or acting_user_id is not null),
  -- An opt-in captured with evidence names how, what the consumer was shown, and where.
  constraint sms_consent_events_capture_evidence
    check (source <> 'consent_capture'
           or (to_status = 'opted_in' and phone is not null and method is not null
               and consent_language is not null
               and (source_url is not null or keyword is not null)))
);
comment on table public.sms_consent_events is
  'Append-only evidence of every SMS consent change, per number; kept after its customer and business (sms.prune_consent_events only).';
comment on column public.sms_consent_events.phone is 'E.164: the number the event applies to';

create index sms_consent_events_customer_id_idx
  on public.sms_consent_events (customer_id, occurred_at desc);
create index sms_consent_events_business_id_idx
  on public.sms_consent_events (business_id, occurred_at desc);
-- The number's state and history in a business (sms.number_consent, the export).
create index sms_consent_events_number_idx
  on public.sms_consent_events (business_id, phone, occurred_at desc, id desc);
-- The handset's own words to the shared sender (STOP, START), in any business.
create index sms_consent_events_handset_idx
  on public.sms_consent_events (phone, occurred_at desc, id desc)
  where source = 'keyword';
-- Pruning.
create index sms_consent_events_occurred_at_idx on public.sms_consent_events (occurred_at);

-- Append-only, even for the table owner; deleted only by sms.prune_consent_events().
create function sms.consent_events_append_only()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if tg_op = 'DELETE' and coalesce(current_setting('sms.consent_prune', true), '') = 'on' then
    return old;
  end if;
  raise exception 'sms_consent_events is append-only' using errcode = '42501';
end
$$;
create trigger sms_consent_events_append_only
  before update or delete on public.sms_consent_events
  for each row execute function sms.consent_events_append_only();

-- Members read their business's events (also those of customers since deleted); nobody writes
-- them but the functions below (their owner), not even service_role, which reads every event
-- (a deleted business's too: RLS does not apply to it).
alter table public.sms_consent_events enable row level security;
revoke all on public.sms_consent_events from anon, authenticated, service_role;
grant select on public.sms_consent_events to authenticated, service_role;
revoke all on sequence public.sms_consent_events_id_seq from anon, authenticated, service_role;

create policy "members read sms consent events" on public.sms_consent_events
  for select to authenticated
  using (sms.is_member(business_id, (select auth.uid())));

-- =================================================================================================
-- Retention
-- =================================================================================================

-- One row: how long events are kept. TCPA claims run four years (the floor); Virginia's SB 1339
-- requires honouring an opt-out for ten years, so opt-outs are kept at least that long.
create table sms.consent_retention (
  id boolean primary key default true check (id),
  keep_years integer not null default 5 check (keep_years between 4 and 100),
  opt_out_keep_years integer not null default 10 check (opt_out_keep_years between 10 and 100),
  updated_at timestamptz not null default now()
);
comment on table sms.consent_retention is
  'How long sms_consent_events are kept (years): opt-outs, and every other event.';
insert into sms.consent_retention (id) values (true);
alter table sms.consent_retention enable row level security;
grant select on sms.consent_retention to service_role;

-- =================================================================================================
-- The number's state
-- =================================================================================================

-- The consent state of p_phone in p_business_id (see the header): status, the event it rests on
-- (null: no event), when, and whether it is the handset's opt-out to the shared sender recorded
-- in another business.
create function sms.number_consent(p_business_id uuid, p_phone text)
returns table (status text, event_id bigint, occurred_at timestamptz, sender_wide boolean)
language plpgsql
stable
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_own public.sms_consent_events;
  v_handset public.sms_consent_events;
begin
  if p_phone is null then
    status := 'unknown';
    sender_wide := false;
    return next;
    return;
  end if;
  select e.* into v_own from public.sms_consent_events e
   where e.business_id = p_business_id and e.phone = p_phone and e.source <> 'phone_change'
   order by e.occurred_at desc, e.id desc limit 1;
  select e.* into v_handset from public.sms_consent_events e
   where e.phone = p_phone and e.source = 'keyword'
   order by e.occurred_at desc, e.id desc limit 1;
  if v_handset.id is not null and v_handset.to_status = 'opted_out'
     and (v_own.id is null
          or (v_own.occurred_at, v_own.id) <= (v_handset.occurred_at, v_handset.id)) then
    status := 'opted_out';
    event_id := v_handset.id;
    occurred_at := v_handset.occurred_at;
    sender_wide := v_handset.business_id <> p_business_id;
  elsif v_own.id is not null then
    status := v_own.to_status;
    event_id := v_own.id;
    occurred_at := v_own.occurred_at;
    sender_wide := false;
  else
    status := 'unknown';
    sender_wide := false;
  end if;
  return next;
end
$$;
comment on function sms.number_consent(uuid, text) is
  'The SMS consent state of a number in a business, and the consent event it rests on.';

-- =================================================================================================
-- An opt-out cancels what is waiting
-- =================================================================================================

-- Cancels the pending retries (and their deferred send logs) of the business's records with the
-- number, or of one record (p_customer_id, for a record without a number or whose number
-- changed). A row a worker holds is left to the worker, which re-checks consent before sending,
-- and so is a row whose message may already be at Twilio: cancelling it would mark a message
-- 'canceled' that may have been delivered; its worker looks it up first.
create function sms.cancel_pending_retries(
  p_business_id uuid,
  p_phone text,
  p_customer_id uuid,
  p_reason text
)
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
     where q.status in ('pending', 'paused') and not q.outcome_uncertain
       and (q.customer_id = p_customer_id
            or (p_phone is not null and q.customer_id in (
                  select c.id from public.customers c
                   where c.business_id = p_business_id and c.phone = p_phone)))
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

-- Records a consent event for a number in a business and brings every record of the business
-- with that number in step (p_customer_id's record alone when it has no number); an opt-out
-- cancels their pending retries. Returns the event and how many records changed. The caller has
-- checked the evidence and who may do it. p_update_self false: the trigger on customers writes
-- p_customer_id's own row (it is being written).
create function sms.apply_number_consent(
  p_business_id uuid,
  p_phone text,
  p_customer_id uuid,
  p_from_status text,
  p_to_status text,
  p_source text,
  p_at timestamptz,
  p_message_sid text default null,
  p_keyword text default null,
  p_acting_user uuid default null,
  p_error_code integer default null,
  p_details jsonb default '{}'::jsonb,
  p_method text default null,
  p_consent_language text default null,
  p_source_url text default null,
  p_ip_address inet default null,
  p_user_agent text default null,
  p_update_self boolean default true
)
returns table (event_id bigint, changed_customers integer, cancelled_retries integer)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_state record;
  v_changed integer := 0;
  v_cancelled integer := 0;
begin
  if p_phone is not null then
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(
      'sms_number_consent:' || p_business_id::text || p_phone, 0));
  end if;
  insert into public.sms_consent_events as e
    (business_id, customer_id, phone, from_status, to_status, source, method, consent_language,
     source_url, ip_address, user_agent, message_sid, keyword, acting_user_id, error_code,
     details, occurred_at)
  values (p_business_id, p_customer_id, p_phone, p_from_status, p_to_status, p_source, p_method,
          p_consent_language, p_source_url, p_ip_address, p_user_agent, p_message_sid, p_keyword,
          p_acting_user, p_error_code, coalesce(p_details, '{}'::jsonb), p_at)
  returning e.id into event_id;

  -- The number's state after this event (an opt-in after the handset's STOP that predates it
  -- stands; a business's own write never outranks a later STOP).
  select * into v_state from sms.number_consent(p_business_id, p_phone);
  if p_phone is null then
    v_state.status := p_to_status;
  end if;

  -- The trigger on customers leaves these updates alone: they are the event's own.
  perform pg_catalog.set_config('sms.consent_change_by_rpc', 'on', true);
  update public.customers c
     set sms_consent_status = v_state.status,
         sms_consent_at = case when v_state.status = 'opted_in' then p_at else c.sms_consent_at end,
         sms_opted_out_at = case v_state.status when 'opted_out' then p_at
                                                when 'opted_in' then null
                                                else c.sms_opted_out_at end,
         updated_at = now()
   where c.business_id = p_business_id
     and ((p_phone is not null and c.phone = p_phone) or c.id = p_customer_id)
     and (p_update_self or c.id is distinct from p_customer_id)
     and c.sms_consent_status is distinct from v_state.status;
  get diagnostics v_changed = row_count;
  perform pg_catalog.set_config('sms.consent_change_by_rpc', 'off', true);

  if v_state.status = 'opted_out' then
    v_cancelled := sms.cancel_pending_retries(p_business_id, p_phone, p_customer_id, 'opted_out');
  end if;
  changed_customers := v_changed;
  cancelled_retries := v_cancelled;
  return next;
end
$$;

-- Applies a consent change to a customer's number and records it, atomically. Always records an
-- event, also when the status does not change (a second STOP is evidence too). Opting out
-- cancels every pending retry of the business's records with that number in the same
-- transaction. Timestamps: opting in sets sms_consent_at and clears sms_opted_out_at; opting out
-- sets sms_opted_out_at. An opt-in that the number's state does not allow (a later STOP to the
-- shared sender) is recorded and changes nothing (changed = false).
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
  v_applied record;
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

  -- A business's own write cannot lift an opt-out: that takes the consumer (START, or
  -- sms.record_opt_in with the evidence).
  if p_to_status <> 'opted_out' and p_source in ('api', 'import')
     and (select n.status from sms.number_consent(v_customer.business_id, v_customer.phone) n)
         = 'opted_out' then
    raise exception 'consent_evidence_required' using errcode = 'P0001',
      detail = 'the number opted out; only the consumer''s START or sms.record_opt_in opts it in';
  end if;

  select * into v_applied from sms.apply_number_consent(
    p_business_id => v_customer.business_id, p_phone => v_customer.phone,
    p_customer_id => v_customer.id, p_from_status => v_customer.sms_consent_status,
    p_to_status => p_to_status, p_source => p_source, p_at => v_at,
    p_message_sid => p_message_sid, p_keyword => p_keyword, p_acting_user => p_acting_user,
    p_error_code => p_error_code, p_details => p_details,
    p_method => case when p_source = 'keyword' and p_to_status = 'opted_in' then 'keyword' end);

  event_id := v_applied.event_id;
  from_status := v_customer.sms_consent_status;
  to_status := p_to_status;
  changed := v_customer.sms_consent_status is distinct from
             (select c.sms_consent_status from public.customers c where c.id = v_customer.id);
  cancelled_retries := v_applied.cancelled_retries;
  return next;
end
$$;

-- New evidence of consent from the consumer: an opt-in with how it was captured. The only way,
-- besides the consumer's own START, to opt a number in again after an opt-out the business
-- recorded; a STOP the handset sent later than p_occurred_at still wins. Called by the app's
-- server side (the consent form's handler, the staff tool that records verbal consent) as
-- service_role; p_acting_user, when given, must be a member. Updates every record of the
-- business with that number. Errors: 22023 (bad method, missing language or source, verbal
-- consent without the staff member who took it), customer_not_found (p_customer_id of another
-- business or number, or p_acting_user not a member).
create function sms.record_opt_in(
  p_business_id uuid,
  p_phone text,
  p_method text,
  p_consent_language text,
  p_source_url text default null,
  p_keyword text default null,
  p_ip_address inet default null,
  p_user_agent text default null,
  p_acting_user uuid default null,
  p_customer_id uuid default null,
  p_occurred_at timestamptz default null,
  p_details jsonb default '{}'::jsonb
)
returns table (event_id bigint, status text, changed_customers integer)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_applied record;
  v_from text;
begin
  if p_phone is null or p_phone !~ '^\+[1-9][0-9]{7,14}$' then
    raise exception 'p_phone must be an E.164 number' using errcode = '22023';
  end if;
  if p_method is null or p_method not in ('web_form', 'keyword', 'verbal', 'import', 'written') then
    raise exception 'p_method must be web_form, keyword, verbal, import or written'
      using errcode = '22023';
  end if;
  if coalesce(btrim(p_consent_language), '') = '' then
    raise exception 'the consent language shown to the consumer is required'
      using errcode = '22023';
  end if;
  if coalesce(btrim(p_source_url), '') = '' and coalesce(btrim(p_keyword), '') = '' then
    raise exception 'where consent was given (source URL or keyword) is required'
      using errcode = '22023';
  end if;
  if p_method = 'verbal' and p_acting_user is null then
    raise exception 'verbal consent names the staff member who took it' using errcode = '22023';
  end if;
  if not exists (select 1 from public.businesses b where b.id = p_business_id)
     or (p_acting_user is not null and not sms.is_member(p_business_id, p_acting_user))
     or (p_customer_id is not null
         and not exists (select 1 from public.customers c
                          where c.id = p_customer_id and c.business_id = p_business_id
                            and c.phone = p_phone)) then
    raise exception 'customer_not_found' using errcode = 'P0002';
  end if;
  select n.status into v_from from sms.number_consent(p_business_id, p_phone) n;
  select * into v_applied from sms.apply_number_consent(
    p_business_id => p_business_id, p_phone => p_phone, p_customer_id => p_customer_id,
    p_from_status => v_from, p_to_status => 'opted_in', p_source => 'consent_capture',
    p_at => coalesce(p_occurred_at, now()), p_keyword => p_keyword,
    p_acting_user => p_acting_user, p_details => p_details, p_method => p_method,
    p_consent_language => p_consent_language, p_source_url => p_source_url,
    p_ip_address => p_ip_address, p_user_agent => p_user_agent);
  event_id := v_applied.event_id;
  select n.status into status from sms.number_consent(p_business_id, p_phone) n;
  changed_customers := v_applied.changed_customers;
  return next;
end
$$;

-- =================================================================================================
-- Direct writes to customers
-- =================================================================================================

-- A member's own form (the acting user from the JWT) or an import / system write (no user), as
-- the row is written (before insert or update of phone or consent):
-- * the number is opted out: the record is opted out, whatever was written (writing 'opted_out'
--   records the business's own opt-out, which START does not lift);
-- * the phone changed: consent becomes the new number's state, phone_status 'unknown' (unless the
--   same statement set it), recorded as a 'phone_change' event; the record's pending retries (for
--   the old number) are cancelled;
-- * a new record written as 'unknown' takes the number's state;
-- * otherwise a written status applies to the number: an event ('api' or 'import') and every
--   other record of the business with the number follows, as through the RPC.
create function sms.customers_consent_guard()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_state record;
  v_phone_changed boolean := tg_op = 'UPDATE' and new.phone is distinct from old.phone;
  v_requested text;
  v_from text;
begin
  if coalesce(current_setting('sms.consent_change_by_rpc', true), '') = 'on' then
    return new;
  end if;
  if tg_op = 'UPDATE' then
    v_from := old.sms_consent_status;
    if new.sms_consent_status is distinct from old.sms_consent_status then
      v_requested := new.sms_consent_status;
    end if;
  elsif new.sms_consent_status <> 'unknown' then
    v_requested := new.sms_consent_status;
  end if;
  if v_requested is null and not v_phone_changed and tg_op = 'UPDATE' then
    return new;
  end if;
  if new.phone is not null then
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(
      'sms_number_consent:' || new.business_id::text || new.phone, 0));
  end if;
  select * into v_state from sms.number_consent(new.business_id, new.phone);

  if v_phone_changed then
    if new.phone_status is not distinct from old.phone_status then
      new.phone_status := 'unknown';
    end if;
    perform sms.cancel_pending_retries(new.business_id, null, new.id, 'phone_changed');
  end if;

  -- (A business writing 'opted_out' for a number the handset opted out records its own opt-out:
  -- the consumer's START will not lift that one.)
  if (v_state.status = 'opted_out' and v_requested is distinct from 'opted_out')
     or v_requested is null then
    -- The number's state, not what was written.
    new.sms_consent_status := v_state.status;
    if v_state.status = 'opted_out' then
      new.sms_opted_out_at := coalesce(v_state.occurred_at, new.sms_opted_out_at, now());
    elsif v_state.status = 'opted_in' then
      new.sms_consent_at := v_state.occurred_at;
      new.sms_opted_out_at := null;
    elsif v_phone_changed then
      new.sms_consent_at := null;
    end if;
    if v_phone_changed then
      insert into public.sms_consent_events
        (business_id, customer_id, phone, from_status, to_status, source, acting_user_id,
         details)
      values (new.business_id, new.id, new.phone, v_from, new.sms_consent_status,
              'phone_change', v_user,
              jsonb_build_object('from_phone', old.phone, 'to_phone', new.phone,
                                 'from_phone_status', old.phone_status,
                                 'to_phone_status', new.phone_status,
                                 'number_event_id', v_state.event_id,
                                 'reason', 'consent was given for the previous number'));
    end if;
    return new;
  end if;

  -- A written status the number allows: it becomes the number's.
  if new.sms_consent_status = 'opted_in' then
    new.sms_consent_at := coalesce(new.sms_consent_at, now());
    new.sms_opted_out_at := null;
  elsif new.sms_consent_status = 'opted_out' then
    new.sms_opted_out_at := coalesce(new.sms_opted_out_at, now());
  end if;
  perform sms.apply_number_consent(
    p_business_id => new.business_id, p_phone => new.phone, p_customer_id => new.id,
    p_from_status => v_from, p_to_status => new.sms_consent_status,
    p_source => case when v_user is null then 'import' else 'api' end, p_at => now(),
    p_acting_user => v_user,
    p_method => case when v_user is null and new.sms_consent_status = 'opted_in'
                     then 'import' end,
    p_update_self => false,
    p_details => jsonb_build_object('via', lower(tg_op) || ' on customers')
                 || case when v_phone_changed
                         then jsonb_build_object('from_phone', old.phone) else '{}'::jsonb end);
  return new;
end
$$;

create trigger customers_sms_consent_guard
  before insert or update of phone, sms_consent_status on public.customers
  for each row execute function sms.customers_consent_guard();

-- Records that predate this migration (the app's own database): their consent becomes their
-- number's, as an import. (Empty on a new project.)
insert into public.sms_consent_events
  (business_id, customer_id, phone, to_status, source, method, occurred_at, details)
select c.business_id, c.id, c.phone, c.sms_consent_status, 'import',
       case when c.sms_consent_status = 'opted_in' then 'import' end,
       coalesce(case c.sms_consent_status when 'opted_in' then c.sms_consent_at
                                          else c.sms_opted_out_at end, c.updated_at),
       '{"via": "consent migration"}'::jsonb
  from public.customers c
 where c.sms_consent_status <> 'unknown'
 order by c.created_at, c.id;

-- =================================================================================================
-- The consent a send relied on
-- =================================================================================================

-- Every SMS send log records, as it goes out (inserted or moved to 'sending': send-sms and
-- process-retries alike), the consent event its number's state rested on then: the first part of
-- a send's compliance receipt. No foreign key: the event is kept while a record relies on it, and
-- the log may outlive it only past retention.
alter table public.send_logs add column consent_event_id bigint;
comment on column public.send_logs.consent_event_id is
  'SMS: the consent event (sms_consent_events.id) the number''s opt-in rested on when it was sent';

create function sms.send_logs_consent_receipt()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.channel = 'sms' and new.status = 'sending'
     and (tg_op = 'INSERT' or old.status is distinct from 'sending') then
    select n.event_id into new.consent_event_id
      from sms.number_consent(new.business_id, new.to_phone) n;
  end if;
  return new;
end
$$;
-- The WHEN clause is the function's first test: a campaign's 90,000 'deferred' logs do not call it.
create trigger send_logs_consent_receipt
  before insert or update of status on public.send_logs
  for each row when (new.channel = 'sms' and new.status = 'sending')
  execute function sms.send_logs_consent_receipt();

-- The rest of the receipt is what the functions decided on (send_logs.compliance_receipt, the
-- send_logs migration): send-sms writes it with the log's insert, process-retries with its
-- 'sending' mark through this function, which writes a log's receipt once: false when the log
-- is not an SMS log or already has one.
create function sms.record_send_receipt(p_send_log_id uuid, p_receipt jsonb)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
begin
  if jsonb_typeof(p_receipt) is distinct from 'object' then
    raise exception 'a compliance receipt is a JSON object' using errcode = '22023';
  end if;
  update public.send_logs l set compliance_receipt = p_receipt
   where l.id = p_send_log_id and l.channel = 'sms' and l.compliance_receipt is null;
  return found;
end
$$;
grant execute on function sms.record_send_receipt(uuid, jsonb) to service_role;

-- =================================================================================================
-- Retention: pruning
-- =================================================================================================

-- Deletes the events past retention (opt-outs: opt_out_keep_years, every other event:
-- keep_years, counted from occurred_at), except the event a number's current state rests on
-- while a record of that business still has the number. Returns how many it deleted. Daily
-- from pg_cron; p_now for tests.
create function sms.prune_consent_events(p_now timestamptz default null)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_policy sms.consent_retention;
  v_now timestamptz := coalesce(p_now, now());
  v_deleted integer;
begin
  select r.* into v_policy from sms.consent_retention r where r.id;
  perform pg_catalog.set_config('sms.consent_prune', 'on', true);
  delete from public.sms_consent_events e
   where e.occurred_at < v_now - make_interval(
           years => case when e.to_status = 'opted_out' then v_policy.opt_out_keep_years
                         else v_policy.keep_years end)
     and not exists (
       select 1 from public.customers c
        where c.business_id = e.business_id and c.phone = e.phone
          and (select n.event_id from sms.number_consent(c.business_id, c.phone) n) = e.id);
  get diagnostics v_deleted = row_count;
  perform pg_catalog.set_config('sms.consent_prune', 'off', true);
  return v_deleted;
end
$$;
comment on function sms.prune_consent_events(timestamptz) is
  'Deletes SMS consent events past sms.consent_retention (daily, pg_cron).';

select cron.schedule('prune-sms-consent-events', '17 3 * * *',
                     'select sms.prune_consent_events()');

-- =================================================================================================
-- Export: a number's consent history, as a regulator asks for it
-- =================================================================================================

-- For a member of p_business_id (the signed-in user): the number, the business, the current
-- state and the event it rests on, every event of the business for that number (oldest first)
-- with its evidence, and the records that have the number now. Null for anyone else (as for a
-- business that does not exist). The one function the frontend may call
-- (supabase.rpc('export_sms_consent_history', { p_business_id, p_phone })).
create function public.export_sms_consent_history(p_business_id uuid, p_phone text)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_business public.businesses;
  v_state record;
  v_basis jsonb;
begin
  if p_business_id is null or p_phone is null
     or not sms.is_member(p_business_id, (select auth.uid())) then
    return null;
  end if;
  select b.* into v_business from public.businesses b where b.id = p_business_id;
  select * into v_state from sms.number_consent(p_business_id, p_phone);
  -- The handset's opt-out recorded in another business: what it was, not whose.
  select jsonb_build_object('event_id', e.id, 'source', e.source, 'keyword', e.keyword,
                            'message_sid', e.message_sid, 'error_code', e.error_code,
                            'occurred_at', e.occurred_at,
                            'scope', case when v_state.sender_wide then 'shared sender'
                                          else 'business' end)
    into v_basis
    from public.sms_consent_events e where e.id = v_state.event_id;
  return jsonb_build_object(
    'number', p_phone,
    'business', jsonb_build_object('id', p_business_id, 'name', v_business.name),
    'exported_at', now(),
    'current_state', jsonb_build_object('status', v_state.status, 'since', v_state.occurred_at,
                                        'basis', v_basis),
    'customers', coalesce((
      select jsonb_agg(jsonb_build_object('id', c.id, 'name', c.name,
                                          'sms_consent_status', c.sms_consent_status)
                       order by c.created_at, c.id)
        from public.customers c where c.business_id = p_business_id and c.phone = p_phone),
      '[]'::jsonb),
    'events', coalesce((
      select jsonb_agg(jsonb_build_object(
               'id', e.id, 'occurred_at', e.occurred_at, 'recorded_at', e.created_at,
               'from_status', e.from_status, 'to_status', e.to_status, 'source', e.source,
               'method', e.method, 'consent_language', e.consent_language,
               'source_url', e.source_url, 'keyword', e.keyword,
               'ip_address', host(e.ip_address), 'user_agent', e.user_agent,
               'acting_user_id', e.acting_user_id, 'message_sid', e.message_sid,
               'error_code', e.error_code, 'customer_id', e.customer_id, 'details', e.details)
             order by e.occurred_at, e.id)
        from public.sms_consent_events e
       where e.business_id = p_business_id
         and (e.phone = p_phone
              or (e.source = 'phone_change' and e.details ->> 'from_phone' = p_phone))),
      '[]'::jsonb));
end
$$;
comment on function public.export_sms_consent_history(uuid, text) is
  'A member''s export of a number''s SMS consent history in their business (null for anyone else).';

-- =================================================================================================
-- Grants (everything else here is its owner's)
-- =================================================================================================

grant execute on function
  sms.apply_consent_change(uuid, text, text, text, text, uuid, integer, jsonb, timestamptz),
  sms.record_opt_in(uuid, text, text, text, text, text, inet, text, uuid, uuid, timestamptz,
                    jsonb),
  sms.prune_consent_events(timestamptz)
  to service_role;
revoke execute on function public.export_sms_consent_history(uuid, text) from public, anon;
grant execute on function public.export_sms_consent_history(uuid, text)
  to authenticated, service_role;
