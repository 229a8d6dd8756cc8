-- send-sms idempotency keys (claim, complete, release; per business) and worker heartbeats with
-- the worker_health view.
begin;
select plan(25);

-- Idempotency --------------------------------------------------------------------------------------
select is(
  (select row(claimed, state, request_hash, response_status)::text
     from public.claim_sms_idempotency_key('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'order-42',
            'hash-1', '11111111-1111-4111-8111-111111111111')),
  '(t,in_progress,hash-1,)', 'the first request claims the key');
select is(
  (select row(claimed, state, request_hash)::text
     from public.claim_sms_idempotency_key('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'order-42',
            'hash-1')),
  '(f,in_progress,hash-1)', 'a repeat while the first runs sees it in progress');
select is(
  (select claimed from public.claim_sms_idempotency_key('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb',
     'order-42')),
  true, 'keys are per business: B may use the same key');
create temp table l as
  select public.create_sms_send_log('a0000000-0000-4000-8000-000000000001', 1, 'GSM-7') as log;
select ok(
  public.complete_sms_idempotency_key('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'order-42', 200,
    '{"status": "sent", "segments": 1}', (select (log).id from l)),
  'the first answer is stored');
select is(
  (select row(claimed, state, response_status, response_body ->> 'status', send_log_id)::text
     from public.claim_sms_idempotency_key('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'order-42')),
  row(false, 'completed', 200, 'sent', (select (log).id from l))::text,
  'a repeat gets the first answer back');
select ok(
  not public.complete_sms_idempotency_key('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'order-42', 500,
    '{}'),
  'the first answer is never overwritten');
select ok(not public.release_sms_idempotency_key('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'order-42'),
  'a completed key cannot be released');
select public.claim_sms_idempotency_key('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'order-43');
select ok(public.release_sms_idempotency_key('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'order-43'),
  'an in-progress key can be given back');
select is(
  (select claimed from public.claim_sms_idempotency_key('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
     'order-43')),
  true, 'and claimed afresh');
select throws_ok(
  $$select public.claim_sms_idempotency_key('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'order-44',
      null, '22222222-2222-4222-8222-222222222222')$$,
  'P0002', 'customer_not_found', 'a member of B cannot claim keys of A');
select throws_ok(
  $$select public.claim_sms_idempotency_key('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '')$$,
  '23514', null, 'an empty key is refused');
select throws_ok(
  $$update public.sms_idempotency_keys set state = 'completed'
     where idempotency_key = 'order-43'$$,
  '23514', null, 'a completed key always carries its answer');

-- Heartbeats ---------------------------------------------------------------------------------------
delete from public.worker_heartbeats;
select is(
  (select row(worker, last_success_at, stale)::text from public.worker_health),
  '(process-retries,,t)', 'a worker that never ran is listed, and stale');

create temp table hb as select public.start_worker_heartbeat('process-retries', 'req-1') as id;
select is(
  (select row(status, worker_id, started_at = now(), finished_at)::text
     from public.worker_heartbeats where id = (select id from hb)),
  '(running,req-1,t,)', 'a run starts running');
select is((select row(last_run_status, stale)::text from public.worker_health), '(running,t)',
  'a running run is not yet a success');
select is(
  (select row(status, claimed, sent, deferred, failed, skipped, error)::text
     from public.finish_worker_heartbeat((select id from hb), 5, 3, 1, 1, 0)),
  '(succeeded,5,3,1,1,0,)', 'a run finishes with its counts');
select is(
  (select row(last_success_at, last_success_age_seconds, last_run_status, stale)::text
     from public.worker_health),
  row(now(), 0, 'succeeded', false)::text, 'the last success is now: not stale');
select throws_ok($$select public.finish_worker_heartbeat((select id from hb))$$, 'P0002', null,
  'a run finishes once');

create temp table hb2 as select public.start_worker_heartbeat() as id;
select is(
  (select row(status, error)::text
     from public.finish_worker_heartbeat((select id from hb2), p_error => 'db timeout')),
  '(failed,"db timeout")', 'a run with an error is failed');
select is(
  (select row(last_success_at, last_run_status, last_run_error, stale)::text
     from public.worker_health),
  row(now(), 'failed', 'db timeout', false)::text,
  'the view shows the last run''s error and still the last success');

-- A success 10 minutes ago and nothing since: stale.
update public.worker_heartbeats set started_at = now() - interval '10 minutes',
  finished_at = now() - interval '10 minutes';
select is(
  (select row(last_success_age_seconds, stale)::text from public.worker_health),
  '(600,t)', 'ten minutes without a success is stale');
select is((select last_success_age from public.worker_health), interval '10 minutes',
  'the age is shown as an interval too');

-- Old rows are pruned when a run finishes.
insert into public.worker_heartbeats (worker, started_at, finished_at, status)
values ('process-retries', now() - interval '15 days', now() - interval '15 days', 'succeeded'),
       ('other-worker', now() - interval '15 days', now() - interval '15 days', 'succeeded');
select public.finish_worker_heartbeat(public.start_worker_heartbeat());
select is(
  (select count(*)::int from public.worker_heartbeats
    where worker = 'process-retries' and started_at < now() - interval '14 days'),
  0, 'runs older than 14 days are pruned');
select is(
  (select count(*)::int from public.worker_heartbeats where worker = 'other-worker'), 1,
  'only the finishing worker''s rows');
select throws_ok($$update public.worker_heartbeats set status = 'running'$$, '23514', null,
  'a finished run is not running');

select * from finish();
rollback;
