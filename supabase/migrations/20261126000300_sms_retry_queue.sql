-- The SMS retry queue: messages that may not go out now (quiet hours, frequency cap) or that the
-- provider could not take (unavailable, rate limited). process-retries claims due rows with a
-- lease (FOR UPDATE SKIP LOCKED), sends, and finishes each row: completed, back to pending with
-- backoff, rescheduled, cancelled, or failed. Every claim counts an attempt, so a row whose worker
-- keeps crashing ends failed at max_attempts instead of looping forever.
--
-- Only service_role touches the queue (through these RPCs); members read their business's rows.

create table public.sms_retry_queue (
  id uuid primary key default gen_random_uuid(),
  business_id uuid not null references public.businesses (id) on delete cascade,
  customer_id uuid not null references public.customers (id) on delete cascade,
  send_log_id uuid not null references public.send_logs (id) on delete cascade,
  -- Kept with the row so a retry sends exactly the text that was validated.
  body text not null check (char_length(body) between 1 and 1600),
  -- Why it waits; the same words as send-sms's 202 answer.
  reason text not null
    check (reason in ('quiet_hours', 'frequency_cap', 'provider_unavailable', 'rate_limited')),
  status text not null default 'pending'
    check (status in ('pending', 'processing', 'completed', 'failed', 'cancelled')),
  attempts integer not null default 0,
  max_attempts integer not null default 5 check (max_attempts between 1 and 50),
  scheduled_for timestamptz not null default now(),
  -- The lease: who holds the row and until when (only while processing).
  lease_expires_at timestamptz,
  locked_by text check (char_length(locked_by) between 1 and 200),
  locked_at timestamptz,
  last_error text,
  last_error_code integer,
  -- True when an earlier attempt may have reached Twilio (a worker died between marking the log
  -- 'sending' and storing the sid, or the provider call timed out): never send it again blindly.
  outcome_uncertain boolean not null default false,
  finished_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint sms_retry_queue_attempts_check check (attempts between 0 and max_attempts),
  constraint sms_retry_queue_lease_check
    check ((status = 'processing') = (lease_expires_at is not null)
           and (status <> 'processing' or locked_by is not null)),
  constraint sms_retry_queue_finished_check
    check ((status in ('completed', 'failed', 'cancelled')) = (finished_at is not null)),
  -- One queue row per message: a second would be a second SMS.
  constraint sms_retry_queue_send_log_id_key unique (send_log_id)
);
comment on table public.sms_retry_queue is
  'SMS waiting to be sent; written only by the RPCs below (service_role).';

-- The due scan and the expired-lease scan each read a small partial index in order, however many
-- finished rows the table holds.
create index sms_retry_queue_due_idx on public.sms_retry_queue (scheduled_for)
  where status = 'pending';
create index sms_retry_queue_lease_idx on public.sms_retry_queue (lease_expires_at)
  where status = 'processing';
-- Foreign keys; (customer_id, status) also serves "cancel this customer's pending retries".
create index sms_retry_queue_business_id_idx on public.sms_retry_queue (business_id, created_at desc);
create index sms_retry_queue_customer_id_idx on public.sms_retry_queue (customer_id, status);

alter table public.sms_retry_queue enable row level security;
revoke all on public.sms_retry_queue from anon, authenticated;
grant select on public.sms_retry_queue to authenticated;

create policy "members read sms retries" on public.sms_retry_queue
  for select to authenticated
  using (business_id in (select bm.business_id from public.business_members bm
                         where bm.user_id = (select auth.uid())));

-- Internal helpers (owner only) ------------------------------------------------------------------

-- Puts a message the provider never accepted back to 'deferred' (queued/sending -> deferred, the
-- one backward move the send-log guard allows). A message with a Twilio sid was accepted: raises
-- 'already_sent', because sending it again would be a second SMS.
create function public.sms_defer_send_log(p_send_log_id uuid)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_log public.send_logs;
begin
  select l.* into v_log from public.send_logs l
   where l.id = p_send_log_id and l.channel = 'sms' for update;
  if not found then
    raise exception 'send_log_not_found' using errcode = 'P0002';
  end if;
  if (v_log.provider_message_id ->> 'twilio_sid') is not null then
    raise exception 'already_sent' using errcode = 'P0001',
      detail = format('send log %s was accepted by Twilio as %s', v_log.id,
                      v_log.provider_message_id ->> 'twilio_sid');
  end if;
  if v_log.status = 'deferred' then
    return;
  end if;
  if v_log.status not in ('queued', 'sending') then
    raise exception 'send log % is % and cannot be deferred', v_log.id, v_log.status
      using errcode = 'P0001';
  end if;
  update public.send_logs l set status = 'deferred', status_at = now(), updated_at = now()
   where l.id = v_log.id;
  insert into public.sms_message_events
    (business_id, send_log_id, source, provider_status, status)
  values (v_log.business_id, v_log.id, 'system', 'deferred', 'deferred');
end
$$;

-- Ends a queued message's send log (failed or canceled) unless the provider already took it.
create function public.sms_end_send_log(
  p_send_log_id uuid,
  p_status text,
  p_error text,
  p_error_code integer
)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  if exists (select 1 from public.send_logs l
              where l.id = p_send_log_id and (l.provider_message_id ->> 'twilio_sid') is null) then
    perform public.record_sms_status_event(null, p_status, p_error_code, p_error, '{}'::jsonb,
                                           null, 'system', p_send_log_id);
  end if;
end
$$;

revoke execute on function public.sms_defer_send_log(uuid),
  public.sms_end_send_log(uuid, text, text, integer)
  from public, anon, authenticated, service_role;

-- Enqueue --------------------------------------------------------------------------------------

-- Defers an SMS: the send log ('deferred') and its retry row in one transaction. Without
-- p_send_log_id a new log is created (send-sms outside quiet hours, frequency cap); with it, an
-- existing log the provider never accepted goes back to 'deferred' (Twilio unavailable or rate
-- limited). Checks like create_sms_send_log: membership of p_acting_user (when given), consent,
-- phone. Errors: customer_not_found, opted_out, no_consent, invalid_phone, already_sent.
create function public.enqueue_sms_retry(
  p_customer_id uuid,
  p_body text,
  p_reason text,
  p_scheduled_for timestamptz default null,
  p_send_log_id uuid default null,
  p_segments integer default null,
  p_encoding text default null,
  p_acting_user uuid default null,
  p_max_attempts integer default 5,
  p_last_error text default null,
  p_last_error_code integer default null,
  p_outcome_uncertain boolean default false
)
returns table (retry_id uuid, send_log_id uuid, scheduled_for timestamptz)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_customer public.customers;
  v_log_id uuid := p_send_log_id;
  v_row public.sms_retry_queue;
begin
  v_customer := public.sms_lock_sendable_customer(p_customer_id, p_acting_user);
  if v_log_id is null then
    insert into public.send_logs as l
      (business_id, channel, customer_id, contact_id, to_phone, segments, encoding, status,
       status_at)
    values (v_customer.business_id, 'sms', v_customer.id, v_customer.id, v_customer.phone,
            p_segments, p_encoding, 'deferred', now())
    returning l.id into v_log_id;
    insert into public.sms_message_events
      (business_id, send_log_id, source, provider_status, status)
    values (v_customer.business_id, v_log_id, 'system', 'deferred', 'deferred');
  else
    if not exists (select 1 from public.send_logs l
                    where l.id = v_log_id and l.channel = 'sms'
                      and l.customer_id = v_customer.id) then
      raise exception 'send_log_not_found' using errcode = 'P0002',
        detail = 'no SMS send log for this customer';
    end if;
    -- A send whose outcome is unknown (Twilio timed out) keeps its log as it was, so the
    -- worker that picks the row up reconciles with Twilio before sending again.
    if not coalesce(p_outcome_uncertain, false) then
      perform public.sms_defer_send_log(v_log_id);
    end if;
  end if;

  insert into public.sms_retry_queue as q
    (business_id, customer_id, send_log_id, body, reason, max_attempts, scheduled_for,
     last_error, last_error_code, outcome_uncertain)
  values (v_customer.business_id, v_customer.id, v_log_id, p_body, p_reason,
          coalesce(p_max_attempts, 5), coalesce(p_scheduled_for, now()), p_last_error,
          p_last_error_code, coalesce(p_outcome_uncertain, false) and p_send_log_id is not null)
  returning q.* into v_row;

  retry_id := v_row.id;
  send_log_id := v_row.send_log_id;
  scheduled_for := v_row.scheduled_for;
  return next;
end
$$;

-- Claim ----------------------------------------------------------------------------------------

-- Hands out up to batch_size due rows, oldest due first: pending rows whose time has come, and
-- processing rows whose lease expired (their worker died). Each claim sets a lease of
-- lease_seconds for `worker` and counts an attempt; an expired row that has used every attempt
-- is marked failed (with its send log) instead of being handed out again; a reclaimed row whose
-- log is 'sending' without a Twilio sid is flagged outcome_uncertain. SKIP LOCKED lets
-- concurrent workers take disjoint rows. The usual case (no lease has expired) is one statement
-- over the pending rows only (one probe of sms_retry_queue_lease_idx decides); the claiming
-- statement returns the rows itself and keeps one generic plan per connection
-- (docs/performance.md, "claim").
create function public.claim_due_sms_retries(
  batch_size integer,
  lease_seconds integer,
  worker text
)
returns setof public.sms_retry_queue
language plpgsql
security definer
set search_path = ''
-- With the default plan_cache_mode the claiming statement gets a custom plan on every call (its
-- LIMIT is a parameter, and the generic plan's "10% of the rows" estimate looks costlier than
-- LIMIT 50): 0.6 ms of planning per claim, about a fifth of it. The statements below are written
-- so that their generic plan is the right one at any size (the partial index in order with LIMIT,
-- then the claimed ids by primary key through = ANY; checked at 300,000 pending rows and in
-- tests/db/retry-claim-scale.test.ts), so it is planned once per connection. The rare path below
-- sets the mode back for itself.
set plan_cache_mode = force_generic_plan
as $$
declare
  v_log_id uuid;
  v_error text;
begin
  if batch_size is null or batch_size < 1 or batch_size > 1000 then
    raise exception 'batch_size must be between 1 and 1000' using errcode = '22023';
  end if;
  if lease_seconds is null or lease_seconds < 1 or lease_seconds > 3600 then
    raise exception 'lease_seconds must be between 1 and 3600' using errcode = '22023';
  end if;
  if worker is null or char_length(worker) not between 1 and 200 then
    raise exception 'worker must be a name of 1 to 200 characters' using errcode = '22023';
  end if;

  -- The usual case: no lease has expired, so only pending rows can be due. A lease that expires
  -- between this probe and the claim is reclaimed by the next call.
  if not exists (select 1 from public.sms_retry_queue d
                  where d.status = 'processing' and d.lease_expires_at <= now()) then
    return query
      with pending as (
        select d.id
          from public.sms_retry_queue d
         where d.status = 'pending' and d.scheduled_for <= now()
         order by d.scheduled_for
         limit batch_size
         for update skip locked
      ), claimed as (
        update public.sms_retry_queue q
           set status = 'processing',
               attempts = q.attempts + 1,
               lease_expires_at = now() + make_interval(secs => lease_seconds),
               locked_by = worker,
               locked_at = now(),
               updated_at = now()
         where q.id = any (array(select p.id from pending p))
        returning q.*
      )
      select c.* from claimed c order by c.scheduled_for, c.id;
    return;
  end if;

  -- Some lease expired (a worker died): rare, so planned per call as usual, and so are the
  -- functions it calls (they would inherit the forced generic plans otherwise).
  perform pg_catalog.set_config('plan_cache_mode', 'auto', true);

  -- Expired leases that used every attempt end failed, with their send log, instead of being
  -- handed out again. First and on their own, so they do not take places in the batch.
  for v_log_id, v_error in
    update public.sms_retry_queue q
       set status = 'failed',
           lease_expires_at = null,
           finished_at = now(),
           updated_at = now(),
           last_error = format('lease of %s expired after attempt %s', q.locked_by, q.attempts)
     where q.id = any (array(
             select d.id from public.sms_retry_queue d
              where d.status = 'processing' and d.lease_expires_at <= now()
                and d.attempts >= d.max_attempts
              for update skip locked))
    returning q.send_log_id, q.last_error
  loop
    perform public.sms_end_send_log(v_log_id, 'failed', v_error, null);
  end loop;

  -- Pending rows and expired leases together, oldest due first (scheduled_for, or the lease
  -- expiry). A reclaimed row records whose lease it was, and is flagged outcome_uncertain when its
  -- log is 'sending' without a Twilio sid: the dead worker may have reached Twilio.
  return query
    with pending as (
      select d.id, d.scheduled_for as due_at
        from public.sms_retry_queue d
       where d.status = 'pending' and d.scheduled_for <= now()
       order by d.scheduled_for
       limit batch_size
       for update skip locked
    ), expired as (
      select d.id, d.lease_expires_at as due_at
        from public.sms_retry_queue d
       where d.status = 'processing' and d.lease_expires_at <= now()
         and d.attempts < d.max_attempts
       order by d.lease_expires_at
       limit batch_size
       for update skip locked
    ), picked as (
      select due.id
        from (select * from pending union all select * from expired) due
       order by due.due_at
       limit batch_size
    ), claimed as (
      update public.sms_retry_queue q
         set status = 'processing',
             attempts = q.attempts + 1,
             lease_expires_at = now() + make_interval(secs => lease_seconds),
             locked_by = worker,
             locked_at = now(),
             last_error = case when q.status = 'processing'
                               then format('lease of %s expired after attempt %s', q.locked_by,
                                           q.attempts)
                               else q.last_error end,
             outcome_uncertain = q.outcome_uncertain
               or case when q.status = 'processing'
                       then coalesce((select true from public.send_logs l
                                       where l.id = q.send_log_id and l.status = 'sending'
                                         and (l.provider_message_id ->> 'twilio_sid') is null),
                                     false)
                       else false end,
             updated_at = now()
       where q.id = any (array(select p.id from picked p))
      returning q.*
    )
    select c.* from claimed c order by c.scheduled_for, c.id;
end
$$;
comment on function public.claim_due_sms_retries(integer, integer, text) is
  'process-retries: up to batch_size due rows (pending, or lease expired), oldest due first, leased to worker.';

-- Finish ---------------------------------------------------------------------------------------

-- The worker holding the lease marks the row done (the message was sent; its send log was
-- updated with record_sms_send_result). False when the worker no longer holds the row.
create function public.complete_sms_retry(p_retry_id uuid, p_worker text)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_changed integer;
begin
  update public.sms_retry_queue q
     set status = 'completed', lease_expires_at = null, finished_at = now(), updated_at = now()
   where q.id = p_retry_id and q.status = 'processing' and q.locked_by = p_worker;
  get diagnostics v_changed = row_count;
  return v_changed > 0;
end
$$;

-- The worker holding the leases marks the rows done (their messages were sent), in one UPDATE:
-- finishing a batch row by row is one call, one plan and one round of index maintenance per row.
-- Returns the ids it completed; a row the worker no longer holds (another worker reclaimed its
-- expired lease, or it is already finished) is left alone and not returned. plpgsql rather than
-- SQL so the UPDATE's plan is cached per connection (a SQL function is planned on every call).
create function public.complete_sms_retries(p_retry_ids uuid[], p_worker text)
returns setof uuid
language plpgsql
security definer
set search_path = ''
as $$
begin
  return query
    update public.sms_retry_queue q
       set status = 'completed', lease_expires_at = null, finished_at = now(), updated_at = now()
     where q.id = any (p_retry_ids) and q.status = 'processing' and q.locked_by = p_worker
    returning q.id;
end
$$;
comment on function public.complete_sms_retries(uuid[], text) is
  'process-retries: completes the rows of p_retry_ids that p_worker holds; returns their ids.';

-- The attempt failed. Back to pending at p_retry_at (default: exponential backoff from one
-- minute, doubling per attempt, at most an hour), or failed for good when p_permanent or when
-- every attempt is used; a failed row's send log ends 'failed' with the error. Returns the row as
-- it now is; no row when the worker no longer holds it.
create function public.fail_sms_retry(
  p_retry_id uuid,
  p_worker text,
  p_error text,
  p_retry_at timestamptz default null,
  p_error_code integer default null,
  p_permanent boolean default false,
  p_outcome_uncertain boolean default false
)
returns setof public.sms_retry_queue
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row public.sms_retry_queue;
  v_final boolean;
begin
  select q.* into v_row from public.sms_retry_queue q
   where q.id = p_retry_id and q.status = 'processing' and q.locked_by = p_worker
   for update;
  if not found then
    return;
  end if;
  v_final := coalesce(p_permanent, false) or v_row.attempts >= v_row.max_attempts;
  if not v_final then
    -- Raises 'already_sent' if the provider took the message: retrying would send it twice.
    perform public.sms_defer_send_log(v_row.send_log_id);
  end if;
  update public.sms_retry_queue q
     set status = case when v_final then 'failed' else 'pending' end,
         scheduled_for = case when v_final then q.scheduled_for
                              else coalesce(p_retry_at,
                                            now() + least(interval '1 minute'
                                                          * power(2, greatest(q.attempts - 1, 0)),
                                                          interval '1 hour')) end,
         lease_expires_at = null,
         last_error = p_error,
         last_error_code = p_error_code,
         outcome_uncertain = q.outcome_uncertain or coalesce(p_outcome_uncertain, false),
         finished_at = case when v_final then now() end,
         updated_at = now()
   where q.id = v_row.id
  returning q.* into v_row;
  if v_final then
    perform public.sms_end_send_log(v_row.send_log_id, 'failed', p_error, p_error_code);
  end if;
  return next v_row;
end
$$;

-- Not sendable yet, not a failure (quiet hours or the frequency cap at retry time): back to
-- pending at p_scheduled_for without using an attempt.
create function public.reschedule_sms_retry(
  p_retry_id uuid,
  p_worker text,
  p_scheduled_for timestamptz,
  p_reason text default null
)
returns setof public.sms_retry_queue
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row public.sms_retry_queue;
begin
  if p_scheduled_for is null then
    raise exception 'p_scheduled_for is required' using errcode = '22023';
  end if;
  select q.* into v_row from public.sms_retry_queue q
   where q.id = p_retry_id and q.status = 'processing' and q.locked_by = p_worker
   for update;
  if not found then
    return;
  end if;
  perform public.sms_defer_send_log(v_row.send_log_id);
  update public.sms_retry_queue q
     set status = 'pending',
         scheduled_for = p_scheduled_for,
         reason = coalesce(p_reason, q.reason),
         attempts = greatest(q.attempts - 1, 0),
         lease_expires_at = null,
         updated_at = now()
   where q.id = v_row.id
  returning q.* into v_row;
  return next v_row;
end
$$;

-- Never to be sent (consent revoked, number unusable...): cancelled, and its send log 'canceled'.
-- A worker cancels a row it holds; without p_worker, only a pending row is cancelled.
create function public.cancel_sms_retry(p_retry_id uuid, p_worker text, p_reason text)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row public.sms_retry_queue;
begin
  update public.sms_retry_queue q
     set status = 'cancelled', lease_expires_at = null, last_error = p_reason,
         finished_at = now(), updated_at = now()
   where q.id = p_retry_id
     and ((p_worker is not null and q.status = 'processing' and q.locked_by = p_worker)
          or (p_worker is null and q.status = 'pending'))
  returning q.* into v_row;
  if not found then
    return false;
  end if;
  perform public.sms_end_send_log(v_row.send_log_id, 'canceled', p_reason, null);
  return true;
end
$$;

revoke execute on function
  public.enqueue_sms_retry(uuid, text, text, timestamptz, uuid, integer, text, uuid, integer, text,
                           integer, boolean),
  public.claim_due_sms_retries(integer, integer, text),
  public.complete_sms_retry(uuid, text),
  public.complete_sms_retries(uuid[], text),
  public.fail_sms_retry(uuid, text, text, timestamptz, integer, boolean, boolean),
  public.reschedule_sms_retry(uuid, text, timestamptz, text),
  public.cancel_sms_retry(uuid, text, text)
  from public, anon, authenticated;
grant execute on function
  public.enqueue_sms_retry(uuid, text, text, timestamptz, uuid, integer, text, uuid, integer, text,
                           integer, boolean),
  public.claim_due_sms_retries(integer, integer, text),
  public.complete_sms_retry(uuid, text),
  public.complete_sms_retries(uuid[], text),
  public.fail_sms_retry(uuid, text, text, timestamptz, integer, boolean, boolean),
  public.reschedule_sms_retry(uuid, text, timestamptz, text),
  public.cancel_sms_retry(uuid, text, text)
  to service_role;
