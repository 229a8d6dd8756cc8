-- sms.retry_queue: enqueue defers atomically; the claim hands out only due rows, oldest first,
-- with a lease, reclaims expired leases and respects max attempts; fail backs off and ends in
-- failed; complete, reschedule and cancel need the lease.
begin;
select plan(61);

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
create function pg_temp.expire(retry uuid) returns void language sql as $$
  update sms.retry_queue set lease_expires_at = now() - interval '1 second'
   where id = retry
$$;
create function pg_temp.make_due(retry uuid) returns void language sql as $$
  update sms.retry_queue set scheduled_for = now() - interval '1 second' where id = retry
$$;
create function pg_temp.row_of(retry uuid) returns sms.retry_queue language sql as $$
  select * from sms.retry_queue where id = retry
$$;
create function pg_temp.log_of(retry uuid) returns public.send_logs language sql as $$
  select l.* from public.send_logs l join sms.retry_queue q on q.send_log_id = l.id
   where q.id = retry
$$;

-- Enqueue --------------------------------------------------------------------------------------
create temp table q_new as
  select * from sms.enqueue_retry('a0000000-0000-4000-8000-000000000001', 'Hello later',
    'quiet_hours', now() + interval '10 hours', p_segments => 1, p_encoding => 'GSM-7',
    p_acting_user => '11111111-1111-4111-8111-111111111111');
select is(
  (select row(l.channel, l.status, l.to_phone, l.segments)::text
     from public.send_logs l where l.id = (select send_log_id from q_new)),
  '(sms,deferred,+12125550101,1)', 'enqueue writes a deferred SMS log');
select is(
  (select row(q.status, q.reason, q.body, q.attempts, q.max_attempts, q.business_id)::text
     from sms.retry_queue q where q.id = (select retry_id from q_new)),
  '(pending,quiet_hours,"Hello later",0,5,aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa)',
  'and a pending retry row for it, in the same call');
select is((select scheduled_for from q_new), now() + interval '10 hours',
  'scheduled for the time asked');
select throws_ok(
  $$select sms.enqueue_retry('a0000000-0000-4000-8000-000000000004', 'x', 'quiet_hours')$$,
  'P0001', 'opted_out', 'no retry for an opted-out customer');
select throws_ok(
  $$select sms.enqueue_retry('a0000000-0000-4000-8000-000000000003', 'x', 'quiet_hours')$$,
  'P0001', 'no_consent', 'no retry for a customer who never opted in');
select throws_ok(
  $$select sms.enqueue_retry('a0000000-0000-4000-8000-000000000001', 'x', 'quiet_hours',
      p_acting_user => '22222222-2222-4222-8222-222222222222')$$,
  'P0002', 'customer_not_found', 'a member of B cannot queue for A''s customer');
select throws_ok(
  $$select sms.enqueue_retry('a0000000-0000-4000-8000-000000000001', 'x', 'later')$$,
  '23514', null, 'reason is one of the four');
select throws_ok(
  $$select sms.enqueue_retry('a0000000-0000-4000-8000-000000000001', '', 'quiet_hours')$$,
  '23514', null, 'an empty body is refused');
select throws_ok(
  $$select sms.enqueue_retry('a0000000-0000-4000-8000-000000000001', 'x', 'quiet_hours',
      p_send_log_id => (select send_log_id from q_new))$$,
  '23505', null, 'one retry row per send log');

-- Provider unavailable after the log was written: the same log goes back to deferred.
create temp table l_sending as
  select sms.create_send_log('a0000000-0000-4000-8000-000000000008', 1, 'GSM-7') as log;
create temp table q_provider as
  select * from sms.enqueue_retry('a0000000-0000-4000-8000-000000000008', 'Twilio 503',
    'provider_unavailable', p_send_log_id => (select (log).id from l_sending),
    p_last_error => 'HTTP 503', p_last_error_code => 20503);
select is((select status from public.send_logs where id = (select (log).id from l_sending)),
  'deferred', 'a log Twilio never accepted goes back to deferred');
select is((select scheduled_for from q_provider), now(), 'due now by default');
create temp table l_accepted as
  select sms.create_send_log('a0000000-0000-4000-8000-000000000002', 1, 'GSM-7') as log;
select sms.record_send_result((select (log).id from l_accepted),
  'SM50000000000000000000000000000001', 'queued');
select throws_ok(
  $$select sms.enqueue_retry('a0000000-0000-4000-8000-000000000002', 'again',
      'provider_unavailable', p_send_log_id => (select (log).id from l_accepted))$$,
  'P0001', 'already_sent', 'a message Twilio accepted is never queued again');

-- Claim: only due rows, oldest first, with a lease ------------------------------------------------
-- (One business's rows here: between businesses the claim takes turns, retry_queue_fair.test.sql.)
update sms.retry_queue set scheduled_for = now() + interval '1 hour'
 where id = (select retry_id from q_provider);
create temp table r as select
  pg_temp.enqueue('b0000000-0000-4000-8000-000000000001', now() - interval '3 minutes') as r1,
  pg_temp.enqueue('b0000000-0000-4000-8000-000000000002', now() - interval '2 minutes') as r2;

select is(pg_temp.claim(2, 'w1'), (select array[r1, r2] from r),
  'a batch of 2 takes the two oldest due rows, oldest first');
select is((select row(status, attempts, locked_by)::text from pg_temp.row_of((select r1 from r))),
  '(processing,1,w1)', 'a claimed row is processing, held by its worker, attempt 1');
select is((select lease_expires_at from pg_temp.row_of((select r1 from r))),
  now() + interval '30 seconds', 'its lease runs lease_seconds from now');
select is((select locked_at from pg_temp.row_of((select r1 from r))), now(), 'locked_at is set');
select pg_temp.make_due((select retry_id from q_provider));
select is(pg_temp.claim(10, 'w2'), array[(select retry_id from q_provider)],
  'the next claim gets the remaining due row only');
select is(pg_temp.claim(10, 'w9'), '{}'::uuid[],
  'nothing else is due: held rows and future rows are not handed out');

-- Expired leases are reclaimed ----------------------------------------------------------------------
select sms.record_status_event(null, 'sending', p_source => 'system',
  p_send_log_id => (select send_log_id from pg_temp.row_of((select r1 from r))));
select pg_temp.expire((select r1 from r));
select is(pg_temp.claim(10, 'w3'), array[(select r1 from r)],
  'a row whose lease expired is claimed again');
select is(
  (select row(status, attempts, locked_by, outcome_uncertain, last_error)::text
     from pg_temp.row_of((select r1 from r))),
  '(processing,2,w3,t,"lease of w1 expired after attempt 1")',
  'the reclaim counts an attempt, moves the lease, and flags a possibly-sent message');

-- Complete needs the lease.
select ok(not sms.complete_retry((select r2 from r), 'w2'),
  'another worker cannot complete a row');
select ok(sms.complete_retry((select r2 from r), 'w1'), 'the holder completes it');
select is(
  (select row(status, lease_expires_at, finished_at is not null)::text
     from pg_temp.row_of((select r2 from r))),
  '(completed,,t)', 'completed: lease cleared, finished_at set');
select ok(not sms.complete_retry((select r2 from r), 'w1'), 'a row completes once');
select ok(not sms.complete_retry((select r1 from r), 'w1'),
  'a worker whose lease was reclaimed cannot complete');

-- Fail: backoff, then failed --------------------------------------------------------------------------
create temp table f1 as
  select * from sms.fail_retry((select retry_id from q_provider), 'w2', 'HTTP 503',
                               p_error_code => 20503);
select is((select row(status, attempts, last_error, last_error_code, lease_expires_at)::text
             from f1),
  '(pending,1,"HTTP 503",20503,)', 'a failed attempt goes back to pending');
select is((select scheduled_for from f1), now() + interval '1 minute',
  'after attempt 1 the backoff is 1 minute');
select pg_temp.make_due((select retry_id from q_provider));
select is(pg_temp.claim(10, 'w2'), array[(select retry_id from q_provider)],
  'due again, it is claimed again');
select sms.record_status_event(null, 'sending', p_source => 'system',
  p_send_log_id => (select send_log_id from q_provider));
select is(
  (select scheduled_for from sms.fail_retry((select retry_id from q_provider), 'w2',
                                             'HTTP 503')),
  now() + interval '2 minutes', 'after attempt 2 the backoff is 2 minutes');
select is((select status from pg_temp.log_of((select retry_id from q_provider))), 'deferred',
  'the log that was sending goes back to deferred (Twilio never took it)');
select pg_temp.make_due((select retry_id from q_provider));
select pg_temp.claim(10, 'w2');
select is(
  (select scheduled_for from sms.fail_retry((select retry_id from q_provider), 'w2',
                                             'rate limited', now() + interval '7 hours')),
  now() + interval '7 hours', 'an explicit retry_at wins over the backoff');
select is((select attempts from pg_temp.row_of((select retry_id from q_provider))), 3,
  'three claims, three attempts');

create temp table r_max as
  select pg_temp.enqueue('a0000000-0000-4000-8000-000000000001', now() - interval '1 minute', 1)
    as id;
select is(pg_temp.claim(10, 'w4'), array[(select id from r_max)], 'a one-attempt row is claimed');
create temp table f_max as
  select * from sms.fail_retry((select id from r_max), 'w4', 'boom', p_error_code => 30001);
select is((select row(status, attempts, finished_at is not null)::text from f_max), '(failed,1,t)',
  'failing the last attempt ends the row failed');
select is(
  (select row(status, error, error_code)::text from pg_temp.log_of((select id from r_max))),
  '(failed,boom,30001)', 'and its send log failed, with the error');

create temp table r_perm as
  select pg_temp.enqueue('a0000000-0000-4000-8000-000000000001', now() - interval '1 minute')
    as id;
select pg_temp.claim(10, 'w5');
select is(
  (select status from sms.fail_retry((select id from r_perm), 'w5', 'invalid number',
                                     p_error_code => 21211, p_permanent => true)),
  'failed', 'a permanent error fails the row at once');
select is((select attempts from pg_temp.row_of((select id from r_perm))), 1,
  'with attempts left unused');

select is(
  (select count(*)::int from sms.fail_retry((select r1 from r), 'w1', 'late')), 0,
  'a worker that lost its lease cannot fail the row');
select is((select status from pg_temp.row_of((select r1 from r))), 'processing',
  'the row stays with its holder');

create temp table r_sent as
  select pg_temp.enqueue('a0000000-0000-4000-8000-000000000002', now() - interval '1 minute')
    as id;
select pg_temp.claim(10, 'w6');
select sms.record_send_result((select id from pg_temp.log_of((select id from r_sent))),
  'SM60000000000000000000000000000001', 'queued');
select throws_ok(
  $$select * from sms.fail_retry((select id from r_sent), 'w6', 'timeout')$$,
  'P0001', 'already_sent', 'a row whose message Twilio accepted is never put back to pending');
select ok(sms.complete_retry((select id from r_sent), 'w6'), 'it is completed instead');

-- A row that keeps crashing its workers ends failed -----------------------------------------------
create temp table r_crash as
  select pg_temp.enqueue('a0000000-0000-4000-8000-000000000009', now() - interval '1 minute', 3)
    as id;
select is(pg_temp.claim(10, 'crash-1'), array[(select id from r_crash)], 'crash loop: attempt 1');
select pg_temp.expire((select id from r_crash));
select is(pg_temp.claim(10, 'crash-2'), array[(select id from r_crash)], 'crash loop: attempt 2');
select pg_temp.expire((select id from r_crash));
select is(pg_temp.claim(10, 'crash-3'), array[(select id from r_crash)], 'crash loop: attempt 3');
select pg_temp.expire((select id from r_crash));
select is(pg_temp.claim(10, 'crash-4'), '{}'::uuid[],
  'after max_attempts an expired row is not handed out again');
select is(
  (select row(status, attempts, lease_expires_at, finished_at is not null, last_error)::text
     from pg_temp.row_of((select id from r_crash))),
  '(failed,3,,t,"lease of crash-3 expired after attempt 3")', 'it ends failed, not looping');
select is((select status from pg_temp.log_of((select id from r_crash))), 'failed',
  'and so does its send log');

-- Reschedule: not a failure, no attempt used --------------------------------------------------------
create temp table r_res as
  select pg_temp.enqueue('b0000000-0000-4000-8000-000000000001', now() - interval '1 minute')
    as id;
select pg_temp.claim(10, 'w10');
select is(
  (select count(*)::int from sms.reschedule_retry((select id from r_res), 'w11',
                                                  now() + interval '1 hour')),
  0, 'another worker cannot reschedule');
select is(
  (select row(status, attempts, reason, lease_expires_at)::text
     from sms.reschedule_retry((select id from r_res), 'w10', now() + interval '1 hour',
                               'frequency_cap')),
  '(pending,0,frequency_cap,)', 'rescheduled: pending, the attempt given back, new reason');
select is((select scheduled_for from pg_temp.row_of((select id from r_res))),
  now() + interval '1 hour', 'at the time asked');

-- Cancel ------------------------------------------------------------------------------------------
create temp table r_can as
  select pg_temp.enqueue('b0000000-0000-4000-8000-000000000002', now() - interval '1 minute')
    as id;
select pg_temp.claim(10, 'w12');
select ok(not sms.cancel_retry((select id from r_can), 'w13', 'opted_out'),
  'another worker cannot cancel');
select ok(sms.cancel_retry((select id from r_can), 'w12', 'opted_out'),
  'the holder cancels');
select is(
  (select row(q.status, q.last_error, l.status)::text
     from pg_temp.row_of((select id from r_can)) q, pg_temp.log_of((select id from r_can)) l),
  '(cancelled,opted_out,canceled)', 'cancelled, and its send log canceled');
select ok(sms.cancel_retry((select retry_id from q_new), null, 'removed'),
  'a pending row can be cancelled without a lease');
select ok(not sms.cancel_retry((select retry_id from q_new), null, 'removed'),
  'but only once');

-- Arguments -----------------------------------------------------------------------------------------
select throws_ok($$select sms.claim_due_retries(0, 30, 'w')$$, '22023', null,
  'batch_size at least 1');
select throws_ok($$select sms.claim_due_retries(1001, 30, 'w')$$, '22023', null,
  'batch_size at most 1000');
select throws_ok($$select sms.claim_due_retries(10, 0, 'w')$$, '22023', null,
  'lease_seconds at least 1');
select throws_ok($$select sms.claim_due_retries(10, 30, '')$$, '22023', null,
  'a worker name is required');

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
