-- send-sms's in-flight guard: the 'sending' log sms.start_send writes comes with a retry row held
-- by 'send-sms', so a send-sms that dies before Twilio's answer is stored leaves a row that comes
-- back to a worker (outcome uncertain) instead of a log 'sending' forever. Twilio's answer removes
-- the guard or turns it into the retry; an opt-out does not cancel a message that may be out.
begin;
select plan(22);

delete from public.send_logs where channel = 'sms';

-- Starts a send now for a customer, as send-sms does (user 1111 is a member of Acme).
create function pg_temp.start(customer uuid, body text) returns uuid language sql as $$
  select send_log_id from sms.start_send(customer, '11111111-1111-4111-8111-111111111111',
    (select fingerprint from sms.send_context(customer, '11111111-1111-4111-8111-111111111111',
       now() - interval '7 days')),
    now() - interval '7 days', 1, 'GSM-7', 100, body)
$$;
create function pg_temp.guard(log uuid) returns sms.retry_queue language sql as $$
  select * from sms.retry_queue where send_log_id = log
$$;

-- Twilio answered: the guard goes with the answer ----------------------------------------------
create temp table s1 as select pg_temp.start('a0000000-0000-4000-8000-000000000001', 'one') as id;
select is((pg_temp.guard((select id from s1))).status, 'processing', 'a send is guarded');
select is((select count(*)::int from sms.claim_due_retries(10, 30, 'w1')), 0,
  'a live guard is not handed to a worker');
select sms.record_send_result((select id from s1), 'SM11111111111111111111111111111111', 'queued', 1);
select sms.release_send_guard((select id from s1));
select is((select count(*)::int from sms.retry_queue where send_log_id = (select id from s1)), 0,
  'stored with Twilio''s answer, the guard is removed');

-- Twilio could not take it: the guard becomes the retry -----------------------------------------
create temp table s2 as select pg_temp.start('a0000000-0000-4000-8000-000000000002', 'two') as id;
select lives_ok($$select * from sms.enqueue_retry('a0000000-0000-4000-8000-000000000002', 'two',
    'rate_limited', now() + interval '1 minute', (select id from s2), 1, 'GSM-7',
    '11111111-1111-4111-8111-111111111111', p_last_error_code => 20429)$$,
  'a refused send is queued on its guard');
select is((select row(g.status, g.reason, g.locked_by is null or g.status = 'pending',
                      g.outcome_uncertain, g.last_error_code)::text
             from pg_temp.guard((select id from s2)) g),
  '(pending,rate_limited,t,f,20429)', 'one row per message: the guard is now the retry');
select is((select status from public.send_logs where id = (select id from s2)), 'deferred',
  'and the log is deferred');
delete from sms.retry_queue where send_log_id = (select id from s2);

-- Timed out while the customer opted out: queued to be looked up all the same ------------------
create temp table s3 as select pg_temp.start('a0000000-0000-4000-8000-000000000001', 'three') as id;
select sms.apply_consent_change('a0000000-0000-4000-8000-000000000001', 'opted_out', 'keyword',
  p_keyword => 'STOP');
select lives_ok($$select * from sms.enqueue_retry('a0000000-0000-4000-8000-000000000001',
    'three', 'provider_unavailable', now() + interval '1 minute', (select id from s3), 1,
    'GSM-7', '11111111-1111-4111-8111-111111111111', p_outcome_uncertain => true)$$,
  'an uncertain send is queued even though its customer opted out');
select is((select row(g.status, g.outcome_uncertain)::text from pg_temp.guard((select id from s3)) g),
  '(pending,t)', 'pending, outcome uncertain');
select is((select status from public.send_logs where id = (select id from s3)), 'sending',
  'its log keeps ''sending'' until a worker has looked it up');
select is(sms.cancel_pending_retries('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '+12125550101',
             null, 'opted_out'), 0,
  'an opt-out does not cancel a message that may already be out');
select throws_ok($$select * from sms.enqueue_retry('a0000000-0000-4000-8000-000000000001',
    'more', 'provider_unavailable')$$, 'P0001', 'opted_out',
  'a certain retry is still refused for an opted-out customer');
delete from sms.retry_queue where send_log_id = (select id from s3);

-- send-sms died: the lease brings the message back, to be looked up ----------------------------
create temp table s4 as select pg_temp.start('a0000000-0000-4000-8000-000000000002', 'four') as id;
update sms.retry_queue set lease_expires_at = now() - interval '1 second'
 where send_log_id = (select id from s4);
select is((select row(c.send_log_id = (select id from s4), c.outcome_uncertain, c.attempts,
                      c.locked_by)::text
             from sms.claim_due_retries(10, 30, 'w1') c),
  '(t,t,1,w1)', 'an expired guard is reclaimed by a worker, outcome uncertain');
select sms.release_send_guard((select id from s4));
select is((pg_temp.guard((select id from s4))).locked_by, 'w1',
  'a late send-sms does not remove the worker''s row');
select is((select has_function_privilege('authenticated', 'sms.release_send_guard(uuid)',
             'execute')), false, 'the frontend cannot release a guard');

-- Twilio's answer in one statement: the result, the guard and the key's answer --------------------
create temp table s5 as select pg_temp.start('a0000000-0000-4000-8000-000000000002', 'five') as id;
select ok((select claimed from sms.claim_idempotency_key('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
  'k5', 'h5', '11111111-1111-4111-8111-111111111111')), 'the request claims its key');
select lives_ok($$select sms.finish_send((select id from s5), 'SM55555555555555555555555555555555',
    'queued', 2, 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'k5', 200, '{"status": "sent"}')$$,
  'finish_send stores Twilio''s answer');
select is((select row(provider_message_id ->> 'twilio_sid', segments, status)::text
             from public.send_logs where id = (select id from s5)),
  '(SM55555555555555555555555555555555,2,sending)',
  'the log has the sid and segments (queued ranks below sending)');
select is((select count(*)::int from sms.retry_queue where send_log_id = (select id from s5)), 0,
  'the guard is removed');
select is((select row(state, response_status, response_body ->> 'status',
                      send_log_id = (select id from s5))::text
             from sms.idempotency_keys where idempotency_key = 'k5'),
  '(completed,200,sent,t)', 'the answer is stored under the key');

-- An early callback failed the log with an error code: the caller applies its effect -----------
create temp table s6 as select pg_temp.start('a0000000-0000-4000-8000-000000000002', 'six') as id;
select sms.record_status_event('SM66666666666666666666666666666666', 'failed', 30006, 'landline');
select throws_ok(format($$select sms.finish_send(%L, 'SM66666666666666666666666666666666',
                          'queued', 1)$$, (select id from s6)),
  'P0001', 'provider_error_pending', 'an early callback''s error goes back to the caller');
select is((select row(g.status, l.provider_message_id ->> 'twilio_sid')::text
             from pg_temp.guard((select id from s6)) g
             join public.send_logs l on l.id = g.send_log_id),
  '(processing,)', 'and nothing was written');
select is((select has_function_privilege('authenticated',
             'sms.finish_send(uuid, text, text, integer, uuid, text, integer, jsonb)', 'execute')),
  false, 'the frontend cannot finish a send');

select * from finish();
rollback;
