-- Send logs for two channels, the SMS message events, and the one rule that moves an SMS's
-- status: forward only.
--
-- send_logs (the app's table, created by the base schema) becomes the log of both channels:
-- * channel: 'email' | 'sms'; every existing row is email, and email code that does not name a
--   channel keeps writing email rows (the default).
-- * provider_message_id: text -> jsonb holding every provider's id,
--   {"resend_id": "...", "twilio_sid": "..."}. Every existing text id becomes
--   {"resend_id": <the text, unchanged>} (email was the only channel, sent through Resend).
-- * customer_id beside contact_id for the migration window; a trigger keeps the two equal.
-- * SMS fields: to_phone, segments, encoding, error_code, status_at, content_filtered; SMS
--   statuses.
-- * SMS rows are written only through the security definer RPCs in `sms` (service_role only):
--   members may still insert and update email rows directly, as before, but not SMS rows.
--
-- sms_message_events is the append-only log of everything that happened to an SMS: the provider's
-- answer when it was created ('api'), every status callback ('callback', idempotent on the
-- callback's identity: message sid + reported status), what process-retries read from Twilio's
-- API when no callback came ('lookup') and our own transitions ('system': deferred, sending,
-- canceled...). Members read their business's events (a message's timeline);
-- sms.advance_status() is the one function that moves a send log's status, and only forward,
-- whatever order callbacks arrive in. send-sms reads the customer for the user, then calls these
-- RPCs with the acting user's id, which they check.

-- =================================================================================================
-- Status ranks and Twilio's words
-- =================================================================================================

-- Send-log statuses of an SMS, in the only order they may move:
--   deferred < queued < sending < sent < {delivered, undelivered, failed, canceled} < read
-- Terminal statuses share a rank, so one terminal status never replaces another.
-- (plpgsql, not sql, here and in log_status_for: with its search_path set a sql function is not
-- inlined, and a statement that calls one parses and plans its body again on every execution;
-- these run in a CHECK constraint and in every send's statements. plpgsql evaluates the CASE as
-- a cached simple expression. perf of send-sms's Postgres: fmgr_sql, mostly that planning, was
-- a tenth of its CPU; docs/performance.md, sixteenth round.)
create function sms.status_rank(status text)
returns integer
language plpgsql
immutable
parallel safe
set search_path = ''
as $$
begin
  return case status
    when 'deferred' then 0
    when 'queued' then 1
    when 'sending' then 2
    when 'sent' then 3
    when 'delivered' then 4
    when 'undelivered' then 4
    when 'failed' then 4
    when 'canceled' then 4
    when 'read' then 5
  end;
end
$$;
comment on function sms.status_rank(text) is
  'Rank of an SMS send-log status; a log only moves to a strictly higher rank. Null: not a send-log status.';

-- Twilio reports more words than a send log keeps: accepted and scheduled (a Messaging Service
-- took the message, or holds it for later) are still queued for us; partially_delivered means not
-- every segment arrived, which is undelivered for us; receiving and received describe inbound
-- messages and never change an outbound log (null).
create function sms.log_status_for(provider_status text)
returns text
language plpgsql
immutable
parallel safe
set search_path = ''
as $$
begin
  return case pg_catalog.lower(provider_status)
    when 'deferred' then 'deferred'
    when 'accepted' then 'queued'
    when 'scheduled' then 'queued'
    when 'queued' then 'queued'
    when 'sending' then 'sending'
    when 'sent' then 'sent'
    when 'delivered' then 'delivered'
    when 'undelivered' then 'undelivered'
    when 'partially_delivered' then 'undelivered'
    when 'failed' then 'failed'
    when 'canceled' then 'canceled'
    when 'read' then 'read'
  end;
end
$$;
comment on function sms.log_status_for(text) is
  'The send-log status a provider (Twilio) status maps to; null for inbound or unknown statuses.';

-- The one conversion rule from the old text column: lossless, the text is kept as a JSON string.
create function sms.provider_message_ids_from_text(legacy_id text)
returns jsonb
language sql
immutable
parallel safe
set search_path = ''
as $$
  select case when legacy_id is null then null else jsonb_build_object('resend_id', legacy_id) end
$$;
comment on function sms.provider_message_ids_from_text(text) is
  'Converts a pre-SMS send_logs.provider_message_id (a Resend id) to the jsonb form.';

-- =================================================================================================
-- send_logs: columns, constraints, indexes
-- =================================================================================================

alter table public.send_logs
  add column channel text not null default 'email',
  add column customer_id uuid references public.customers (id) on delete set null,
  add column to_phone text,
  add column segments smallint,
  add column encoding text,
  add column error_code integer,
  add column status_at timestamptz,
  add column carrier_at timestamptz,
  add column status_checked_at timestamptz,
  add column price numeric(12, 5),
  add column price_unit text,
  add column price_checked_at timestamptz,
  add column content_filtered boolean not null default false;

alter table public.send_logs
  alter column provider_message_id type jsonb
  using sms.provider_message_ids_from_text(provider_message_id);

-- Migration window: customer_id mirrors contact_id on every existing row.
update public.send_logs set customer_id = contact_id where contact_id is not null;

comment on column public.send_logs.channel is 'email | sms';
comment on column public.send_logs.provider_message_id is
  'Every provider''s id for this message: {"resend_id": "...", "twilio_sid": "SM..."}';
comment on column public.send_logs.contact_id is
  'Deprecated: same value as customer_id (kept in sync by a trigger) until older code is gone';
comment on column public.send_logs.customer_id is 'The recipient (replaces contact_id)';
comment on column public.send_logs.to_phone is 'SMS: the recipient''s number (E.164) at send time';
comment on column public.send_logs.segments is 'SMS: segments billed (Twilio num_segments)';
comment on column public.send_logs.encoding is 'SMS: GSM-7 or UCS-2';
comment on column public.send_logs.error_code is 'SMS: provider error code (Twilio ErrorCode)';
comment on column public.send_logs.status_at is 'When the log reached its current status';
comment on column public.send_logs.carrier_at is
  'SMS: when it was first marked sending or queued (going to the carrier); the frequency cap counts it from then';
comment on column public.send_logs.status_checked_at is
  'SMS: when process-retries last asked Twilio for this message''s status (no callback came)';
-- Twilio writes a charge as a negative amount ("-0.00830"); the log keeps what was paid, positive,
-- so sums read as costs (a credit, should Twilio ever report one, would come out negative).
comment on column public.send_logs.price is
  'SMS: what Twilio charged for this message (its price negated: a positive amount), once it reports one';
comment on column public.send_logs.price_unit is 'SMS: the currency of price (ISO 4217, Twilio price_unit)';
comment on column public.send_logs.price_checked_at is
  'SMS: when process-retries last looked for this message''s price in Twilio''s Messages list';
comment on column public.send_logs.content_filtered is
  'The carrier filtered this text (30007): it must never be sent again as is';

-- The app's own email-only status check (phase 20) gives way to the two-channel one.
alter table public.send_logs drop constraint if exists send_logs_status_check;
alter table public.send_logs
  add constraint send_logs_channel_check check (channel in ('email', 'sms')),
  add constraint send_logs_status_check check (
    (channel = 'email' and status in ('queued', 'sent', 'delivered', 'bounced', 'failed'))
    or (channel = 'sms' and status in ('deferred', 'queued', 'sending', 'sent', 'delivered',
                                       'undelivered', 'failed', 'canceled', 'read'))),
  add constraint send_logs_provider_message_id_check
    check (provider_message_id is null or jsonb_typeof(provider_message_id) = 'object'),
  add constraint send_logs_to_phone_check check (to_phone ~ '^\+[1-9][0-9]{7,14}$'),
  add constraint send_logs_segments_check check (segments between 1 and 100),
  add constraint send_logs_encoding_check check (encoding in ('GSM-7', 'UCS-2')),
  add constraint send_logs_sms_recipient_check check (channel <> 'sms' or to_phone is not null),
  add constraint send_logs_email_fields_check
    check (channel <> 'email' or (to_phone is null and segments is null and encoding is null)),
  add constraint send_logs_price_unit_check check (price_unit ~ '^[A-Z]{3}$'),
  add constraint send_logs_price_check
    check (price is null or (channel = 'sms' and price_unit is not null));

-- A Twilio sid belongs to one send log; the webhook finds the log by it.
create unique index send_logs_twilio_sid_key
  on public.send_logs ((provider_message_id ->> 'twilio_sid'))
  where (provider_message_id ->> 'twilio_sid') is not null;
-- Foreign key, per-customer history and the 24-hour frequency cap.
create index send_logs_customer_id_idx on public.send_logs (customer_id, created_at desc);
-- The recent sends to a number (sms.recent_sends, both send paths): the business's SMS logs to it
-- (only SMS logs have a number) by the instant the frequency cap counts each from, so a send reads
-- the few logs of the cap's window, not the number's whole history. Not `where channel = 'sms'`:
-- every lookup of a log by id that also says `channel = 'sms'` could then read the whole index
-- instead of the primary key, and a planner with a young table's statistics did (18 ms for one
-- receipt at 3,338 logs).
create index send_logs_sms_recipient_idx
  on public.send_logs (business_id, to_phone, (coalesce(carrier_at, created_at)))
  where to_phone is not null;
-- The logs still waiting for a status callback, oldest first (sms.claim_status_lookups): only
-- messages Twilio has and that are not final, so the scan stays small however many final logs
-- accumulate.
create index send_logs_sms_awaiting_status_idx on public.send_logs (status_at, id)
  where channel = 'sms' and status in ('queued', 'sending', 'sent')
    and (provider_message_id ->> 'twilio_sid') is not null;

-- =================================================================================================
-- send_logs: triggers and policies
-- =================================================================================================

-- customer_id <-> contact_id, and the recipient must belong to the log's business. Per row only
-- where a row needs it: an update of the columns, or an insert where the two columns differ (one
-- is filled from the other, or they disagree). That the customer is the business's is checked
-- for inserts once per statement, set-based (sms.send_logs_check_customer_business): a campaign
-- inserts 90,000 logs in one statement, and the per-row lookup was 10% of its time.
create function sms.send_logs_sync_customer()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    if new.customer_id is null then
      new.customer_id := new.contact_id;
    elsif new.contact_id is null then
      new.contact_id := new.customer_id;
    end if;
  elsif new.customer_id is distinct from old.customer_id
        and new.contact_id is not distinct from old.contact_id then
    new.contact_id := new.customer_id;
  elsif new.contact_id is distinct from old.contact_id
        and new.customer_id is not distinct from old.customer_id then
    new.customer_id := new.contact_id;
  end if;
  if new.customer_id is distinct from new.contact_id then
    raise exception 'send_logs.customer_id and contact_id must be equal (% vs %)',
      new.customer_id, new.contact_id using errcode = '23514';
  end if;
  if new.customer_id is not null and tg_op = 'UPDATE'
     and (new.customer_id is distinct from old.customer_id
          or new.business_id is distinct from old.business_id)
     and not exists (select 1 from public.customers c
                      where c.id = new.customer_id and c.business_id = new.business_id) then
    raise exception 'the send log''s customer belongs to another business' using errcode = '23503';
  end if;
  return new;
end
$$;

create trigger send_logs_sync_customer
  before insert on public.send_logs
  for each row when (new.customer_id is distinct from new.contact_id)
  execute function sms.send_logs_sync_customer();
create trigger send_logs_sync_customer_update
  before update of customer_id, contact_id, business_id on public.send_logs
  for each row execute function sms.send_logs_sync_customer();

-- The inserted logs' customers are their businesses' (after the row triggers made customer_id
-- and contact_id equal): one anti-join per statement.
create function sms.send_logs_check_customer_business()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if exists (select 1 from new_logs n
              where n.customer_id is not null
                and not exists (select 1 from public.customers c
                                 where c.id = n.customer_id and c.business_id = n.business_id))
  then
    raise exception 'the send log''s customer belongs to another business' using errcode = '23503';
  end if;
  return null;
end
$$;

create trigger send_logs_customer_business
  after insert on public.send_logs
  referencing new table as new_logs
  for each statement execute function sms.send_logs_check_customer_business();

-- Forward-only as an invariant: whatever writes an SMS log, its status never moves back. The one
-- exception is deferring a message the provider never accepted (no Twilio sid yet): queued or
-- sending -> deferred, when the provider call failed and the message goes to the retry queue.
create function sms.send_logs_status_guard()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.channel = 'sms' and old.channel = 'sms' and new.status <> old.status
     and coalesce(sms.status_rank(new.status), -1)
         <= coalesce(sms.status_rank(old.status), -1)
     and not (new.status = 'deferred' and old.status in ('queued', 'sending')
              and (new.provider_message_id ->> 'twilio_sid') is null) then
    raise exception 'an SMS send log never moves backwards (% -> %)', old.status, new.status
      using errcode = '23514';
  end if;
  if old.channel <> new.channel then
    raise exception 'a send log''s channel never changes' using errcode = '23514';
  end if;
  return new;
end
$$;

create trigger send_logs_sms_status_guard
  before update of status, channel on public.send_logs
  for each row execute function sms.send_logs_status_guard();

-- Members read every log of their business (base schema), but write only email logs.
create policy "members add email send logs" on public.send_logs
  for insert to authenticated
  with check (channel = 'email' and sms.is_member(business_id, (select auth.uid())));
create policy "members change email send logs" on public.send_logs
  for update to authenticated
  using (channel = 'email' and sms.is_member(business_id, (select auth.uid())))
  with check (channel = 'email' and sms.is_member(business_id, (select auth.uid())));

-- =================================================================================================
-- sms_message_events
-- =================================================================================================

create table public.sms_message_events (
  id bigint generated always as identity primary key,
  -- Null until the message is known: a callback can arrive before its sid is stored on the log.
  business_id uuid references public.businesses (id) on delete cascade,
  send_log_id uuid references public.send_logs (id) on delete cascade,
  message_sid text check (char_length(message_sid) between 2 and 64),
  source text not null check (source in ('api', 'callback', 'lookup', 'system')),
  -- What was reported, verbatim (Twilio's word, e.g. 'accepted'), and the send-log status it
  -- maps to (null: not an outbound status, e.g. 'received').
  provider_status text not null check (char_length(provider_status) between 1 and 40),
  status text,
  error_code integer,
  error_message text,
  payload jsonb not null default '{}'::jsonb check (jsonb_typeof(payload) = 'object'),
  occurred_at timestamptz not null default now(),
  received_at timestamptz not null default now(),
  check (send_log_id is not null or message_sid is not null),
  check (status is null or sms.status_rank(status) is not null)
);
comment on table public.sms_message_events is
  'Append-only: every status report and callback of every SMS; never updated except to link an early callback to its send log once.';

-- The callback's identity: Twilio reports each status of a message once; a repeat is a duplicate.
create unique index sms_message_events_callback_key
  on public.sms_message_events (message_sid, provider_status) where source = 'callback';
create index sms_message_events_send_log_id_idx on public.sms_message_events (send_log_id, id);
create index sms_message_events_business_id_idx
  on public.sms_message_events (business_id, received_at desc);

-- Append-only, even for the table owner: the only change ever made is linking an event recorded
-- before its sid was known to its send log (null -> value, nothing else).
create function sms.message_events_append_only()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if old.send_log_id is null and new.send_log_id is not null
     and (old.business_id is null or old.business_id = new.business_id)
     and (new.id, new.message_sid, new.source, new.provider_status, new.status, new.error_code,
          new.error_message, new.payload, new.occurred_at, new.received_at)
         is not distinct from
         (old.id, old.message_sid, old.source, old.provider_status, old.status, old.error_code,
          old.error_message, old.payload, old.occurred_at, old.received_at) then
    return new;
  end if;
  raise exception 'sms_message_events is append-only' using errcode = '42501';
end
$$;
create trigger sms_message_events_append_only
  before update on public.sms_message_events
  for each row execute function sms.message_events_append_only();

-- Members read their business's events; nobody writes them but the RPCs below (their owner), not
-- even service_role. Deletes happen only by cascade.
alter table public.sms_message_events enable row level security;
revoke all on public.sms_message_events from anon, authenticated, service_role;
grant select on public.sms_message_events to authenticated, service_role;
revoke all on sequence public.sms_message_events_id_seq from anon, authenticated, service_role;

create policy "members read sms message events" on public.sms_message_events
  for select to authenticated
  using (sms.is_member(business_id, (select auth.uid())));

-- =================================================================================================
-- The customer an SMS is written for
-- =================================================================================================

-- Locks the customer against concurrent consent changes (FOR SHARE) and checks that an SMS may be
-- written for them: the acting user's business, consent, a usable phone. The error message is the
-- HTTP error code send-sms answers with.
create function sms.lock_sendable_customer(p_customer_id uuid, p_acting_user uuid)
returns public.customers
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_customer public.customers;
begin
  select c.* into v_customer from public.customers c where c.id = p_customer_id for share;
  if not found then
    raise exception 'customer_not_found' using errcode = 'P0002', detail = 'no such customer';
  end if;
  if p_acting_user is not null and not sms.is_member(v_customer.business_id, p_acting_user) then
    raise exception 'customer_not_found'
      using errcode = 'P0002', detail = 'the acting user is not a member of this business';
  end if;
  if v_customer.sms_consent_status = 'opted_out' then
    raise exception 'opted_out' using errcode = 'P0001', detail = 'the customer opted out of SMS';
  elsif v_customer.sms_consent_status <> 'opted_in' then
    raise exception 'no_consent' using errcode = 'P0001',
      detail = 'the customer has not opted in to SMS';
  end if;
  if v_customer.phone is null or v_customer.phone_status in ('invalid', 'landline') then
    raise exception 'invalid_phone' using errcode = 'P0001',
      detail = 'the customer has no number that can receive SMS';
  end if;
  return v_customer;
end
$$;

-- =================================================================================================
-- The status rule
-- =================================================================================================

-- Moves an SMS send log to a status of strictly higher rank; anything else is ignored. Accepts
-- Twilio's words (mapped by log_status_for). Returns whether the log changed. The WHERE clause
-- is re-checked on the locked row, so concurrent callbacks cannot move it backwards either.
create function sms.advance_status(
  p_send_log_id uuid,
  p_status text,
  p_status_at timestamptz default null,
  p_error_code integer default null,
  p_error text default null
)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_status text := sms.log_status_for(p_status);
  v_at timestamptz := coalesce(p_status_at, now());
  v_changed integer;
begin
  if v_status is null then
    raise exception 'not an outbound SMS status: %', p_status using errcode = '22023';
  end if;
  update public.send_logs l
     set status = v_status,
         status_at = v_at,
         carrier_at = case when v_status in ('queued', 'sending')
                           then coalesce(l.carrier_at, v_at) else l.carrier_at end,
         sent_at = case when v_status in ('sent', 'delivered', 'undelivered', 'read')
                        then coalesce(l.sent_at, v_at) else l.sent_at end,
         error_code = coalesce(p_error_code, l.error_code),
         error = coalesce(p_error, l.error),
         updated_at = now()
   where l.id = p_send_log_id
     and l.channel = 'sms'
     and sms.status_rank(l.status) < sms.status_rank(v_status);
  get diagnostics v_changed = row_count;
  return v_changed > 0;
end
$$;

-- Records one status report and applies it. Callbacks (source 'callback') pass the message sid and
-- are idempotent: a repeat returns the first event with duplicate = true. Our own transitions pass
-- p_send_log_id with source 'system'; the provider's create answer uses source 'api'; a status
-- read from Twilio's API (sms.record_status_lookup) uses source 'lookup'.
create function sms.record_status_event(
  p_message_sid text,
  p_status text,
  p_error_code integer default null,
  p_error_message text default null,
  p_payload jsonb default '{}'::jsonb,
  p_occurred_at timestamptz default null,
  p_source text default 'callback',
  p_send_log_id uuid default null
)
returns table (event_id bigint, duplicate boolean, send_log_id uuid, status text, applied boolean)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_log public.send_logs;
  v_sid text := nullif(p_message_sid, '');
  v_mapped text := sms.log_status_for(p_status);
  v_event_id bigint;
  v_duplicate boolean := false;
  v_applied boolean := false;
begin
  if p_status is null or p_status = '' then
    raise exception 'a status is required' using errcode = '22023';
  end if;
  if p_source is null or p_source not in ('api', 'callback', 'lookup', 'system') then
    raise exception 'source must be api, callback, lookup or system' using errcode = '22023';
  end if;
  if p_send_log_id is not null then
    select l.* into v_log from public.send_logs l where l.id = p_send_log_id and l.channel = 'sms';
    if not found then
      raise exception 'send_log_not_found' using errcode = 'P0002';
    end if;
    v_sid := coalesce(v_sid, v_log.provider_message_id ->> 'twilio_sid');
  elsif v_sid is not null then
    -- Serialises with record_send_result storing this sid: an early callback is either seen
    -- there (and linked) or finds the log here, never neither.
    perform pg_advisory_xact_lock(hashtextextended('sms_message_sid:' || v_sid, 0));
    select l.* into v_log from public.send_logs l
     where (l.provider_message_id ->> 'twilio_sid') = v_sid;
  else
    raise exception 'a message sid or a send log id is required' using errcode = '22023';
  end if;
  if p_source = 'callback' and v_sid is null then
    raise exception 'a callback needs the message sid' using errcode = '22023';
  end if;

  if p_source = 'callback' then
    insert into public.sms_message_events as e
      (business_id, send_log_id, message_sid, source, provider_status, status, error_code,
       error_message, payload, occurred_at)
    values (v_log.business_id, v_log.id, v_sid, 'callback', p_status, v_mapped, p_error_code,
            p_error_message, coalesce(p_payload, '{}'::jsonb), coalesce(p_occurred_at, now()))
    on conflict (message_sid, provider_status) where source = 'callback' do nothing
    returning e.id into v_event_id;
    if v_event_id is null then
      v_duplicate := true;
      select e.id into v_event_id from public.sms_message_events e
       where e.source = 'callback' and e.message_sid = v_sid and e.provider_status = p_status;
    end if;
  else
    insert into public.sms_message_events as e
      (business_id, send_log_id, message_sid, source, provider_status, status, error_code,
       error_message, payload, occurred_at)
    values (v_log.business_id, v_log.id, v_sid, p_source, p_status, v_mapped, p_error_code,
            p_error_message, coalesce(p_payload, '{}'::jsonb), coalesce(p_occurred_at, now()))
    returning e.id into v_event_id;
  end if;

  -- Applying again on a duplicate is harmless (forward-only) and heals an interrupted first try.
  if v_log.id is not null and v_mapped is not null then
    v_applied := sms.advance_status(v_log.id, v_mapped, coalesce(p_occurred_at, now()),
                                    p_error_code, p_error_message);
  end if;

  event_id := v_event_id;
  duplicate := v_duplicate;
  send_log_id := v_log.id;
  if v_log.id is not null then
    select l.status into status from public.send_logs l where l.id = v_log.id;
  end if;
  applied := v_applied;
  return next;
end
$$;

-- =================================================================================================
-- Send logs: created before the provider call, Twilio's answer stored after it
-- =================================================================================================

-- Why an SMS was allowed when it went out (the functions' decision: the recipient's zones and
-- how they were found, their local time, the window's end, the frequency cap and the sends it
-- counted, the rule set's version; shared/compliance/receipt.ts), written once as it goes out:
-- by send-sms with the log's insert, by process-retries with its 'sending' mark
-- (sms.record_send_receipt). docs/compliance.md has the query a regulator's question needs.
alter table public.send_logs add column compliance_receipt jsonb;
comment on column public.send_logs.compliance_receipt is
  'SMS: why the message was allowed when it went out (zones, local time, window, cap, rule set)';

-- Creates the send log of an SMS about to be handed to Twilio (status 'sending', or 'queued'),
-- with its receipt when it goes out now.
-- Re-checks, under a share lock on the customer: the acting user's membership (when given),
-- consent and phone. Errors (message = send-sms error code): customer_not_found, opted_out,
-- no_consent, invalid_phone.
create function sms.create_send_log(
  p_customer_id uuid,
  p_segments integer,
  p_encoding text,
  p_acting_user uuid default null,
  p_status text default 'sending',
  p_receipt jsonb default null
)
returns public.send_logs
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_customer public.customers;
  v_log public.send_logs;
begin
  if p_status is null or p_status not in ('queued', 'sending') then
    raise exception 'a new SMS send log starts queued or sending (deferred: enqueue_retry)'
      using errcode = '22023';
  end if;
  if p_receipt is not null and jsonb_typeof(p_receipt) <> 'object' then
    raise exception 'a compliance receipt is a JSON object' using errcode = '22023';
  end if;
  v_customer := sms.lock_sendable_customer(p_customer_id, p_acting_user);
  insert into public.send_logs as l
    (business_id, channel, customer_id, contact_id, to_phone, segments, encoding, status,
     status_at, carrier_at, compliance_receipt)
  values (v_customer.business_id, 'sms', v_customer.id, v_customer.id, v_customer.phone,
          p_segments, p_encoding, p_status, now(), now(), p_receipt)
  returning l.* into v_log;
  insert into public.sms_message_events
    (business_id, send_log_id, source, provider_status, status)
  values (v_log.business_id, v_log.id, 'system', p_status, p_status);
  return v_log;
end
$$;

-- Stores what Twilio answered to the create call: the sid (when it accepted the message), its
-- status, num_segments, or the error (p_twilio_sid null, p_status 'failed'). One UPDATE of the
-- log stores the sid and segments and, when Twilio's status ranks higher, moves the status; the
-- api event is inserted directly. Callbacks that arrived before the sid was stored are linked to
-- the log and applied now, highest rank last; the log is read again only when one of them moved
-- it (pgbench, one client: 2.0–2.5 ms in the earlier three-step form → 1.4–1.6 ms;
-- docs/performance.md, "Third round").
create function sms.record_send_result(
  p_send_log_id uuid,
  p_twilio_sid text,
  p_status text,
  p_segments integer default null,
  p_error_code integer default null,
  p_error text default null,
  p_payload jsonb default '{}'::jsonb
)
returns public.send_logs
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_log public.send_logs;
  v_sid text := nullif(p_twilio_sid, '');
  v_new_sid boolean := v_sid is not null;
  v_mapped text := sms.log_status_for(p_status);
  v_advance boolean;
  v_moved boolean := false;
  v_early record;
begin
  select l.* into v_log from public.send_logs l
   where l.id = p_send_log_id and l.channel = 'sms' for update;
  if not found then
    raise exception 'send_log_not_found' using errcode = 'P0002';
  end if;
  if v_new_sid then
    -- Serialises with a callback for this sid (record_status_event): it either finds the log
    -- or is among the early callbacks linked below, never neither.
    perform pg_advisory_xact_lock(hashtextextended('sms_message_sid:' || v_sid, 0));
    if (v_log.provider_message_id ->> 'twilio_sid') is not null
       and (v_log.provider_message_id ->> 'twilio_sid') <> v_sid then
      raise exception 'send log % already has Twilio sid %', v_log.id,
        v_log.provider_message_id ->> 'twilio_sid' using errcode = '23505';
    end if;
    update public.sms_message_events e
       set send_log_id = v_log.id, business_id = v_log.business_id
     where e.source = 'callback' and e.message_sid = v_sid and e.send_log_id is null;
  elsif v_mapped is distinct from 'failed' then
    raise exception 'without a Twilio sid the only result is failed' using errcode = '22023';
  else
    v_sid := v_log.provider_message_id ->> 'twilio_sid';
  end if;
  if p_status is null or p_status = '' then
    raise exception 'a status is required' using errcode = '22023';
  end if;

  insert into public.sms_message_events
    (business_id, send_log_id, message_sid, source, provider_status, status, error_code,
     error_message, payload, occurred_at)
  values (v_log.business_id, v_log.id, v_sid, 'api', p_status, v_mapped, p_error_code, p_error,
          coalesce(p_payload, '{}'::jsonb), now());

  -- advance_status's rule, on the row locked above: only to a strictly higher rank.
  v_advance := coalesce(sms.status_rank(v_log.status) < sms.status_rank(v_mapped),
                        false);
  if v_advance then
    update public.send_logs l
       set provider_message_id =
             case when v_new_sid
                  then coalesce(l.provider_message_id, '{}'::jsonb)
                       || jsonb_build_object('twilio_sid', v_sid)
                  else l.provider_message_id end,
           segments = case when v_new_sid then coalesce(p_segments, l.segments) else l.segments end,
           status = v_mapped,
           status_at = now(),
           carrier_at = case when v_mapped in ('queued', 'sending')
                             then coalesce(l.carrier_at, now()) else l.carrier_at end,
           sent_at = case when v_mapped in ('sent', 'delivered', 'undelivered', 'read')
                          then coalesce(l.sent_at, now()) else l.sent_at end,
           error_code = coalesce(p_error_code, l.error_code),
           error = coalesce(p_error, l.error),
           updated_at = now()
     where l.id = v_log.id
    returning l.* into v_log;
  elsif v_new_sid then
    update public.send_logs l
       set provider_message_id = coalesce(l.provider_message_id, '{}'::jsonb)
                                 || jsonb_build_object('twilio_sid', v_sid),
           segments = coalesce(p_segments, l.segments),
           updated_at = now()
     where l.id = v_log.id
    returning l.* into v_log;
  end if;

  -- Early callbacks, highest rank last so the log ends at the furthest status reported.
  for v_early in
    select e.status, e.occurred_at, e.error_code, e.error_message
      from public.sms_message_events e
     where e.send_log_id = v_log.id and e.source = 'callback' and e.status is not null
     order by sms.status_rank(e.status), e.id
  loop
    v_moved := sms.advance_status(v_log.id, v_early.status, v_early.occurred_at,
                                  v_early.error_code, v_early.error_message)
               or v_moved;
  end loop;
  if v_moved then
    select l.* into v_log from public.send_logs l where l.id = v_log.id;
  end if;
  return v_log;
end
$$;
comment on function
  sms.record_send_result(uuid, text, text, integer, integer, text, jsonb) is
  'Stores Twilio''s answer to a send (sid, status, segments, or the error) with its api event; applies callbacks that came first.';

-- Twilio's acceptance, stored by a caller that writes everything else in the same statement
-- (send-sms's finish_send, process-retries' finish_retry_send): when the log ends failed with an
-- error code (a callback that came first reported one), it raises provider_error_pending and the
-- statement writes nothing; the caller then stores the answer with the error's effect in one
-- transaction (shared/store.ts applyProviderError). Not granted: only those functions call it.
create function sms.record_accepted_send(
  p_send_log_id uuid,
  p_twilio_sid text,
  p_status text,
  p_segments integer
)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_log public.send_logs;
begin
  select l.* into v_log
    from sms.record_send_result(p_send_log_id, p_twilio_sid, p_status, p_segments) l;
  if v_log.error_code is not null and v_log.status in ('failed', 'undelivered') then
    raise exception 'provider_error_pending' using errcode = 'P0001',
      detail = 'the log ended failed with an error code whose effect the caller applies';
  end if;
end
$$;

-- =================================================================================================
-- Statuses no callback reported: read from Twilio's API by process-retries
-- =================================================================================================

-- Hands process-retries the SMS logs that have waited too long for a status callback, oldest
-- status first, and marks them looked up (status_checked_at) in the same statement: concurrent
-- runs take different logs, and none is asked about again within p_recheck_seconds. Too long:
-- p_queued_seconds in queued or sending, p_sent_seconds in sent. Logs whose status is older than
-- p_max_age_seconds are left as they are: a carrier that never returns a receipt leaves Twilio's
-- status at sent for good, and asking forever would only cost requests.
create function sms.claim_status_lookups(
  p_limit integer,
  p_queued_seconds integer,
  p_sent_seconds integer,
  p_recheck_seconds integer,
  p_max_age_seconds integer
)
returns table (send_log_id uuid, message_sid text, status text, status_at timestamptz)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
begin
  if p_limit is null or p_limit < 0 or p_limit > 1000 then
    raise exception 'p_limit must be between 0 and 1000' using errcode = '22023';
  end if;
  if p_queued_seconds is null or p_queued_seconds < 0 or p_sent_seconds is null
     or p_sent_seconds < 0 or p_recheck_seconds is null or p_recheck_seconds < 0
     or p_max_age_seconds is null or p_max_age_seconds < 0 then
    raise exception 'the thresholds are seconds, zero or more' using errcode = '22023';
  end if;
  return query
  with picked as (
    select l.id
      from public.send_logs l
     where l.channel = 'sms' and l.status in ('queued', 'sending', 'sent')
       and (l.provider_message_id ->> 'twilio_sid') is not null
       and l.status_at >= now() - make_interval(secs => p_max_age_seconds)
       and l.status_at < now() - make_interval(secs => case when l.status = 'sent'
                                                            then p_sent_seconds
                                                            else p_queued_seconds end)
       and (l.status_checked_at is null
            or l.status_checked_at < now() - make_interval(secs => p_recheck_seconds))
     order by l.status_at, l.id
     limit p_limit
       for update of l skip locked
  ), marked as (
    update public.send_logs l
       set status_checked_at = now()
      from picked
     where l.id = picked.id
    returning l.id, l.provider_message_id ->> 'twilio_sid' as sid, l.status, l.status_at
  )
  select m.id, m.sid, m.status, m.status_at from marked m order by m.status_at, m.id;
end
$$;
comment on function sms.claim_status_lookups(integer, integer, integer, integer, integer) is
  'The SMS logs that waited too long for a status callback, oldest first, marked looked up now.';

-- Applies what Twilio's API says about a message no callback reported on, through
-- record_status_event with source 'lookup': the log moves forward only, exactly as a callback
-- would move it. An event is written only when the log moves (asking again about an unchanged
-- message leaves nothing but status_checked_at). p_status null means Twilio has no such message
-- (HTTP 404, error 20404): nothing will ever report on it, so the log ends failed with that
-- reason. process-retries asks only about logs past their threshold, never right after the send.
create function sms.record_status_lookup(
  p_send_log_id uuid,
  p_status text,
  p_error_code integer default null,
  p_error_message text default null,
  p_payload jsonb default '{}'::jsonb
)
returns table (event_id bigint, status text, applied boolean)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_log public.send_logs;
  v_sid text;
  v_gone boolean := p_status is null;
  v_status text := coalesce(p_status, 'failed');
  v_mapped text;
  v_event record;
  v_charge numeric;
begin
  if p_status = '' then
    raise exception 'a status is required (null: Twilio has no such message)' using errcode = '22023';
  end if;
  select l.* into v_log from public.send_logs l
   where l.id = p_send_log_id and l.channel = 'sms' for update;
  if not found then
    raise exception 'send_log_not_found' using errcode = 'P0002';
  end if;
  v_sid := v_log.provider_message_id ->> 'twilio_sid';
  if v_sid is null then
    raise exception 'the send log has no Twilio sid to look up' using errcode = '22023';
  end if;
  -- The lookup fetched the whole resource: its price, once Twilio has one, is kept too.
  v_charge := sms.twilio_charge(p_payload ->> 'price', p_payload ->> 'price_unit');
  update public.send_logs l
     set status_checked_at = now(),
         price = coalesce(l.price, v_charge),
         price_unit = case when l.price is null and v_charge is not null
                           then p_payload ->> 'price_unit' else l.price_unit end
   where l.id = v_log.id;
  v_mapped := sms.log_status_for(v_status);
  if not coalesce(sms.status_rank(v_log.status) < sms.status_rank(v_mapped), false) then
    event_id := null;
    status := v_log.status;
    applied := false;
    return next;
    return;
  end if;
  select e.event_id, e.status, e.applied into v_event
    from sms.record_status_event(
      v_sid, v_status,
      case when v_gone then 20404 else p_error_code end,
      case when v_gone then 'Twilio has no such message (20404)' else p_error_message end,
      coalesce(p_payload, '{}'::jsonb)
        || case when v_gone then '{"lookup": "not_found"}'::jsonb else '{}'::jsonb end,
      null, 'lookup', v_log.id) e;
  event_id := v_event.event_id;
  status := v_event.status;
  applied := v_event.applied;
  return next;
end
$$;
comment on function sms.record_status_lookup(uuid, text, integer, text, jsonb) is
  'Applies a status read from Twilio''s API (source lookup), forward only; null: Twilio has no such message.';

-- =================================================================================================
-- Prices: Twilio reports a message's price only on its resource, some time after the send
-- =================================================================================================

-- What a Twilio price (a decimal string, negative for a charge: "-0.00830") with its unit means as
-- the log keeps it: the charge, positive, to the 5 places Twilio writes. Null for anything else
-- (no price yet, a malformed value, a unit that is not 3 capital letters).
create function sms.twilio_charge(p_price text, p_price_unit text)
returns numeric
language sql
immutable
parallel safe
set search_path = ''
as $$
  select case when p_price ~ '^-?[0-9]{1,7}(\.[0-9]{1,12})?$' and p_price_unit ~ '^[A-Z]{3}$'
              then round(-(p_price::numeric), 5) end
$$;
comment on function sms.twilio_charge(text, text) is
  'A Twilio price string as the charge a send log keeps (negated, 5 places); null when unreadable.';

-- Stores the prices read from Twilio's Messages list, in one statement: each sid's log that has
-- no price yet takes it (a price once stored is never changed). Sids of no log, or of a log
-- already priced, change nothing. Returns the logs priced.
create function sms.record_message_prices(p_sids text[], p_prices text[], p_units text[])
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_priced integer;
begin
  if cardinality(p_sids) is distinct from cardinality(p_prices)
     or cardinality(p_sids) is distinct from cardinality(p_units) then
    raise exception 'sids, prices and units must have the same length' using errcode = '22023';
  end if;
  if cardinality(p_sids) > 10000 then
    raise exception 'at most 10000 prices at once' using errcode = '22023';
  end if;
  update public.send_logs l
     set price = p.charge, price_unit = p.unit, price_checked_at = now()
    from (select distinct on (u.sid) u.sid, u.unit, sms.twilio_charge(u.price, u.unit) as charge
            from unnest(p_sids, p_prices, p_units) as u(sid, price, unit)
           order by u.sid) p
   where (l.provider_message_id ->> 'twilio_sid') = p.sid
     and l.channel = 'sms' and l.price is null and p.charge is not null;
  get diagnostics v_priced = row_count;
  return v_priced;
end
$$;
comment on function sms.record_message_prices(text[], text[], text[]) is
  'Stores Twilio prices (as listed) on the unpriced SMS logs of those sids; the count priced.';

-- Logs whose price was looked for and not found because the listing stopped early (its page bound)
-- are made due again at once instead of after the recheck interval.
create function sms.release_price_lookups(p_send_log_ids uuid[])
returns integer
language sql
security definer
set search_path = ''
as $$
  with released as (
    update public.send_logs l set price_checked_at = null
     where l.id = any(p_send_log_ids) and l.channel = 'sms' and l.price is null
    returning 1
  )
  select count(*)::integer from released
$$;
comment on function sms.release_price_lookups(uuid[]) is
  'Makes unpriced logs due for a price lookup again at once (the listing did not reach them).';

-- A lookup Twilio did not answer (5xx, network error, timeout) says nothing about the message:
-- the log is made due again at once, so the next run asks again instead of waiting for the
-- recheck interval. A log that has since reached a final status is left as it is.
create function sms.release_status_lookup(p_send_log_id uuid)
returns boolean
language sql
security definer
set search_path = ''
as $$
  with released as (
    update public.send_logs l set status_checked_at = null
     where l.id = p_send_log_id and l.channel = 'sms' and l.status_checked_at is not null
    returning 1
  )
  select exists (select 1 from released)
$$;
comment on function sms.release_status_lookup(uuid) is
  'Makes a log due for a status lookup again at once (its lookup got no answer).';

-- =================================================================================================
-- Grants (everything else here is its owner's)
-- =================================================================================================

grant execute on function
  sms.advance_status(uuid, text, timestamptz, integer, text),
  sms.record_status_event(text, text, integer, text, jsonb, timestamptz, text, uuid),
  sms.create_send_log(uuid, integer, text, uuid, text, jsonb),
  sms.record_send_result(uuid, text, text, integer, integer, text, jsonb),
  sms.claim_status_lookups(integer, integer, integer, integer, integer),
  sms.record_status_lookup(uuid, text, integer, text, jsonb),
  sms.release_status_lookup(uuid),
  sms.record_message_prices(text[], text[], text[]),
  sms.release_price_lookups(uuid[])
  to service_role;
