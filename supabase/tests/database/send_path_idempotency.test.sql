-- send-sms idempotency keys: claim, complete, release; per business.
begin;
select plan(12);

-- Idempotency --------------------------------------------------------------------------------------
select is(
  (select row(claimed, state, request_hash, response_status)::text
     from sms.claim_idempotency_key('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'order-42',
            'hash-1', '11111111-1111-4111-8111-111111111111')),
  '(t,in_progress,hash-1,)', 'the first request claims the key');
select is(
  (select row(claimed, state, request_hash)::text
     from sms.claim_idempotency_key('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'order-42',
            'hash-1')),
  '(f,in_progress,hash-1)', 'a repeat while the first runs sees it in progress');
select is(
  (select claimed from sms.claim_idempotency_key('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb',
     'order-42')),
  true, 'keys are per business: B may use the same key');
create temp table l as
  select sms.create_send_log('a0000000-0000-4000-8000-000000000001', 1, 'GSM-7') as log;
select ok(
  sms.complete_idempotency_key('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'order-42', 200,
    '{"status": "sent", "segments": 1}', (select (log).id from l)),
  'the first answer is stored');
select is(
  (select row(claimed, state, response_status, response_body ->> 'status', send_log_id)::text
     from sms.claim_idempotency_key('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'order-42')),
  row(false, 'completed', 200, 'sent', (select (log).id from l))::text,
  'a repeat gets the first answer back');
select ok(
  not sms.complete_idempotency_key('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'order-42', 500,
    '{}'),
  'the first answer is never overwritten');
select ok(not sms.release_idempotency_key('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'order-42'),
  'a completed key cannot be released');
select sms.claim_idempotency_key('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'order-43');
select ok(sms.release_idempotency_key('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'order-43'),
  'an in-progress key can be given back');
select is(
  (select claimed from sms.claim_idempotency_key('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
     'order-43')),
  true, 'and claimed afresh');
select throws_ok(
  $$select sms.claim_idempotency_key('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'order-44',
      null, '22222222-2222-4222-8222-222222222222')$$,
  'P0002', 'customer_not_found', 'a member of B cannot claim keys of A');
select throws_ok(
  $$select sms.claim_idempotency_key('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '')$$,
  '23514', null, 'an empty key is refused');
select throws_ok(
  $$update sms.idempotency_keys set state = 'completed'
     where idempotency_key = 'order-43'$$,
  '23514', null, 'a completed key always carries its answer');

select * from finish();
rollback;
