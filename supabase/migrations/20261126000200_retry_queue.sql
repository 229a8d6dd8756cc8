-- The SMS retry queue and what drains it: messages that may not go out now (quiet hours,
-- frequency cap) or that the provider could not take (unavailable, rate limited) wait in
-- sms.retry_queue; pg_cron calls the process-retries Edge Function every minute, which claims due
-- rows with a lease (FOR UPDATE SKIP LOCKED), re-checks each under locks, sends at the sender's
-- shared pace, and finishes each row: completed, back to pending with backoff, rescheduled,
-- cancelled, or failed. Only service_role touches the queue (through these RPCs); members see a
-- deferred message as its send log ('deferred'), not as a queue row.
--
-- Never twice. Twilio has no idempotency key on message creation, so a message that may already
-- have been sent is never sent again blindly:
-- * one queue row per send log (a second row would be a second SMS);
-- * a send log with a Twilio sid was accepted: defer_send_log raises 'already_sent', so neither
--   fail_retry nor enqueue_retry can put it back to pending, and the worker completes it instead;
-- * a row whose lease expired while its log was 'sending' without a sid may have reached Twilio
--   (its worker died between marking it and storing the sid): the reclaim flags it
--   outcome_uncertain, and the next worker reconciles with Twilio before it sends;
-- * send-sms holds a row too while it calls Twilio: sms.start_send writes the 'sending' log with
--   a 'processing' row (reason send_in_flight, locked_by 'send-sms', leased for Twilio's timeout
--   and a margin) carrying the body. Twilio's answer removes it (release_send_guard) or turns it
--   into a retry (enqueue_retry); if send-sms dies in between, the lease expires and the row is
--   reclaimed like a dead worker's, so a log is never left 'sending' with nothing to finish it;
-- * a live worker's lease never expires under a send: retry_send_context refuses a row whose
--   lease would end before the slot, the Twilio call and a margin, and every finishing RPC needs
--   the lease (locked_by), so a worker whose row was taken over cannot clobber it.
--
-- Never lost. Every row ends in a final state or comes back by itself:
-- * a claimed row whose worker dies returns when its lease expires, and every claim counts an
--   attempt, so a row that keeps crashing its workers ends failed at max_attempts (with its send
--   log) instead of looping forever;
-- * a worker finishes each row right after Twilio answers, in the transaction that stores the
--   answer (record_send_result, then complete_retry): what was sent is never left 'sending' for
--   longer than that commit, and if the commit fails the row is reconciled after its lease;
-- * a row that is not sendable yet (quiet hours, the frequency cap at retry time) is rescheduled
--   with its attempt given back; an opt-out cancels pending rows (consent migration) and a held
--   row, or one that may already be at Twilio, is cancelled by its worker, which looks it up and
--   re-checks consent before sending.
--
-- The worker's round for one row, each call a statement of its own (no transaction around them,
-- so no lock is held across a round trip):
--   reserve_send_slot(...)   -- the sender's next slot (null: past the run's budget)
--   retry_send_context(row)  -- still mine? consent, phone, zone, state, recent sends, countries,
--                               and a fingerprint of all that
--   (decide in TypeScript: send, cancel, reschedule)
--   start_retry_send(row, fingerprint, receipt)
--                            -- under the locks, the context again: the same fingerprint marks
--                               the log 'sending' with its receipt; another one ('changed') has
--                               the worker read and decide again
-- wait for the slot, call Twilio, then finish_retry_send (record_send_result + complete_retry),
-- or fail_retry.

-- =================================================================================================
-- The queue
-- =================================================================================================

create table sms.retry_queue (
  id uuid primary key default gen_random_uuid(),
  business_id uuid not null references public.businesses (id) on delete cascade,
  customer_id uuid not null references public.customers (id) on delete cascade,
  send_log_id uuid not null references public.send_logs (id) on delete cascade,
  -- Kept with the row so a retry sends exactly the text that was validated.
  body text not null check (char_length(body) between 1 and 1600),
  -- Why it waits; the same words as send-sms's 202 answer, or send_in_flight for send-sms's
  -- guard (below).
  reason text not null
    check (reason in ('quiet_hours', 'frequency_cap', 'provider_unavailable', 'rate_limited',
                      'send_in_flight', 'campaign')),
  -- 'paused': held by its campaign (campaigns migration), claimed again once resumed.
  status text not null default 'pending'
    check (status in ('pending', 'paused', 'processing', 'completed', 'failed', 'cancelled')),
  -- A campaign's message (the foreign key is the campaigns migration's); null for send-sms's.
  -- The claim shares the sender fairly between businesses, then between the streams (each
  -- campaign, and the single sends) of a business.
  campaign_id uuid,
  -- Not sent after this instant: a row that cannot go before it is cancelled (a campaign's
  -- expiry), never sent late.
  expires_at timestamptz,
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
  constraint retry_queue_attempts_check check (attempts between 0 and max_attempts),
  constraint retry_queue_lease_check
    check ((status = 'processing') = (lease_expires_at is not null)
           and (status <> 'processing' or locked_by is not null)),
  constraint retry_queue_finished_check
    check ((status in ('completed', 'failed', 'cancelled')) = (finished_at is not null)),
  -- One queue row per message: a second would be a second SMS.
  constraint retry_queue_send_log_id_key unique (send_log_id)
);
comment on table sms.retry_queue is
  'SMS waiting to be sent; written only by the RPCs below (service_role).';

-- The due scan and the expired-lease scan each read a small partial index in order, however many
-- finished rows the table holds.
create index retry_queue_due_idx on sms.retry_queue (scheduled_for)
  where status = 'pending';
-- The fair claim's streams: per business, per campaign (the nil uuid for single sends), due
-- first. The claim skips from stream to stream on it and reads a few rows of each.
create index retry_queue_stream_idx on sms.retry_queue
  (business_id, (coalesce(campaign_id, '00000000-0000-0000-0000-000000000000'::uuid)),
   scheduled_for)
  where status = 'pending';
-- The campaign's rows, for pause, resume and cancel.
create index retry_queue_campaign_id_idx on sms.retry_queue (campaign_id, status)
  where campaign_id is not null;
create index retry_queue_lease_idx on sms.retry_queue (lease_expires_at)
  where status = 'processing';
-- Foreign keys; (customer_id, status) also serves "cancel this customer's pending retries".
create index retry_queue_business_id_idx on sms.retry_queue (business_id, created_at desc);
create index retry_queue_customer_id_idx on sms.retry_queue (customer_id, status);

-- RLS with no policy: nobody but the owner and service_role (which bypasses RLS, and reads it
-- for operators) sees a row, even if a grant were added by mistake.
alter table sms.retry_queue enable row level security;
grant select on sms.retry_queue to service_role;

-- =================================================================================================
-- The queued message's send log
-- =================================================================================================

-- Puts a message the provider never accepted back to 'deferred' (queued/sending -> deferred, the
-- one backward move the send-log guard allows). A message with a Twilio sid was accepted: raises
-- 'already_sent', because sending it again would be a second SMS.
create function sms.defer_send_log(p_send_log_id uuid)
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
create function sms.end_send_log(
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
    perform sms.record_status_event(null, p_status, p_error_code, p_error, '{}'::jsonb,
                                    null, 'system', p_send_log_id);
  end if;
end
$$;

-- =================================================================================================
-- Enqueue
-- =================================================================================================

-- Defers an SMS: the send log ('deferred') and its retry row in one transaction. Without
-- p_send_log_id a new log is created (send-sms outside quiet hours, frequency cap); with it, an
-- existing log the provider never accepted goes back to 'deferred' (Twilio unavailable or rate
-- limited). Checks like create_send_log: membership of p_acting_user (when given), consent,
-- phone. Errors: customer_not_found, opted_out, no_consent, invalid_phone, already_sent.
-- With p_outcome_uncertain (the message may be at Twilio) none of these stop it: the row must exist
-- so that a worker looks the message up, and cancels it if it is not there and may not go.
-- send-sms's in-flight guard for p_send_log_id, when there is one, becomes the retry row.
create function sms.enqueue_retry(
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
  v_row sms.retry_queue;
begin
  if coalesce(p_outcome_uncertain, false) and v_log_id is not null then
    select c.* into v_customer from public.customers c where c.id = p_customer_id for share;
    if not found then
      raise exception 'customer_not_found' using errcode = 'P0002', detail = 'no such customer';
    end if;
  else
    v_customer := sms.lock_sendable_customer(p_customer_id, p_acting_user);
  end if;
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
      perform sms.defer_send_log(v_log_id);
    end if;
  end if;

  update sms.retry_queue q
     set status = 'pending', reason = p_reason, body = p_body,
         max_attempts = coalesce(p_max_attempts, 5),
         scheduled_for = coalesce(p_scheduled_for, now()), lease_expires_at = null,
         last_error = p_last_error, last_error_code = p_last_error_code,
         outcome_uncertain = coalesce(p_outcome_uncertain, false), updated_at = now()
   where q.send_log_id = v_log_id and q.status = 'processing' and q.locked_by = 'send-sms'
  returning q.* into v_row;
  if not found then
    insert into sms.retry_queue as q
      (business_id, customer_id, send_log_id, body, reason, max_attempts, scheduled_for,
       last_error, last_error_code, outcome_uncertain)
    values (v_customer.business_id, v_customer.id, v_log_id, p_body, p_reason,
            coalesce(p_max_attempts, 5), coalesce(p_scheduled_for, now()), p_last_error,
            p_last_error_code, coalesce(p_outcome_uncertain, false) and p_send_log_id is not null)
    returning q.* into v_row;
  end if;

  retry_id := v_row.id;
  send_log_id := v_row.send_log_id;
  scheduled_for := v_row.scheduled_for;
  return next;
end
$$;

-- =================================================================================================
-- Claim
-- =================================================================================================

-- The due pending rows to hand out next, up to p_limit, in the order they should go: a round
-- robin over the businesses with due rows and, within a business, over its streams (each
-- campaign, and its single sends), each stream oldest due first. So one business's 100,000-row
-- campaign takes one turn in each round, like a single deferred send of another business, and a
-- business's two campaigns share its turns. Locks the candidates (SKIP LOCKED), so concurrent
-- claims take different rows; the claim's own transaction releases what it does not take.
-- Streams are found by a skip scan of retry_queue_stream_idx (one probe per stream), then each
-- gives at most p_limit of its due rows, in order.
create function sms.fair_due_retries(p_limit integer)
returns table (id uuid, turn bigint)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
begin
  return query
    with recursive streams as (
      (select d.business_id,
              coalesce(d.campaign_id, '00000000-0000-0000-0000-000000000000'::uuid) as stream
         from sms.retry_queue d
        where d.status = 'pending'
        order by d.business_id,
                 coalesce(d.campaign_id, '00000000-0000-0000-0000-000000000000'::uuid)
        limit 1)
      union all
      select n.business_id, n.stream
        from streams s
        cross join lateral (
          select d.business_id,
                 coalesce(d.campaign_id, '00000000-0000-0000-0000-000000000000'::uuid) as stream
            from sms.retry_queue d
           where d.status = 'pending'
             and (d.business_id,
                  coalesce(d.campaign_id, '00000000-0000-0000-0000-000000000000'::uuid))
                 > (s.business_id, s.stream)
           order by d.business_id,
                    coalesce(d.campaign_id, '00000000-0000-0000-0000-000000000000'::uuid)
           limit 1) n
    ), candidates as (
      select s.business_id, s.stream, c.id, c.scheduled_for,
             row_number() over (partition by s.business_id, s.stream
                                order by c.scheduled_for, c.id) as k
        from streams s
        cross join lateral (
          select d.id, d.scheduled_for
            from sms.retry_queue d
           where d.status = 'pending' and d.business_id = s.business_id
             and coalesce(d.campaign_id, '00000000-0000-0000-0000-000000000000'::uuid)
                 = s.stream
             and d.scheduled_for <= now()
           order by d.scheduled_for
           limit p_limit
           -- Rows another claim is taking are passed over, as a plain SKIP LOCKED claim does;
           -- without it concurrent claims all picked the same first rows and all but one came
           -- back empty (tests/db/retry-claim-concurrency.test.ts).
           for update skip locked) c
    ), rounds as (
      select c.id, c.scheduled_for, c.business_id,
             row_number() over (partition by c.business_id
                                order by c.k, c.scheduled_for, c.stream) as round
        from candidates c
    )
    select r.id, row_number() over (order by r.round, r.scheduled_for, r.business_id) as turn
      from rounds r
     order by turn
     limit p_limit;
end
$$;
comment on function sms.fair_due_retries(integer) is
  'The next due pending rows, round robin over businesses and then their streams (campaigns, single sends).';

-- Hands out up to batch_size due rows: processing rows whose lease expired (their worker died),
-- then pending rows whose time has come in the fair order (sms.fair_due_retries), returned in
-- that order, the order to send them in. Each claim sets a lease of
-- lease_seconds for `worker` and counts an attempt; an expired row that has used every attempt
-- is marked failed (with its send log) instead of being handed out again; a reclaimed row whose
-- log is 'sending' without a Twilio sid is flagged outcome_uncertain. SKIP LOCKED lets
-- concurrent workers take disjoint rows. The usual case (no lease has expired) is one statement
-- over the pending rows only (one probe of retry_queue_lease_idx decides); the claiming
-- statement returns the rows itself and keeps one generic plan per connection
-- (docs/performance.md, "claim").
create function sms.claim_due_retries(
  batch_size integer,
  lease_seconds integer,
  worker text
)
returns setof sms.retry_queue
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
  if not exists (select 1 from sms.retry_queue d
                  where d.status = 'processing' and d.lease_expires_at <= now()) then
    return query
      with fair as (
        select f.id, f.turn from sms.fair_due_retries(batch_size) f
      ), pending as (
        select d.id
          from sms.retry_queue d
         where d.id = any (array(select f.id from fair f))
           and d.status = 'pending' and d.scheduled_for <= now()
         for update skip locked
      ), claimed as (
        update sms.retry_queue q
           set status = 'processing',
               attempts = q.attempts + 1,
               lease_expires_at = now() + make_interval(secs => lease_seconds),
               locked_by = worker,
               locked_at = now(),
               updated_at = now()
         where q.id = any (array(select p.id from pending p))
        returning q.*
      )
      select c.* from claimed c join fair f on f.id = c.id order by f.turn;
    return;
  end if;

  -- Some lease expired (a worker died): rare, so planned per call as usual, and so are the
  -- functions it calls (they would inherit the forced generic plans otherwise).
  perform pg_catalog.set_config('plan_cache_mode', 'auto', true);

  -- Expired leases that used every attempt end failed, with their send log, instead of being
  -- handed out again. First and on their own, so they do not take places in the batch.
  for v_log_id, v_error in
    update sms.retry_queue q
       set status = 'failed',
           lease_expires_at = null,
           finished_at = now(),
           updated_at = now(),
           last_error = format('lease of %s expired after attempt %s', q.locked_by, q.attempts)
     where q.id = any (array(
             select d.id from sms.retry_queue d
              where d.status = 'processing' and d.lease_expires_at <= now()
                and d.attempts >= d.max_attempts
              for update skip locked))
    returning q.send_log_id, q.last_error
  loop
    perform sms.end_send_log(v_log_id, 'failed', v_error, null);
  end loop;

  -- Expired leases (oldest expiry first), then pending rows in the fair order. A reclaimed row
  -- records whose lease it was, and is flagged outcome_uncertain when its log is 'sending'
  -- without a Twilio sid: the dead worker may have reached Twilio.
  return query
    with fair as (
      select f.id, f.turn from sms.fair_due_retries(batch_size) f
    ), pending as (
      select d.id, f.turn
        from sms.retry_queue d join fair f on f.id = d.id
       where d.status = 'pending' and d.scheduled_for <= now()
       for update of d skip locked
    ), expired as (
      select d.id, 0::bigint as turn, d.lease_expires_at as due_at
        from sms.retry_queue d
       where d.status = 'processing' and d.lease_expires_at <= now()
         and d.attempts < d.max_attempts
       order by d.lease_expires_at
       limit batch_size
       for update skip locked
    ), picked as (
      -- Reclaimed rows first (oldest expiry first), then the fair order.
      select due.id, row_number() over (order by due.turn, due.due_at) as turn
        from (select p.id, p.turn, null::timestamptz as due_at from pending p
              union all select e.id, e.turn, e.due_at from expired e) due
       order by due.turn, due.due_at
       limit batch_size
    ), claimed as (
      update sms.retry_queue q
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
    select c.* from claimed c join picked p on p.id = c.id order by p.turn;
end
$$;
comment on function sms.claim_due_retries(integer, integer, text) is
  'process-retries: up to batch_size due rows (reclaimed expired leases first, then pending rows in the fair order of fair_due_retries), leased to worker.';

-- =================================================================================================
-- Finish: complete, fail, reschedule, cancel (each needs the lease)
-- =================================================================================================

-- The worker holding the lease marks the row done (the message was sent; its send log was
-- updated with record_send_result). False when the worker no longer holds the row.
create function sms.complete_retry(p_retry_id uuid, p_worker text)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_changed integer;
begin
  update sms.retry_queue q
     set status = 'completed', lease_expires_at = null, finished_at = now(), updated_at = now()
   where q.id = p_retry_id and q.status = 'processing' and q.locked_by = p_worker;
  get diagnostics v_changed = row_count;
  return v_changed > 0;
end
$$;

-- The attempt failed. Back to pending at p_retry_at (default: exponential backoff from one
-- minute, doubling per attempt, at most an hour), or failed for good when p_permanent or when
-- every attempt is used; a failed row's send log ends 'failed' with the error. Returns the row as
-- it now is; no row when the worker no longer holds it.
create function sms.fail_retry(
  p_retry_id uuid,
  p_worker text,
  p_error text,
  p_retry_at timestamptz default null,
  p_error_code integer default null,
  p_permanent boolean default false,
  p_outcome_uncertain boolean default false
)
returns setof sms.retry_queue
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row sms.retry_queue;
  v_final boolean;
begin
  select q.* into v_row from sms.retry_queue q
   where q.id = p_retry_id and q.status = 'processing' and q.locked_by = p_worker
   for update;
  if not found then
    return;
  end if;
  v_final := coalesce(p_permanent, false) or v_row.attempts >= v_row.max_attempts;
  if not v_final then
    -- Raises 'already_sent' if the provider took the message: retrying would send it twice.
    perform sms.defer_send_log(v_row.send_log_id);
  end if;
  update sms.retry_queue q
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
    perform sms.end_send_log(v_row.send_log_id, 'failed', p_error, p_error_code);
  end if;
  return next v_row;
end
$$;

-- Not sendable yet, not a failure (quiet hours or the frequency cap at retry time): back to
-- pending at p_scheduled_for without using an attempt.
create function sms.reschedule_retry(
  p_retry_id uuid,
  p_worker text,
  p_scheduled_for timestamptz,
  p_reason text default null
)
returns setof sms.retry_queue
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row sms.retry_queue;
begin
  if p_scheduled_for is null then
    raise exception 'p_scheduled_for is required' using errcode = '22023';
  end if;
  select q.* into v_row from sms.retry_queue q
   where q.id = p_retry_id and q.status = 'processing' and q.locked_by = p_worker
   for update;
  if not found then
    return;
  end if;
  perform sms.defer_send_log(v_row.send_log_id);
  update sms.retry_queue q
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
create function sms.cancel_retry(p_retry_id uuid, p_worker text, p_reason text)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row sms.retry_queue;
begin
  update sms.retry_queue q
     set status = 'cancelled', lease_expires_at = null, last_error = p_reason,
         finished_at = now(), updated_at = now()
   where q.id = p_retry_id
     and ((p_worker is not null and q.status = 'processing' and q.locked_by = p_worker)
          or (p_worker is null and q.status = 'pending'))
  returning q.* into v_row;
  if not found then
    return false;
  end if;
  perform sms.end_send_log(v_row.send_log_id, 'canceled', p_reason, null);
  return true;
end
$$;

-- =================================================================================================
-- Pacing: one sender, shared by every worker
-- =================================================================================================

-- One row per sender (Twilio account + number or Messaging Service): the earliest instant the next
-- segment may go (a virtual scheduling time, GCRA without burst).
create table sms.send_pacing (
  key text primary key check (char_length(key) between 1 and 200),
  next_slot_at timestamptz not null,
  -- Which worker booked the slots up to next_slot_at (reserve_send_slot's p_booker).
  booked_by text check (char_length(booked_by) between 1 and 100),
  updated_at timestamptz not null default now()
);
comment on table sms.send_pacing is
  'Per sender: when the next SMS segment may be handed to the provider (reserve_send_slot).';

-- Read by process-retries (the backlog already booked), written only by reserve_send_slot.
alter table sms.send_pacing enable row level security;
grant select on sms.send_pacing to service_role;

-- Reserves the sender's next free slot for p_segments segments at p_segments_per_second, shared by
-- every worker: the slot starts when the previous reservation's segments have been spent (or now),
-- and moves the next free instant on by p_segments / p_segments_per_second seconds. process-retries
-- books a claimed batch's segments at once, so the sends of one batch are never interleaved with
-- another worker's (two isolates' timers drift apart; docs/decisions.md). Returns the
-- milliseconds to wait before sending (0: now), or null, reserving nothing, when the slot would
-- start more than p_max_wait_ms from now (the worker's time budget is shorter than the queue).
-- p_lead_ms: the slot starts no sooner than that from now, the time the caller needs to prepare
-- its first send (a slot it cannot meet would be sent late, onto the next reservation's).
-- p_booker names the calling worker: when the slots still ahead were booked by another, this slot
-- starts p_gap_ms after them, as two workers' timers run late independently and the other's last
-- sends would otherwise land on this one's first.
create function sms.reserve_send_slot(
  p_key text,
  p_segments integer,
  p_segments_per_second numeric,
  p_max_wait_ms integer default null,
  p_lead_ms integer default 0,
  p_booker text default null,
  p_gap_ms integer default 0
)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_now timestamptz;
  v_next timestamptz;
  v_booked_by text;
  v_cost interval;
  v_start timestamptz;
begin
  if p_key is null or char_length(p_key) not between 1 and 200 then
    raise exception 'p_key must be a name of 1 to 200 characters' using errcode = '22023';
  end if;
  if p_segments is null or p_segments < 1 or p_segments > 100000 then
    raise exception 'p_segments must be between 1 and 100000' using errcode = '22023';
  end if;
  if p_segments_per_second is null or p_segments_per_second <= 0
     or p_segments_per_second > 10000 then
    raise exception 'p_segments_per_second must be above 0 and at most 10000'
      using errcode = '22023';
  end if;
  if p_lead_ms is null or p_lead_ms < 0 or p_lead_ms > 60000 then
    raise exception 'p_lead_ms must be between 0 and 60000' using errcode = '22023';
  end if;
  if p_gap_ms is null or p_gap_ms < 0 or p_gap_ms > 60000 then
    raise exception 'p_gap_ms must be between 0 and 60000' using errcode = '22023';
  end if;
  if p_booker is not null and char_length(p_booker) not between 1 and 100 then
    raise exception 'p_booker must be a name of 1 to 100 characters' using errcode = '22023';
  end if;
  if p_max_wait_ms is not null and p_max_wait_ms < 0 then
    return null;
  end if;
  v_cost := make_interval(secs => p_segments / p_segments_per_second);
  -- The sender's row exists before it is locked, so two first reservations cannot both miss it.
  insert into sms.send_pacing (key, next_slot_at) values (p_key, '-infinity')
  on conflict (key) do nothing;
  select p.next_slot_at, p.booked_by into v_next, v_booked_by
    from sms.send_pacing p where p.key = p_key for update;
  -- The clock is read once the row is locked, and with clock_timestamp(), not now(): workers wait
  -- on this row, and a time from before the wait would hand out a slot in the past. The caller
  -- places the slot by the clock it reads right after (its own clock on the same statement).
  v_now := clock_timestamp();
  if v_next > v_now and v_booked_by is distinct from p_booker then
    v_next := v_next + make_interval(secs => p_gap_ms / 1000.0);
  end if;
  v_start := greatest(v_next, v_now + make_interval(secs => p_lead_ms / 1000.0));
  if v_start > v_now + make_interval(secs => p_max_wait_ms / 1000.0) then
    return null;
  end if;
  update sms.send_pacing
     set next_slot_at = v_start + v_cost, booked_by = p_booker, updated_at = v_now
   where key = p_key;
  return greatest(0, ceil(extract(epoch from v_start - v_now) * 1000))::integer;
end
$$;
comment on function sms.reserve_send_slot(text, integer, numeric, integer, integer, text, integer) is
  'Shared sender pacing: milliseconds to wait before sending p_segments, or null past p_max_wait_ms.';

-- =================================================================================================
-- The frequency cap: one definition and one lock for both send paths
-- =================================================================================================

-- The frequency cap's one definition, for both send paths (send-sms's send_context and
-- start_send, process-retries' retry_send_context): when the business's SMS to p_phone went (or
-- are going) to the carrier since p_since, oldest first. Counted per business and number, never
-- per customer record: two records with one number share the cap. A log counts from the moment
-- it was first marked sending or queued (send_logs.carrier_at: a deferred message counts when it
-- went, not when it was written), else its creation (a log written as sent by other code);
-- p_exclude_send_log_id leaves out the message being decided. The instant is indexed
-- (send_logs_sms_recipient_idx), so a send reads the cap window's logs only: it used to be found
-- per log from its events, which read the number's whole history twice a send.
-- (plpgsql, not sql: a security definer sql function cannot be inlined and is planned again at
-- every call; plpgsql keeps its plans for the session.)
create function sms.recent_sends(
  p_business_id uuid,
  p_phone text,
  p_since timestamptz,
  p_exclude_send_log_id uuid default null
)
returns timestamptz[]
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return (
    select coalesce(array_agg(coalesce(l.carrier_at, l.created_at)
                              order by coalesce(l.carrier_at, l.created_at)),
                    '{}'::timestamptz[])
      from public.send_logs l
     where l.business_id = p_business_id and l.to_phone = p_phone
       and coalesce(l.carrier_at, l.created_at) > p_since
       and l.channel = 'sms'
       and l.status in ('queued', 'sending', 'sent', 'delivered', 'undelivered', 'read')
       and l.id is distinct from p_exclude_send_log_id);
end
$$;

-- The lock two sends to one number take turns on (send-sms's start_send and process-retries'
-- retry_send_context), so the second sees the first's 'sending' mark under the frequency cap: per
-- business and number (per record when there is no number).
create function sms.lock_number_send(p_business_id uuid, p_phone text, p_customer_id uuid)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(
    'sms_number_send:' || p_business_id::text || ':'
      || coalesce(p_phone, p_customer_id::text), 0));
end
$$;

-- =================================================================================================
-- A held row's context, under the locks its checks need
-- =================================================================================================

-- What the worker holding retry p_retry_id needs to decide its fate, read under locks held until
-- the caller's transaction ends:
-- * the number's send lock (sms.lock_number_send, shared with send-sms), so two workers deciding
--   for one number (frequency cap) take turns, and the second sees the first's 'sending' mark;
-- * the customer FOR SHARE, so a consent change waits until the decision (and its 'sending'
--   mark) is committed, and is otherwise seen;
-- * the queue row FOR UPDATE.
-- lease_held is false (and nothing else is returned) when the row is no longer this worker's, or
-- its lease ends within p_min_lease_seconds: a send must never outlive the lease, or a reclaiming
-- worker could send the same message again. recent_sends: the business's other SMS to this
-- number since p_since, oldest first (sms.recent_sends, the one definition send-sms uses too).
create function sms.retry_send_context(
  p_retry_id uuid,
  p_worker text,
  p_min_lease_seconds integer default 0,
  p_since timestamptz default null
)
returns table (
  lease_held boolean,
  customer_id uuid,
  consent_status text,
  phone text,
  phone_status text,
  time_zone text,
  us_state text,
  log_status text,
  log_to_phone text,
  log_twilio_sid text,
  log_created_at timestamptz,
  recent_sends timestamptz[],
  help_contact text,
  allowed_countries text[],
  expires_at timestamptz,
  fingerprint text
)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_customer_id uuid;
  v_row sms.retry_queue;
  v_customer public.customers;
  v_log public.send_logs;
  v_since timestamptz := coalesce(p_since, now() - interval '24 hours');
begin
  select q.customer_id into v_customer_id from sms.retry_queue q where q.id = p_retry_id;
  if not found then
    lease_held := false;
    return next;
    return;
  end if;
  select c.* into v_customer from public.customers c where c.id = v_customer_id;
  perform sms.lock_number_send(v_customer.business_id, v_customer.phone, v_customer.id);
  select c.* into v_customer from public.customers c where c.id = v_customer_id for share;
  select q.* into v_row from sms.retry_queue q
   where q.id = p_retry_id and q.status = 'processing' and q.locked_by = p_worker
     and q.lease_expires_at
         >= clock_timestamp() + make_interval(secs => greatest(coalesce(p_min_lease_seconds, 0), 0))
   for update;
  if not found then
    lease_held := false;
    return next;
    return;
  end if;
  select l.* into v_log from public.send_logs l where l.id = v_row.send_log_id;

  lease_held := true;
  customer_id := v_customer.id;
  consent_status := v_customer.sms_consent_status;
  phone := v_customer.phone;
  phone_status := v_customer.phone_status;
  time_zone := v_customer.time_zone;
  us_state := v_customer.us_state;
  log_status := v_log.status;
  log_to_phone := v_log.to_phone;
  log_twilio_sid := v_log.provider_message_id ->> 'twilio_sid';
  log_created_at := v_log.created_at;
  -- The frequency cap's one definition (above): per business and number.
  recent_sends := sms.recent_sends(v_customer.business_id, v_customer.phone, v_since,
                                   v_row.send_log_id);
  -- Without a help contact the business may not send (the row is cancelled); a country it no
  -- longer permits cancels the row too.
  select b.sms_help_contact, b.sms_allowed_countries into help_contact, allowed_countries
    from public.businesses b where b.id = v_row.business_id;
  expires_at := v_row.expires_at;
  -- Everything the decision reads (a row's text tells a null from an empty string).
  fingerprint := pg_catalog.md5(row(consent_status, phone, phone_status, time_zone, us_state,
                                    log_status, log_to_phone, log_twilio_sid, log_created_at,
                                    recent_sends, help_contact, allowed_countries,
                                    expires_at)::text);
  return next;
end
$$;
comment on function sms.retry_send_context(uuid, text, integer, timestamptz) is
  'process-retries: a held row''s customer, send log and recent sends, under the locks its checks need.';

-- Starts the send process-retries decided on what retry_send_context read (called alone, those
-- locks were released at once): in one statement, the context again under its locks, then, if
-- its fingerprint is p_fingerprint, the log marked 'sending' with its compliance receipt (never a
-- message out without one). 'lost' when the row is no longer the worker's or its lease ends
-- within p_min_lease_seconds, 'changed' (nothing written) when what the decision read no longer
-- holds (consent, number, zone, another send to the number...): the worker reads and decides
-- again. The locks are held until this statement commits, so a consent change or another send
-- to the number waits for the 'sending' mark and then sees it.
create function sms.start_retry_send(
  p_retry_id uuid,
  p_worker text,
  p_min_lease_seconds integer,
  p_since timestamptz,
  p_fingerprint text,
  p_receipt jsonb
)
returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_held boolean;
  v_fingerprint text;
  v_send_log_id uuid;
begin
  if p_fingerprint is null or p_receipt is null then
    raise exception 'a start needs the decision''s fingerprint and its receipt'
      using errcode = '22023';
  end if;
  select c.lease_held, c.fingerprint into v_held, v_fingerprint
    from sms.retry_send_context(p_retry_id, p_worker, p_min_lease_seconds, p_since) c;
  if not coalesce(v_held, false) then
    return 'lost';
  end if;
  if v_fingerprint is distinct from p_fingerprint then
    return 'changed';
  end if;
  select q.send_log_id into v_send_log_id from sms.retry_queue q where q.id = p_retry_id;
  perform sms.record_status_event(null, 'sending', null, null, '{}'::jsonb, null, 'system',
                                  v_send_log_id);
  perform sms.record_send_receipt(v_send_log_id, p_receipt);
  return 'started';
end
$$;

-- Stores Twilio's answer to a held row's send and completes the row, in one statement: true,
-- or false when the worker no longer holds the row (the answer is stored all the same). An early
-- callback's error raises provider_error_pending (sms.record_accepted_send) and writes nothing:
-- the caller then stores the answer, the error's effect and the completion in one transaction.
create function sms.finish_retry_send(
  p_retry_id uuid,
  p_worker text,
  p_twilio_sid text,
  p_status text,
  p_segments integer
)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_send_log_id uuid;
begin
  select q.send_log_id into v_send_log_id from sms.retry_queue q where q.id = p_retry_id;
  if not found then
    raise exception 'retry_not_found' using errcode = 'P0002';
  end if;
  perform sms.record_accepted_send(v_send_log_id, p_twilio_sid, p_status, p_segments);
  return sms.complete_retry(p_retry_id, p_worker);
end
$$;

-- =================================================================================================
-- Heartbeats: is the drain alive?
-- =================================================================================================

-- One row per process-retries run (start, end, counts, error), and a view of how long ago the
-- last successful run finished, so a cron that silently stopped is visible (worker_health.stale).
-- Written only through the RPCs below; operators read them with a database connection.
create table sms.worker_heartbeats (
  id bigint generated always as identity primary key,
  worker text not null default 'process-retries' check (char_length(worker) between 1 and 100),
  -- The run's own id (request id, isolate...), for matching logs.
  worker_id text check (char_length(worker_id) <= 200),
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  status text not null default 'running' check (status in ('running', 'succeeded', 'failed')),
  claimed integer not null default 0 check (claimed >= 0),
  sent integer not null default 0 check (sent >= 0),
  deferred integer not null default 0 check (deferred >= 0),
  failed integer not null default 0 check (failed >= 0),
  skipped integer not null default 0 check (skipped >= 0),
  error text,
  constraint worker_heartbeats_finished_check check ((status = 'running') = (finished_at is null))
);
comment on table sms.worker_heartbeats is
  'One row per worker run (process-retries); kept 14 days.';

create index worker_heartbeats_worker_started_idx
  on sms.worker_heartbeats (worker, started_at desc);
create index worker_heartbeats_last_success_idx
  on sms.worker_heartbeats (worker, finished_at desc) where status = 'succeeded';

alter table sms.worker_heartbeats enable row level security;
grant select on sms.worker_heartbeats to service_role;

-- Known workers appear even before their first run, so "never ran" is visible too.
create view sms.worker_health with (security_invoker = true) as
  select w.worker,
         s.finished_at as last_success_at,
         now() - s.finished_at as last_success_age,
         floor(extract(epoch from now() - s.finished_at))::integer as last_success_age_seconds,
         r.started_at as last_run_started_at,
         r.finished_at as last_run_finished_at,
         r.status as last_run_status,
         r.error as last_run_error,
         (s.finished_at is null or now() - s.finished_at > interval '5 minutes') as stale
    from (values ('process-retries'::text)) as w (worker)
    left join lateral (
      select h.finished_at from sms.worker_heartbeats h
       where h.worker = w.worker and h.status = 'succeeded'
       order by h.finished_at desc, h.id desc limit 1) s on true
    left join lateral (
      select h.started_at, h.finished_at, h.status, h.error from sms.worker_heartbeats h
       where h.worker = w.worker
       order by h.started_at desc, h.id desc limit 1) r on true;
comment on view sms.worker_health is
  'Per worker: age of the last successful run; stale when none finished in the last 5 minutes (cron runs every minute).';
grant select on sms.worker_health to service_role;

-- A run starts: returns its heartbeat id.
create function sms.start_worker_heartbeat(
  p_worker text default 'process-retries',
  p_worker_id text default null
)
returns bigint
language sql
security definer
set search_path = ''
as $$
  insert into sms.worker_heartbeats (worker, worker_id)
  values (coalesce(p_worker, 'process-retries'), p_worker_id)
  returning id
$$;

-- A run ends: its counts, and the error when it failed (status 'failed'; else 'succeeded').
-- Also drops this worker's rows older than 14 days. Raises when the heartbeat is unknown or
-- already finished.
create function sms.finish_worker_heartbeat(
  p_heartbeat_id bigint,
  p_claimed integer default 0,
  p_sent integer default 0,
  p_deferred integer default 0,
  p_failed integer default 0,
  p_skipped integer default 0,
  p_error text default null
)
returns sms.worker_heartbeats
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row sms.worker_heartbeats;
begin
  update sms.worker_heartbeats h
     set finished_at = now(),
         status = case when p_error is null then 'succeeded' else 'failed' end,
         claimed = coalesce(p_claimed, 0),
         sent = coalesce(p_sent, 0),
         deferred = coalesce(p_deferred, 0),
         failed = coalesce(p_failed, 0),
         skipped = coalesce(p_skipped, 0),
         error = p_error
   where h.id = p_heartbeat_id and h.status = 'running'
  returning h.* into v_row;
  if not found then
    raise exception 'heartbeat % is unknown or already finished', p_heartbeat_id
      using errcode = 'P0002';
  end if;
  delete from sms.worker_heartbeats h
   where h.worker = v_row.worker and h.started_at < now() - interval '14 days';
  return v_row;
end
$$;

-- =================================================================================================
-- Cron: every minute, pg_cron -> pg_net -> process-retries
-- =================================================================================================

-- The project URL and the function's shared secret live in Vault (never in this file):
--   select vault.create_secret('https://<ref>.supabase.co', 'project_url');
--   select vault.create_secret('<PROCESS_RETRIES_SECRET>', 'process_retries_secret');
-- (docs/operations.md). Until both exist, each run fails with a message saying so, visible in
-- cron.job_run_details, and nothing is sent.

create extension if not exists pg_cron;

-- pg_net: a Supabase project enables it here when it is not enabled yet. Where schema net already
-- provides http_post (pg_net enabled from the dashboard, or the local stack's stand-in) this is
-- skipped, so the same migration runs in both places.
do $$
begin
  if to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)') is null then
    create extension if not exists pg_net;
  end if;
end
$$;

-- Queues POST <project_url>/functions/v1/process-retries with the cron secret as bearer token
-- and {"chain": true} (a run its CPU plan stops with rows due starts the next one through this
-- same call); pg_net sends it after commit. Returns the pg_net request id.
create function sms.invoke_process_retries()
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_url text;
  v_secret text;
begin
  select s.decrypted_secret into v_url
    from vault.decrypted_secrets s where s.name = 'project_url'
   order by s.created_at desc limit 1;
  select s.decrypted_secret into v_secret
    from vault.decrypted_secrets s where s.name = 'process_retries_secret'
   order by s.created_at desc limit 1;
  if coalesce(v_url, '') = '' then
    raise exception 'invoke_process_retries: Vault secret "project_url" is missing'
      using errcode = 'P0002',
            hint = 'select vault.create_secret(''https://<ref>.supabase.co'', ''project_url''); see docs/operations.md';
  end if;
  if coalesce(v_secret, '') = '' then
    raise exception 'invoke_process_retries: Vault secret "process_retries_secret" is missing'
      using errcode = 'P0002',
            hint = 'select vault.create_secret(''<PROCESS_RETRIES_SECRET>'', ''process_retries_secret''); see docs/operations.md';
  end if;
  return net.http_post(
    url := rtrim(v_url, '/') || '/functions/v1/process-retries',
    body := '{"chain": true}'::jsonb,
    params := '{}'::jsonb,
    headers := jsonb_build_object('Content-Type', 'application/json',
                                  'Authorization', 'Bearer ' || v_secret),
    timeout_milliseconds := 55000
  );
end
$$;

-- cron.schedule replaces the job of the same name, so re-running this never adds a second one.
select cron.schedule('process-sms-retries', '* * * * *', 'select sms.invoke_process_retries()');

-- =================================================================================================
-- Grants (everything else here is its owner's)
-- =================================================================================================

grant execute on function
  sms.enqueue_retry(uuid, text, text, timestamptz, uuid, integer, text, uuid, integer, text,
                    integer, boolean),
  sms.claim_due_retries(integer, integer, text),
  sms.complete_retry(uuid, text),
  sms.fail_retry(uuid, text, text, timestamptz, integer, boolean, boolean),
  sms.reschedule_retry(uuid, text, timestamptz, text),
  sms.cancel_retry(uuid, text, text),
  sms.reserve_send_slot(text, integer, numeric, integer, integer, text, integer),
  sms.retry_send_context(uuid, text, integer, timestamptz),
  sms.start_retry_send(uuid, text, integer, timestamptz, text, jsonb),
  sms.finish_retry_send(uuid, text, text, text, integer),
  sms.start_worker_heartbeat(text, text),
  sms.finish_worker_heartbeat(bigint, integer, integer, integer, integer, integer, text),
  sms.invoke_process_retries()
  to service_role;
