-- A worker finishes the rows of a claimed batch one by one (sms.complete_retry right after each
-- send, as process-retries does), only the rows it holds; the claim keeps its semantics on both
-- of its paths (no lease expired: pending rows only; some expired: pending rows and expired
-- leases by due time, exhausted leases failed first).
begin;
select plan(33);

-- Start from no SMS traffic (a local stack may have some); all of it comes back at the rollback.
delete from public.send_logs where channel = 'sms';

create function pg_temp.enqueue(customer uuid, due timestamptz, max_attempts int default 5)
returns uuid language sql as $$
  select retry_id from sms.enqueue_retry(customer, 'retry', 'rate_limited', due,
                                         p_max_attempts => max_attempts)
$$;
create function pg_temp.claim(n int, worker text) returns uuid[] language sql as $$
  select coalesce(array_agg(id), '{}') from sms.claim_due_retries(n, 30, worker)
$$;
-- Completes each id in turn (a repeated id is tried again); the ids that were completed.
create function pg_temp.complete(ids uuid[], worker text) returns uuid[] language sql as $$
  select coalesce(array_agg(t.id order by t.id), '{}')
    from unnest(ids) with ordinality as t(id, n)
   where sms.complete_retry(t.id, worker)
$$;
create function pg_temp.sorted(ids uuid[]) returns uuid[] language sql as $$
  select coalesce(array_agg(x order by x), '{}') from unnest(ids) as x
$$;
create function pg_temp.expire(retry uuid, ago interval default interval '1 second')
returns void language sql as $$
  update sms.retry_queue set lease_expires_at = now() - ago where id = retry
$$;
create function pg_temp.row_of(retry uuid) returns sms.retry_queue language sql as $$
  select * from sms.retry_queue where id = retry
$$;
create function pg_temp.log_of(retry uuid) returns public.send_logs language sql as $$
  select l.* from public.send_logs l join sms.retry_queue q on q.send_log_id = l.id
   where q.id = retry
$$;

-- Finishing a batch row by row -------------------------------------------------------------------
-- (The due rows are one business's, so the fair claim takes them oldest first.)
create temp table b as select
  pg_temp.enqueue('a0000000-0000-4000-8000-000000000001', now() - interval '5 minutes') as r1,
  pg_temp.enqueue('a0000000-0000-4000-8000-000000000002', now() - interval '4 minutes') as r2,
  pg_temp.enqueue('a0000000-0000-4000-8000-000000000008', now() - interval '3 minutes') as r3,
  pg_temp.enqueue('a0000000-0000-4000-8000-000000000001', now() - interval '2 minutes') as r4,
  pg_temp.enqueue('b0000000-0000-4000-8000-000000000002', now() + interval '1 hour') as r5;

select is(pg_temp.claim(3, 'w1'), (select array[r1, r2, r3] from b),
  'w1 holds the three oldest due rows');
select is(pg_temp.claim(3, 'w2'), (select array[r4] from b), 'w2 the fourth');

select is(
  pg_temp.complete((select array[r1, r2, r4, r5, gen_random_uuid(), r1] from b), 'w1'),
  (select pg_temp.sorted(array[r1, r2]) from b),
  'row by row, the worker completes the rows it holds, each once');
select is(
  (select array_agg(row(q.status, q.lease_expires_at, q.finished_at is not null)::text
                    order by q.id)
     from sms.retry_queue q where q.id in (select r1 from b union all select r2 from b)),
  array['(completed,,t)', '(completed,,t)'], 'completed: lease cleared, finished_at set');
select is((select row(status, locked_by)::text from pg_temp.row_of((select r3 from b))),
  '(processing,w1)', 'a held row that was not asked for is left alone');
select is((select row(status, locked_by)::text from pg_temp.row_of((select r4 from b))),
  '(processing,w2)', 'another worker''s row is left alone');
select is((select status from pg_temp.row_of((select r5 from b))), 'pending',
  'a pending row is not completed');
select is((select status from pg_temp.log_of((select r1 from b))), 'deferred',
  'the send log is not touched (the sender records its outcome)');

select is(pg_temp.complete((select array[r1, r2] from b), 'w1'), '{}'::uuid[],
  'a row completes once');
select is(pg_temp.complete('{}'::uuid[], 'w1'), '{}'::uuid[], 'an empty batch completes nothing');
select is(pg_temp.complete(null, 'w1'), '{}'::uuid[], 'no ids, nothing');
select is(pg_temp.complete((select array[r3] from b), null), '{}'::uuid[], 'no worker, nothing');

-- A lease that expired and was reclaimed belongs to the new holder.
select pg_temp.expire((select r3 from b));
select is(pg_temp.claim(10, 'w3'), (select array[r3] from b), 'w3 reclaims the expired row');
select is(pg_temp.complete((select array[r3] from b), 'w1'), '{}'::uuid[],
  'the worker that lost the lease cannot complete it');
select is(pg_temp.complete((select array[r3] from b), 'w3'), (select array[r3] from b),
  'the new holder can');
select ok(sms.complete_retry((select r4 from b), 'w2'),
  'the other worker completes the row it holds');

select ok(not has_function_privilege('anon', 'sms.complete_retry(uuid, text)',
  'execute'), 'anon cannot complete retries');
select ok(not has_function_privilege('authenticated', 'sms.complete_retry(uuid, text)',
  'execute'), 'a signed-in user cannot complete retries');
select ok(has_function_privilege('service_role', 'sms.complete_retry(uuid, text)',
  'execute'), 'service_role can');
select ok(
  (select p.prosecdef and p.proconfig = array['search_path=""'] from pg_proc p
    where p.oid = 'sms.complete_retry(uuid, text)'::regprocedure),
  'security definer with search_path = ''''');

-- The claim's paths -------------------------------------------------------------------------------
select is(pg_temp.claim(10, 'w4'), '{}'::uuid[], 'nothing due (the one left is in an hour)');
select is(current_setting('plan_cache_mode'), 'auto',
  'a claim leaves plan_cache_mode as it was (the function sets it for itself only)');

-- A lease that expired before a pending row was due is handed out first.
create temp table e as select
  pg_temp.enqueue('a0000000-0000-4000-8000-000000000001', now() - interval '1 hour') as x1,
  pg_temp.enqueue('a0000000-0000-4000-8000-000000000002', now() - interval '2 minutes') as p1;
select is(pg_temp.claim(1, 'w5'), (select array[x1] from e), 'x1 is claimed');
select pg_temp.expire((select x1 from e), interval '10 minutes');
select is(pg_temp.claim(1, 'w6'), (select array[x1] from e),
  'its lease expired 10 minutes ago, before p1 was due: x1 again, not p1');
select is(
  (select row(status, attempts, locked_by, outcome_uncertain, last_error)::text
     from pg_temp.row_of((select x1 from e))),
  '(processing,2,w6,f,"lease of w5 expired after attempt 1")',
  'reclaimed: attempt counted, new holder, not uncertain (its log was never marked sending)');
select is(current_setting('plan_cache_mode'), 'auto', 'the rare path leaves it as it was too');
select is(pg_temp.claim(1, 'w6'), (select array[p1] from e), 'then p1');

-- An exhausted lease is failed, not handed out, and does not take a place in the batch.
create temp table x as select
  pg_temp.enqueue('b0000000-0000-4000-8000-000000000001', now() - interval '1 hour', 1) as spent,
  pg_temp.enqueue('b0000000-0000-4000-8000-000000000002', now() - interval '1 minute') as p2;
select is(pg_temp.claim(1, 'w7'), (select array[spent] from x), 'a one-attempt row is claimed');
select sms.record_status_event(null, 'sending', p_source => 'system',
  p_send_log_id => (select send_log_id from pg_temp.row_of((select spent from x))));
select pg_temp.expire((select spent from x), interval '10 minutes');
select is(pg_temp.claim(1, 'w8'), (select array[p2] from x),
  'a batch of one still gets the pending row: the exhausted lease took no place');
select is(
  (select row(status, attempts, lease_expires_at, finished_at is not null, last_error)::text
     from pg_temp.row_of((select spent from x))),
  '(failed,1,,t,"lease of w7 expired after attempt 1")', 'the exhausted row ends failed');
select is((select status from pg_temp.log_of((select spent from x))), 'failed',
  'and so does its send log');

-- Every row is in a consistent state ------------------------------------------------------------------
select is(
  (select count(*)::int from sms.retry_queue
    where (status = 'processing') <> (lease_expires_at is not null)),
  0, 'only processing rows hold a lease');
select is(
  (select count(*)::int from sms.retry_queue where attempts > max_attempts), 0,
  'no row exceeds its max attempts');

select * from finish();
rollback;
