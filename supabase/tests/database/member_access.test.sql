-- Who reaches what: a member of each business reads only that business's SMS rows in public (send
-- logs, message and consent events), nothing at all in sms (queue, idempotency keys, heartbeats),
-- writes none of them and no SMS send log; anon gets nothing; the RPCs are service_role's.
begin;
select plan(61);

-- Start from no SMS traffic (a local stack may have some); all of it comes back at the rollback.
delete from public.send_logs where channel = 'sms';

-- Rows for both businesses, written the way the functions write them (as the owner here).
select sms.create_send_log('a0000000-0000-4000-8000-000000000001', 1, 'GSM-7');
select sms.create_send_log('b0000000-0000-4000-8000-000000000001', 1, 'GSM-7');
select sms.enqueue_retry('a0000000-0000-4000-8000-000000000002', 'Acme retry',
  'quiet_hours', now() + interval '1 hour');
select sms.enqueue_retry('b0000000-0000-4000-8000-000000000002', 'Bay retry',
  'quiet_hours', now() + interval '1 hour');
select sms.apply_consent_change('a0000000-0000-4000-8000-000000000003', 'opted_in', 'api',
  p_acting_user => '11111111-1111-4111-8111-111111111111');
select sms.apply_consent_change('b0000000-0000-4000-8000-000000000003', 'opted_in', 'api',
  p_acting_user => '22222222-2222-4222-8222-222222222222');
select sms.claim_idempotency_key('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'key-a');
select sms.claim_idempotency_key('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 'key-b');
select sms.start_worker_heartbeat('process-retries', 'rls-test');
-- An early callback nobody can attribute yet: visible to no member.
select sms.record_status_event('SM' || repeat('0', 31) || '9', 'sent');

-- As the owner of Acme ---------------------------------------------------------------------------
set local role authenticated;
set local "request.jwt.claims" to
  '{"sub": "11111111-1111-4111-8111-111111111111", "role": "authenticated"}';

select is((select count(*)::int from public.send_logs where channel = 'sms'
            and business_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'), 2,
  'A reads its SMS send logs');
select is((select count(*)::int from public.send_logs
            where business_id <> 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'), 0,
  'A reads no send log of B');
select ok((select count(*) from public.sms_message_events) >= 2, 'A reads its message events');
select is((select count(*)::int from public.sms_message_events
            where business_id is distinct from 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'), 0,
  'A reads no message event of B, nor unattributed ones');
select ok((select count(*) from public.sms_consent_events) >= 1, 'A reads its consent events');
select is((select count(*)::int from public.sms_consent_events
            where business_id <> 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'), 0,
  'A reads no consent event of B');
select throws_ok($$select count(*) from sms.retry_queue$$, '42501', null,
  'A cannot read the retry queue (internal)');
select is((select count(*)::int from public.send_logs where status = 'deferred'), 1,
  'A sees its one deferred message, as its send log');
select throws_ok($$select count(*) from sms.idempotency_keys$$, '42501', null,
  'A cannot read idempotency keys (internal)');
select throws_ok($$select count(*) from sms.worker_heartbeats$$, '42501', null,
  'A cannot read worker heartbeats');
select throws_ok($$select * from sms.worker_health$$, '42501', null,
  'A cannot read worker health');

-- No direct writes to the queue, events, keys, heartbeats.
select throws_ok(
  $$insert into sms.retry_queue (business_id, customer_id, send_log_id, body, reason)
    select business_id, customer_id, id, 'x', 'quiet_hours' from public.send_logs
     where channel = 'sms' limit 1$$,
  '42501', null, 'A cannot insert into the retry queue');
select throws_ok($$update sms.retry_queue set status = 'cancelled'$$, '42501', null,
  'A cannot update the retry queue');
select throws_ok($$delete from sms.retry_queue$$, '42501', null,
  'A cannot delete from the retry queue');
select throws_ok(
  $$insert into public.sms_message_events (business_id, message_sid, source, provider_status)
    values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'SMx', 'callback', 'delivered')$$,
  '42501', null, 'A cannot insert message events');
select throws_ok($$update public.sms_message_events set error_code = 1$$, '42501', null,
  'A cannot update message events');
select throws_ok($$delete from public.sms_message_events$$, '42501', null,
  'A cannot delete message events');
select throws_ok(
  $$insert into public.sms_consent_events (business_id, customer_id, to_status, source, keyword)
    values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'a0000000-0000-4000-8000-000000000001',
            'opted_out', 'keyword', 'STOP')$$,
  '42501', null, 'A cannot insert consent events');
select throws_ok($$delete from public.sms_consent_events$$, '42501', null,
  'A cannot delete consent events');
select throws_ok(
  $$insert into sms.idempotency_keys (business_id, idempotency_key)
    values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'forged')$$,
  '42501', null, 'A cannot insert idempotency keys');
select throws_ok($$update sms.idempotency_keys set state = 'completed'$$, '42501', null,
  'A cannot update idempotency keys');
select throws_ok($$insert into sms.worker_heartbeats (worker) values ('forged')$$, '42501',
  null, 'A cannot insert heartbeats');

-- SMS send logs: read yes, write no (email logs as before).
select throws_ok(
  $$insert into public.send_logs (business_id, channel, customer_id, to_phone, status)
    values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'sms',
            'a0000000-0000-4000-8000-000000000001', '+12125550101', 'delivered')$$,
  '42501', null, 'A cannot insert an SMS send log directly');
with changed as (
  update public.send_logs set status = 'delivered' where channel = 'sms' returning 1)
select is((select count(*)::int from changed), 0, 'A cannot update an SMS send log directly');
select throws_ok(
  $$update public.send_logs set channel = 'sms', to_phone = '+12125550101'
     where id = 'e0000000-0000-4000-8000-000000000001'$$,
  '23514', null, 'A cannot turn an email log into an SMS log');
select lives_ok(
  $$insert into public.send_logs (business_id, customer_id, status, subject, provider_message_id)
    values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'a0000000-0000-4000-8000-000000000001',
            'queued', 'Hello', '{"resend_id": "re_new"}')$$,
  'A still writes email send logs');
select throws_ok(
  $$insert into public.send_logs (business_id, customer_id, status)
    values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'b0000000-0000-4000-8000-000000000001',
            'queued')$$,
  '23503', null, 'A cannot point its send log at a customer of B');

-- The RPCs are not A's.
select throws_ok($$select * from sms.claim_due_retries(10, 60, 'user')$$, '42501', null,
  'authenticated cannot claim retries');
select throws_ok($$select sms.complete_retry(gen_random_uuid(), 'user')$$, '42501', null,
  'authenticated cannot complete a retry');
select throws_ok($$select * from sms.fail_retry(gen_random_uuid(), 'user', 'x')$$, '42501',
  null, 'authenticated cannot fail a retry');
select throws_ok(
  $$select * from sms.enqueue_retry('a0000000-0000-4000-8000-000000000001', 'x',
      'quiet_hours')$$,
  '42501', null, 'authenticated cannot enqueue a retry');
select throws_ok(
  $$select sms.create_send_log('a0000000-0000-4000-8000-000000000001', 1, 'GSM-7')$$,
  '42501', null, 'authenticated cannot create an SMS send log through the RPC');
select throws_ok($$select * from sms.record_status_event('SMx', 'delivered')$$, '42501',
  null, 'authenticated cannot record a status');
select throws_ok(
  $$select * from sms.apply_consent_change('a0000000-0000-4000-8000-000000000001',
      'opted_out', 'keyword', p_keyword => 'STOP')$$,
  '42501', null, 'authenticated cannot call apply_consent_change');
select throws_ok($$select sms.invoke_process_retries()$$, '42501', null,
  'authenticated cannot invoke process-retries');

-- As the owner of Bay ----------------------------------------------------------------------------
reset role;
set local role authenticated;
set local "request.jwt.claims" to
  '{"sub": "22222222-2222-4222-8222-222222222222", "role": "authenticated"}';

select is((select count(*)::int from public.send_logs where channel = 'sms'), 2,
  'B reads its SMS send logs');
select is((select count(*)::int from public.send_logs
            where business_id <> 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'), 0,
  'B reads no send log of A');
select is((select count(*)::int from public.sms_message_events
            where business_id is distinct from 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'), 0,
  'B reads no message event of A');
select is((select count(*)::int from public.sms_consent_events
            where business_id <> 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'), 0,
  'B reads no consent event of A');
select is((select array_agg(customer_id) from public.send_logs where status = 'deferred'),
  array['b0000000-0000-4000-8000-000000000002'::uuid], 'B sees only its deferred message');
select throws_ok($$select count(*) from sms.idempotency_keys$$, '42501', null,
  'B cannot read idempotency keys');
select throws_ok($$update public.sms_consent_events set to_status = 'opted_in'$$, '42501', null,
  'B cannot rewrite consent history');

-- As a signed-in user of no business --------------------------------------------------------------
reset role;
set local role authenticated;
set local "request.jwt.claims" to
  '{"sub": "33333333-3333-4333-8333-333333333333", "role": "authenticated"}';
select throws_ok($$select count(*) from sms.retry_queue$$, '42501', null,
  'a stranger reads no retry');
select is((select count(*)::int from public.sms_message_events), 0,
  'a stranger reads no message event');
select is((select count(*)::int from public.sms_consent_events), 0,
  'a stranger reads no consent event');
select throws_ok($$select count(*) from sms.idempotency_keys$$, '42501', null,
  'a stranger reads no idempotency key');

-- As anon ----------------------------------------------------------------------------------------
reset role;
set local role anon;
set local "request.jwt.claims" to '{"role": "anon"}';
select throws_ok($$select count(*) from public.sms_message_events$$, '42501', null,
  'anon cannot read message events');
select throws_ok($$select count(*) from public.sms_consent_events$$, '42501', null,
  'anon cannot read consent events');
select throws_ok($$select count(*) from sms.retry_queue$$, '42501', null,
  'anon cannot read the retry queue');
select throws_ok($$select count(*) from sms.idempotency_keys$$, '42501', null,
  'anon cannot read idempotency keys');
select throws_ok($$select count(*) from sms.worker_heartbeats$$, '42501', null,
  'anon cannot read heartbeats');
select throws_ok($$select * from sms.worker_health$$, '42501', null,
  'anon cannot read worker health');
select throws_ok($$select count(*) from public.send_logs$$, '42501', null,
  'anon cannot read send logs');
select throws_ok($$select * from sms.claim_due_retries(10, 60, 'anon')$$, '42501', null,
  'anon cannot claim retries');
select throws_ok($$select sms.complete_retry(gen_random_uuid(), 'anon')$$, '42501', null,
  'anon cannot complete a retry');
select throws_ok($$select * from sms.fail_retry(gen_random_uuid(), 'anon', 'x')$$, '42501',
  null, 'anon cannot fail a retry');
select throws_ok(
  $$select * from sms.apply_consent_change('a0000000-0000-4000-8000-000000000001',
      'opted_out', 'keyword', p_keyword => 'STOP')$$,
  '42501', null, 'anon cannot change consent');
select throws_ok($$select sms.invoke_process_retries()$$, '42501', null,
  'anon cannot invoke process-retries');

-- As service_role --------------------------------------------------------------------------------
reset role;
set local role service_role;
select ok((select count(*) from sms.retry_queue) >= 2, 'service_role reads every retry');
select is((select last_run_status from sms.worker_health), 'running',
  'service_role reads worker health');
select throws_ok(
  $$insert into public.sms_message_events (message_sid, source, provider_status)
    values ('SMx', 'callback', 'delivered')$$,
  '42501', null, 'even service_role writes events only through the RPCs');

reset role;
select * from finish();
rollback;
