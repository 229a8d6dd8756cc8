-- A proposal from bench/claim.ts (not a migration): the queue calls the claim benchmark can run
-- with `--proposal`, installed into a scratch schema `bench_proposal` for the run and dropped
-- afterwards. See docs/performance.md ("claim") for what they gain and why.
--
-- 1. claim_due_sms_retries: the same rows, lease and attempt counting, but one statement that
--    claims and returns the rows (no plpgsql row loop appending to an array, no second select of
--    the claimed ids). The rare "lease expired after the last attempt" rows are failed by their
--    own statement first, so they no longer count against the batch.
-- 2. complete_sms_retries(ids, worker): finishes a batch in one UPDATE, as pg-boss's complete
--    does, instead of one security-definer function call per row.

-- Claim: the rare exhausted-lease case first (its own statement), then one statement that
-- claims and returns the rows (no row loop, no re-select).
create function bench_proposal.claim_due_sms_retries(batch_size integer, lease_seconds integer, worker text)
returns setof public.sms_retry_queue
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row public.sms_retry_queue;
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

  -- Expired leases that used every attempt end failed (with their send log).
  for v_row in
    update public.sms_retry_queue q
       set status = 'failed', lease_expires_at = null, finished_at = now(), updated_at = now(),
           last_error = format('lease of %s expired after attempt %s', q.locked_by, q.attempts)
      from (select d.id from public.sms_retry_queue d
             where d.status = 'processing' and d.lease_expires_at <= now()
               and d.attempts >= d.max_attempts
             for update skip locked) x
     where q.id = x.id
    returning q.*
  loop
    perform public.sms_end_send_log(v_row.send_log_id, 'failed', v_row.last_error, null);
  end loop;

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
               or (q.status = 'processing' and exists (
                     select 1 from public.send_logs l
                      where l.id = q.send_log_id and l.status = 'sending'
                        and (l.provider_message_id ->> 'twilio_sid') is null)),
             updated_at = now()
        from picked
       where q.id = picked.id
      returning q.*
    )
    select c.* from claimed c order by c.scheduled_for, c.id;
end
$$;

create function bench_proposal.complete_sms_retries(p_retry_ids uuid[], p_worker text)
returns setof uuid
language sql
security definer
set search_path = ''
as $$
  update public.sms_retry_queue q
     set status = 'completed', lease_expires_at = null, finished_at = now(), updated_at = now()
   where q.id = any (p_retry_ids) and q.status = 'processing' and q.locked_by = p_worker
  returning q.id
$$;
