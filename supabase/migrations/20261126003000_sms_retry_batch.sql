-- The retry queue's hot path, made cheaper without changing what it does (docs/performance.md,
-- "claim"): a claim and the finishing of its batch are two calls, each one planned statement.
--
-- * claim_due_sms_retries: same signature and semantics (pending due rows and expired leases,
--   oldest due first; every claim counts an attempt; an expired lease at max_attempts ends failed
--   with its send log; a reclaimed row whose log is 'sending' without a sid is flagged
--   outcome_uncertain; SKIP LOCKED). What changed is how it runs:
--   - the usual case (no lease has expired) is one statement over the pending rows only; the
--     union with expired leases and the exhausted-lease failing run only when an expired lease
--     exists (one probe of sms_retry_queue_lease_idx decides);
--   - no plpgsql row loop and no second select of the claimed ids: the claiming statement returns
--     the rows itself;
--   - the claiming statement keeps one cached generic plan per connection instead of being
--     planned again on every call (see the function's comment);
--   - outcome_uncertain reads the send log by primary key, only for reclaimed rows (the EXISTS it
--     replaces could be planned as a hashed scan of every 'sending' log).
-- * complete_sms_retries(ids, worker): finishes a whole batch in one UPDATE, where
--   complete_sms_retry takes one row per call.

-- Claim ----------------------------------------------------------------------------------------

create or replace function public.claim_due_sms_retries(
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

-- Finish a batch -------------------------------------------------------------------------------

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

-- Only service_role calls the queue (create or replace keeps the claim's grants; stated again so
-- this file shows them).
revoke execute on function
  public.claim_due_sms_retries(integer, integer, text),
  public.complete_sms_retries(uuid[], text)
  from public, anon, authenticated;
grant execute on function
  public.claim_due_sms_retries(integer, integer, text),
  public.complete_sms_retries(uuid[], text)
  to service_role;
