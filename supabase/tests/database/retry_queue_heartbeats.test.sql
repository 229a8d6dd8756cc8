-- Worker heartbeats and the worker_health view: a run starts and finishes once, a drain that
-- stopped succeeding is stale, old runs are pruned.
begin;
select plan(13);

-- Heartbeats ---------------------------------------------------------------------------------------
delete from sms.worker_heartbeats;
select is(
  (select row(worker, last_success_at, stale)::text from sms.worker_health),
  '(process-retries,,t)', 'a worker that never ran is listed, and stale');

create temp table hb as select sms.start_worker_heartbeat('process-retries', 'req-1') as id;
select is(
  (select row(status, worker_id, started_at = now(), finished_at)::text
     from sms.worker_heartbeats where id = (select id from hb)),
  '(running,req-1,t,)', 'a run starts running');
select is((select row(last_run_status, stale)::text from sms.worker_health), '(running,t)',
  'a running run is not yet a success');
select is(
  (select row(status, claimed, sent, deferred, failed, skipped, error)::text
     from sms.finish_worker_heartbeat((select id from hb), 5, 3, 1, 1, 0)),
  '(succeeded,5,3,1,1,0,)', 'a run finishes with its counts');
select is(
  (select row(last_success_at, last_success_age_seconds, last_run_status, stale)::text
     from sms.worker_health),
  row(now(), 0, 'succeeded', false)::text, 'the last success is now: not stale');
select throws_ok($$select sms.finish_worker_heartbeat((select id from hb))$$, 'P0002', null,
  'a run finishes once');

create temp table hb2 as select sms.start_worker_heartbeat() as id;
select is(
  (select row(status, error)::text
     from sms.finish_worker_heartbeat((select id from hb2), p_error => 'db timeout')),
  '(failed,"db timeout")', 'a run with an error is failed');
select is(
  (select row(last_success_at, last_run_status, last_run_error, stale)::text
     from sms.worker_health),
  row(now(), 'failed', 'db timeout', false)::text,
  'the view shows the last run''s error and still the last success');

-- A success 10 minutes ago and nothing since: stale.
update sms.worker_heartbeats set started_at = now() - interval '10 minutes',
  finished_at = now() - interval '10 minutes';
select is(
  (select row(last_success_age_seconds, stale)::text from sms.worker_health),
  '(600,t)', 'ten minutes without a success is stale');
select is((select last_success_age from sms.worker_health), interval '10 minutes',
  'the age is shown as an interval too');

-- Old rows are pruned when a run finishes.
insert into sms.worker_heartbeats (worker, started_at, finished_at, status)
values ('process-retries', now() - interval '15 days', now() - interval '15 days', 'succeeded'),
       ('other-worker', now() - interval '15 days', now() - interval '15 days', 'succeeded');
select sms.finish_worker_heartbeat(sms.start_worker_heartbeat());
select is(
  (select count(*)::int from sms.worker_heartbeats
    where worker = 'process-retries' and started_at < now() - interval '14 days'),
  0, 'runs older than 14 days are pruned');
select is(
  (select count(*)::int from sms.worker_heartbeats where worker = 'other-worker'), 1,
  'only the finishing worker''s rows');
select throws_ok($$update sms.worker_heartbeats set status = 'running'$$, '23514', null,
  'a finished run is not running');

select * from finish();
rollback;
