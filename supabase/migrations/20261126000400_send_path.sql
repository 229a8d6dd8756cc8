-- The send path: what send-sms needs around one message besides the send log and the queue.
--
-- send-sms in three statements: read what the decision needs (no locks), write the decided outcome
-- (under the locks, after checking that what was read still holds), then store Twilio's answer
-- (sms.record_send_result). Each is one security-definer call outside any explicit transaction,
-- so a send costs three round trips instead of seven transactions of begin / set role / ... /
-- commit, and the business's quota lock and the number's send lock are held for one statement.
--
--   sms.send_context(customer, user)       -- customer, recent sends, fingerprint, countries
--   (decide in TypeScript: send now, or defer to a later instant)
--   sms.start_send(..., fingerprint, ...)  -- locks, re-check; the log or the retry row; the quota
--   (Twilio)
--   sms.record_send_result(...)            -- then sms.apply_provider_error for a refusal
--
-- Around it: idempotency keys (a repeated request gets the first answer and never a second SMS),
-- the daily quota (a stolen account cannot blast texts), and what a Twilio error means beyond one
-- message (an opt-out, a dead number, a sender alert, filtered content), shared with
-- process-retries and the webhook.

-- =================================================================================================
-- Idempotency keys
-- =================================================================================================

-- One row per (business, idempotency key) holding the first answer. send-sms claims the key
-- before doing anything that could send (claim_idempotency_key): the first request gets
-- claimed = true and goes on; a repeat gets the stored answer (state 'completed') or sees the
-- first request still running (state 'in_progress') and never sends a second SMS. The first
-- request stores its answer with complete_idempotency_key, or gives the key back with
-- release_idempotency_key when it failed before anything was sent.
create table sms.idempotency_keys (
  business_id uuid not null references public.businesses (id) on delete cascade,
  idempotency_key text not null check (char_length(idempotency_key) between 1 and 255),
  -- Hash of the request (e.g. sha256 of customerId + body): a repeat with another request under
  -- the same key can be refused.
  request_hash text check (char_length(request_hash) <= 200),
  state text not null default 'in_progress' check (state in ('in_progress', 'completed')),
  response_status integer check (response_status between 100 and 599),
  response_body jsonb,
  send_log_id uuid references public.send_logs (id) on delete set null,
  -- The user who sent the first request (no foreign key: the record outlives the account).
  created_by uuid,
  created_at timestamptz not null default now(),
  completed_at timestamptz,
  primary key (business_id, idempotency_key),
  constraint idempotency_keys_answer_check
    check ((state = 'completed')
           = (response_status is not null and response_body is not null
              and completed_at is not null))
);
comment on table sms.idempotency_keys is
  'Idempotency keys per business (send-sms and campaign creation) and the first answer given under each.';

create index idempotency_keys_send_log_id_idx on sms.idempotency_keys (send_log_id);
-- For pruning old keys.
create index idempotency_keys_created_at_idx on sms.idempotency_keys (created_at);

-- send-sms reads a completed key's answer as service_role; written only by the RPCs below.
alter table sms.idempotency_keys enable row level security;
grant select on sms.idempotency_keys to service_role;

-- Claims the key, or returns what is stored under it. claimed = true: this request is the first
-- and must finish with complete_ or release_idempotency_key. claimed = false: state
-- 'completed' carries the first answer (response_status, response_body); 'in_progress' means the
-- first request has not answered yet (or died after possibly sending: never send again).
create function sms.claim_idempotency_key(
  p_business_id uuid,
  p_idempotency_key text,
  p_request_hash text default null,
  p_acting_user uuid default null
)
returns table (
  claimed boolean,
  state text,
  request_hash text,
  response_status integer,
  response_body jsonb,
  send_log_id uuid,
  created_at timestamptz
)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_row sms.idempotency_keys;
  v_claimed boolean := false;
begin
  if p_acting_user is not null and not sms.is_member(p_business_id, p_acting_user) then
    raise exception 'customer_not_found'
      using errcode = 'P0002', detail = 'the acting user is not a member of this business';
  end if;
  insert into sms.idempotency_keys as k
    (business_id, idempotency_key, request_hash, created_by)
  values (p_business_id, p_idempotency_key, p_request_hash, p_acting_user)
  on conflict (business_id, idempotency_key) do nothing
  returning k.* into v_row;
  if v_row.business_id is not null then
    v_claimed := true;
  else
    select k.* into v_row from sms.idempotency_keys k
     where k.business_id = p_business_id and k.idempotency_key = p_idempotency_key;
  end if;
  claimed := v_claimed;
  state := v_row.state;
  request_hash := v_row.request_hash;
  response_status := v_row.response_status;
  response_body := v_row.response_body;
  send_log_id := v_row.send_log_id;
  created_at := v_row.created_at;
  return next;
end
$$;

-- Stores the first answer under a claimed key. False when the key is not in progress.
create function sms.complete_idempotency_key(
  p_business_id uuid,
  p_idempotency_key text,
  p_response_status integer,
  p_response_body jsonb,
  p_send_log_id uuid default null
)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_changed integer;
begin
  update sms.idempotency_keys k
     set state = 'completed', response_status = p_response_status,
         response_body = p_response_body, send_log_id = p_send_log_id, completed_at = now()
   where k.business_id = p_business_id and k.idempotency_key = p_idempotency_key
     and k.state = 'in_progress';
  get diagnostics v_changed = row_count;
  return v_changed > 0;
end
$$;

-- Gives an in-progress key back (the request failed before anything could be sent), so the
-- client may retry under the same key. False when there was nothing in progress.
create function sms.release_idempotency_key(p_business_id uuid, p_idempotency_key text)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_changed integer;
begin
  delete from sms.idempotency_keys k
   where k.business_id = p_business_id and k.idempotency_key = p_idempotency_key
     and k.state = 'in_progress';
  get diagnostics v_changed = row_count;
  return v_changed > 0;
end
$$;

-- =================================================================================================
-- The daily quota
-- =================================================================================================

-- Abuse guard: a business sends at most so many SMS per rolling 24 hours, so a stolen account
-- cannot blast texts. The default comes from the function's environment (SMS_DAILY_QUOTA); a
-- business may have its own limit (businesses.sms_daily_quota).
--
-- Every SMS send log of the current hour and the 24 before it counts (deferred ones will go
-- out), from hourly counters a trigger on send_logs keeps: at most 25 rows to sum, whatever the
-- volume (counting the logs themselves cost a busy business 1.2 ms per send at 3,000 logs, each
-- send in turn under the lock). A business may thus be refused up to an hour's worth of sends
-- early, never late.
create table sms.quota_usage (
  business_id uuid not null references public.businesses (id) on delete cascade,
  -- The hour the sends were logged in (date_trunc('hour', send_logs.created_at)).
  hour timestamptz not null,
  sent integer not null default 0 check (sent >= 0),
  primary key (business_id, hour)
);
comment on table sms.quota_usage is
  'SMS send logs per business and hour, for reserve_quota; kept by a trigger on send_logs.';

-- Nobody but the owner touches the counters (not even service_role).
alter table sms.quota_usage enable row level security;

create function sms.count_quota_usage()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  -- Per statement, from the inserted rows: a campaign's 100,000 logs are one upsert per hour, not
  -- 100,000 updates of one counter row.
  with counted as (
    insert into sms.quota_usage as u (business_id, hour, sent)
    select n.business_id, pg_catalog.date_trunc('hour', n.created_at), count(*)
      from new_logs n
     where n.channel = 'sms'
     group by 1, 2
    on conflict (business_id, hour) do update set sent = u.sent + excluded.sent
    returning u.business_id, (xmax = 0) as first
  )
  -- Once per business and hour: hours that no window can reach again go.
  delete from sms.quota_usage u
   where u.business_id in (select c.business_id from counted c where c.first)
     and u.hour < now() - interval '2 days';
  return null;
end
$$;
create trigger send_logs_sms_quota_usage
  after insert on public.send_logs
  referencing new table as new_logs
  for each statement execute function sms.count_quota_usage();

-- The quota check itself: raises quota_exceeded when the business's SMS of the window, less the
-- p_counted ones the caller already wrote, have used its limit; else returns what is left after
-- one more. Callers that write first (start_send: p_counted 1, the sum includes the new log)
-- take the business's lock last, so concurrent sends of one business queue only for this sum and
-- their commit, and each sees every send committed before it plus its own. (The log's insert
-- already locked its hour's counter row until commit; the lock also covers two sends in
-- different hours.)
create function sms.reserve_quota(
  p_business_id uuid,
  p_default_limit integer,
  p_counted integer default 0
)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_limit integer;
  v_used integer;
begin
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('sms_quota:' || p_business_id::text, 0));
  select coalesce(b.sms_daily_quota, p_default_limit) into v_limit
    from public.businesses b where b.id = p_business_id;
  if not found then
    raise exception 'customer_not_found' using errcode = 'P0002';
  end if;
  select coalesce(sum(u.sent), 0) - p_counted into v_used from sms.quota_usage u
   where u.business_id = p_business_id and u.hour > now() - interval '25 hours';
  if v_limit is not null and v_used >= v_limit then
    raise exception 'quota_exceeded' using errcode = 'P0001',
      detail = format('%s of %s SMS in the last 24 hours', v_used, v_limit);
  end if;
  return case when v_limit is null then null else v_limit - v_used - 1 end;
end
$$;
comment on function sms.reserve_quota(uuid, integer, integer) is
  'Raises quota_exceeded when the business has used its rolling 24 h SMS quota; call it in the '
  'transaction that writes the new send log (p_counted: how many of its logs that one wrote).';

-- =================================================================================================
-- send-sms's read and write
-- =================================================================================================

-- The recent sends (sms.recent_sends) and the number's send lock (sms.lock_number_send) are the
-- retry queue migration's: process-retries uses the same ones.
-- (plpgsql, not sql, here and below: a security definer sql function cannot be inlined and is
-- planned again at every call; plpgsql keeps its plans for the session.)

-- What a decision read: the recipient's number, zone and state, and their recent sends. Equal
-- fingerprints mean the decision still holds.
create function sms.send_fingerprint(
  p_phone text,
  p_time_zone text,
  p_us_state text,
  p_recent timestamptz[]
)
returns text
language plpgsql
immutable
security definer
set search_path = ''
as $$
begin
  return pg_catalog.md5(pg_catalog.concat_ws('|', p_phone, p_time_zone, p_us_state,
                                             p_recent::text));
end
$$;

-- The customer as send-sms decides on them, for a member of their business (p_acting_user); no
-- row for a customer of another business, exactly as for a missing one. Reads without locks:
-- start_send re-checks the fingerprint under them. help_contact is the business's: null means it
-- may not send SMS (help_contact_missing).
create function sms.send_context(
  p_customer_id uuid,
  p_acting_user uuid,
  p_since timestamptz
)
returns table (
  customer_id uuid,
  business_id uuid,
  phone text,
  phone_status text,
  sms_consent_status text,
  time_zone text,
  us_state text,
  recent_sends timestamptz[],
  fingerprint text,
  help_contact text,
  allowed_countries text[]
)
language plpgsql
stable
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_customer public.customers;
begin
  select c.* into v_customer from public.customers c
   where c.id = p_customer_id and sms.is_member(c.business_id, p_acting_user);
  if not found then
    return;
  end if;
  customer_id := v_customer.id;
  business_id := v_customer.business_id;
  phone := v_customer.phone;
  phone_status := v_customer.phone_status;
  sms_consent_status := v_customer.sms_consent_status;
  time_zone := v_customer.time_zone;
  us_state := v_customer.us_state;
  recent_sends := sms.recent_sends(v_customer.business_id, v_customer.phone, p_since);
  fingerprint := sms.send_fingerprint(v_customer.phone, v_customer.time_zone,
                                      v_customer.us_state, recent_sends);
  select b.sms_help_contact, b.sms_allowed_countries into help_contact, allowed_countries
    from public.businesses b where b.id = v_customer.business_id;
  return next;
end
$$;

-- Writes the outcome send-sms decided for a new message, in one statement:
-- * membership of p_acting_user;
-- * the business's help contact (help_contact_missing without one: CTIA's HELP needs it);
-- * the number's send lock (shared with process-retries), then the fingerprint of what the
--   decision read: a different one raises send_context_changed (another send to this number went
--   out, or the customer's number or zone changed) and the caller decides again;
-- * p_defer_reason null: the send log, 'sending' (create_send_log re-checks consent and phone
--   under a share lock), with its in-flight guard: a retry row held by 'send-sms' for
--   p_lease_seconds (Twilio's timeout and a margin) with the body, which brings the message back
--   to a worker, outcome uncertain, if send-sms dies before Twilio's answer is stored (retry_queue
--   migration); otherwise the deferred log and its retry row (enqueue_retry);
-- * last, the business's daily quota, counting the new log (reserve_quota): its lock is held
--   from there to the commit only, so a busy business's sends wait on each other for that long.
-- Errors as create_send_log and enqueue_retry, plus help_contact_missing and quota_exceeded
-- (nothing written).
create function sms.start_send(
  p_customer_id uuid,
  p_acting_user uuid,
  p_fingerprint text,
  p_since timestamptz,
  p_segments integer,
  p_encoding text,
  p_default_quota integer,
  p_body text default null,
  p_defer_reason text default null,
  p_scheduled_for timestamptz default null,
  p_lease_seconds integer default 60,
  p_receipt jsonb default null
)
returns table (send_log_id uuid, to_phone text, retry_id uuid, scheduled_for timestamptz)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_customer public.customers;
  v_log public.send_logs;
begin
  select c.* into v_customer from public.customers c where c.id = p_customer_id;
  if not found then
    raise exception 'customer_not_found' using errcode = 'P0002', detail = 'no such customer';
  end if;
  if p_acting_user is not null and not sms.is_member(v_customer.business_id, p_acting_user) then
    raise exception 'customer_not_found'
      using errcode = 'P0002', detail = 'the acting user is not a member of this business';
  end if;
  if not exists (select 1 from public.businesses b
                  where b.id = v_customer.business_id and b.sms_help_contact is not null) then
    raise exception 'help_contact_missing' using errcode = 'P0001',
      detail = 'the business has no SMS help contact (businesses.sms_help_contact)';
  end if;
  perform sms.lock_number_send(v_customer.business_id, v_customer.phone, v_customer.id);
  -- Read again after the lock: the row above may predate a change committed while we waited (a
  -- new number changes the fingerprint).
  select c.* into v_customer from public.customers c where c.id = p_customer_id;
  if p_fingerprint is distinct from sms.send_fingerprint(
       v_customer.phone, v_customer.time_zone, v_customer.us_state,
       sms.recent_sends(v_customer.business_id, v_customer.phone, p_since)) then
    raise exception 'send_context_changed' using errcode = 'P0001',
      detail = 'the recipient or their recent sends changed since the decision was made';
  end if;

  if p_defer_reason is null then
    if p_body is null or p_lease_seconds is null or p_lease_seconds not between 1 and 3600 then
      raise exception 'a send needs its body and a lease of 1 to 3600 seconds'
        using errcode = '22023';
    end if;
    -- Why it may go now, in the row that makes it 'sending': never a message out without its
    -- receipt (an update of the row just inserted would also check its foreign keys again).
    v_log := sms.create_send_log(p_customer_id, p_segments, p_encoding, p_acting_user,
                                 'sending', p_receipt);
    insert into sms.retry_queue as q
      (business_id, customer_id, send_log_id, body, reason, status, lease_expires_at, locked_by,
       locked_at)
    values (v_customer.business_id, v_customer.id, v_log.id, p_body, 'send_in_flight',
            'processing', now() + make_interval(secs => p_lease_seconds), 'send-sms', now())
    returning q.id into retry_id;
    perform sms.reserve_quota(v_customer.business_id, p_default_quota, 1);
    send_log_id := v_log.id;
    to_phone := v_log.to_phone;
    return next;
    return;
  end if;
  select e.send_log_id, e.retry_id, e.scheduled_for into send_log_id, retry_id, scheduled_for
    from sms.enqueue_retry(
           p_customer_id => p_customer_id, p_body => p_body, p_reason => p_defer_reason,
           p_scheduled_for => p_scheduled_for, p_segments => p_segments,
           p_encoding => p_encoding, p_acting_user => p_acting_user) e;
  perform sms.reserve_quota(v_customer.business_id, p_default_quota, 1);
  to_phone := v_customer.phone;
  return next;
end
$$;

-- Removes send-sms's in-flight guard once Twilio's answer is stored with the log (a sid, or the
-- log failed), in that transaction. A guard whose lease already expired and was reclaimed by a
-- worker is that worker's now, and is left alone (the worker finds the sid and completes it).
-- (plpgsql: as a sql function its delete was parsed and planned again at every call.)
create function sms.release_send_guard(p_send_log_id uuid)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  delete from sms.retry_queue q
   where q.send_log_id = p_send_log_id and q.status = 'processing' and q.locked_by = 'send-sms';
end
$$;

-- Stores Twilio's answer to send-sms's send, removes its in-flight guard and stores the request's
-- answer under its idempotency key (when it has one), in one statement: the transaction that did
-- this took five round trips (begin, the role, the result, the guard, commit). An early
-- callback's error raises provider_error_pending (sms.record_accepted_send): the caller then
-- stores the answer, the error's effect, the guard's release and the key in one transaction.
create function sms.finish_send(
  p_send_log_id uuid,
  p_twilio_sid text,
  p_status text,
  p_segments integer,
  p_business_id uuid default null,
  p_idempotency_key text default null,
  p_response_status integer default null,
  p_response_body jsonb default null
)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform sms.record_accepted_send(p_send_log_id, p_twilio_sid, p_status, p_segments);
  perform sms.release_send_guard(p_send_log_id);
  if p_idempotency_key is not null then
    perform sms.complete_idempotency_key(p_business_id, p_idempotency_key, p_response_status,
                                         p_response_body, p_send_log_id);
  end if;
end
$$;

-- =================================================================================================
-- What a Twilio error means beyond one message
-- =================================================================================================

-- An opt-out (21610), a number that is invalid or a landline, a sender that is not registered (a
-- business-level alert), or content the carrier filtered (never resend that text), applied
-- atomically. The mapping from error code to effect lives in shared/twilio-errors.ts; this
-- function only carries it out.
create function sms.apply_provider_error(
  p_send_log_id uuid,
  p_error_code integer,
  p_effect text,
  p_phone_status text default null,
  p_message_sid text default null
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_log public.send_logs;
  v_consent_changed boolean := false;
  v_phone_status text;
  v_alert boolean := false;
  v_filtered boolean := false;
  v_cancelled integer := 0;
begin
  if p_effect is null then
    raise exception 'p_effect is required' using errcode = '22023';
  end if;
  if p_phone_status is not null
     and p_phone_status not in ('unknown', 'valid', 'invalid', 'landline') then
    raise exception 'p_phone_status must be a customers.phone_status value'
      using errcode = '22023';
  end if;
  select l.* into v_log from public.send_logs l where l.id = p_send_log_id;
  if not found then
    raise exception 'send_log_not_found' using errcode = 'P0002';
  end if;

  if p_effect = 'opted_out' and v_log.customer_id is not null then
    select c.changed into v_consent_changed
      from sms.apply_consent_change(
        p_customer_id => v_log.customer_id,
        p_to_status => 'opted_out',
        p_source => 'provider_error',
        p_message_sid => coalesce(p_message_sid, v_log.provider_message_id ->> 'twilio_sid'),
        p_error_code => p_error_code,
        p_details => jsonb_build_object('send_log_id', v_log.id)) c;
  end if;

  if p_phone_status is not null and v_log.customer_id is not null then
    -- Only the number the message went to: the customer may have changed it since.
    update public.customers c
       set phone_status = p_phone_status, updated_at = now()
     where c.id = v_log.customer_id
       and c.phone is not distinct from v_log.to_phone
       and c.phone_status is distinct from p_phone_status
    returning c.phone_status into v_phone_status;
  end if;

  if p_effect in ('sender_not_registered', 'account_misconfigured') then
    update public.businesses b
       set sms_sender_alert = p_effect,
           sms_sender_alert_code = p_error_code,
           sms_sender_alert_at = now(),
           updated_at = now()
     where b.id = v_log.business_id;
    v_alert := true;
  end if;

  if p_effect = 'content_filtered' then
    update public.send_logs l set content_filtered = true, updated_at = now()
     where l.id = v_log.id;
    update sms.retry_queue q
       set status = 'cancelled', last_error = 'content_filtered',
           last_error_code = p_error_code, finished_at = now(), updated_at = now()
     where q.send_log_id = v_log.id and q.status = 'pending';
    get diagnostics v_cancelled = row_count;
    v_filtered := true;
  end if;

  return jsonb_build_object(
    'consent_changed', coalesce(v_consent_changed, false),
    'phone_status', v_phone_status,
    'business_alert', v_alert,
    'content_filtered', v_filtered,
    'cancelled_retries', v_cancelled);
end
$$;
comment on function sms.apply_provider_error(uuid, integer, text, text, text) is
  'Applies the effect of a Twilio error (from shared/twilio-errors.ts) for one send log.';

-- =================================================================================================
-- Grants (everything else here is its owner's)
-- =================================================================================================

grant execute on function
  sms.claim_idempotency_key(uuid, text, text, uuid),
  sms.complete_idempotency_key(uuid, text, integer, jsonb, uuid),
  sms.release_idempotency_key(uuid, text),
  sms.reserve_quota(uuid, integer, integer),
  sms.send_context(uuid, uuid, timestamptz),
  sms.start_send(uuid, uuid, text, timestamptz, integer, text, integer, text, text, timestamptz,
                 integer, jsonb),
  sms.release_send_guard(uuid),
  sms.finish_send(uuid, text, text, integer, uuid, text, integer, jsonb),
  sms.apply_provider_error(uuid, integer, text, text, text)
  to service_role;
