-- SMS consent: sms.apply_consent_change changes the customer and records the event atomically;
-- opting out cancels the customer's pending retries in the same transaction; direct writes to
-- customers are audited too; the audit is append-only.
begin;
select plan(32);

-- Start from no SMS traffic (a local stack may have some); all of it comes back at the rollback.
delete from public.send_logs where channel = 'sms';

-- Pending work for Olivia (Acme): two pending retries and one being processed; Bay's Olivia (same
-- phone, other business) has one pending retry too.
create temp table q as select
  (sms.enqueue_retry('a0000000-0000-4000-8000-000000000001', 'one', 'quiet_hours',
     now() + interval '1 hour')).retry_id as p1,
  (sms.enqueue_retry('a0000000-0000-4000-8000-000000000001', 'two', 'frequency_cap',
     now() + interval '2 hours')).retry_id as p2,
  (sms.enqueue_retry('a0000000-0000-4000-8000-000000000001', 'three', 'rate_limited',
     now() - interval '1 minute')).retry_id as p3,
  (sms.enqueue_retry('b0000000-0000-4000-8000-000000000001', 'bay', 'quiet_hours',
     now() + interval '1 hour')).retry_id as b1;
select count(*) from sms.claim_due_retries(10, 60, 'worker');

-- STOP by keyword ---------------------------------------------------------------------------------
create temp table stop1 as
  select * from sms.apply_consent_change('a0000000-0000-4000-8000-000000000001',
    'opted_out', 'keyword', p_message_sid => 'SM70000000000000000000000000000001',
    p_keyword => 'STOP', p_details => '{"body": "STOP"}');
select is((select row(from_status, to_status, changed, cancelled_retries)::text from stop1),
  '(opted_in,opted_out,t,2)', 'STOP opts out and reports the two pending retries cancelled');
select is(
  (select row(sms_consent_status, sms_opted_out_at)::text from public.customers
    where id = 'a0000000-0000-4000-8000-000000000001'),
  row('opted_out', now())::text, 'the customer is opted out, with the time');
select is(
  (select row(business_id, customer_id, from_status, to_status, source, message_sid, keyword,
              acting_user_id, details ->> 'body')::text
     from public.sms_consent_events where id = (select event_id from stop1)),
  '(aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa,a0000000-0000-4000-8000-000000000001,opted_in,opted_out,keyword,SM70000000000000000000000000000001,STOP,,STOP)',
  'the event holds from, to, source and the evidence');
select is((select occurred_at from public.sms_consent_events where id = (select event_id from stop1)),
  now(), 'and the time');
select is(
  (select array_agg(status order by body) from sms.retry_queue
    where id in ((select p1 from q), (select p2 from q))),
  array['cancelled', 'cancelled'], 'both pending retries are cancelled');
select is(
  (select array_agg(l.status) from public.send_logs l join sms.retry_queue r
      on r.send_log_id = l.id where r.id in ((select p1 from q), (select p2 from q))),
  array['canceled', 'canceled'], 'and their deferred send logs canceled');
select is((select status from sms.retry_queue where id = (select p3 from q)), 'processing',
  'a row a worker holds is left to the worker (it re-checks consent before sending)');
select is((select status from sms.retry_queue where id = (select b1 from q)), 'pending',
  'the other business''s customer with the same phone keeps its retry');

-- A second STOP is recorded too.
create temp table stop2 as
  select * from sms.apply_consent_change('a0000000-0000-4000-8000-000000000001',
    'opted_out', 'keyword', p_keyword => 'QUIT');
select is((select row(from_status, to_status, changed, cancelled_retries)::text from stop2),
  '(opted_out,opted_out,f,0)', 'a repeated opt-out changes nothing');
select is(
  (select count(*)::int from public.sms_consent_events
    where customer_id = 'a0000000-0000-4000-8000-000000000001' and source = 'keyword'),
  2, 'but is on record');

-- START by keyword.
create temp table start1 as
  select * from sms.apply_consent_change('a0000000-0000-4000-8000-000000000001',
    'opted_in', 'keyword', p_message_sid => 'SM70000000000000000000000000000002',
    p_keyword => 'START');
select is((select row(from_status, to_status, changed)::text from start1),
  '(opted_out,opted_in,t)', 'START opts back in');
select is(
  (select row(sms_consent_status, sms_consent_at = now(), sms_opted_out_at)::text
     from public.customers where id = 'a0000000-0000-4000-8000-000000000001'),
  '(opted_in,t,)', 'consent time set, opt-out time cleared');

-- Provider error (Twilio 21610: the number replied STOP to Twilio directly).
create temp table perr as
  select * from sms.apply_consent_change('a0000000-0000-4000-8000-000000000009',
    'opted_out', 'provider_error', p_error_code => 21610);
select is((select row(to_status, changed)::text from perr), '(opted_out,t)',
  'a provider error opts out');
select is((select error_code from public.sms_consent_events where id = (select event_id from perr)),
  21610, 'with the error code as evidence');

-- By a user through the API.
create temp table api1 as
  select * from sms.apply_consent_change('a0000000-0000-4000-8000-000000000003',
    'opted_in', 'api', p_acting_user => '11111111-1111-4111-8111-111111111111');
select is(
  (select row(source, acting_user_id)::text from public.sms_consent_events
    where id = (select event_id from api1)),
  '(api,11111111-1111-4111-8111-111111111111)', 'an API change names the acting user');

-- Evidence and input are required; a failed change changes nothing.
select throws_ok(
  $$select sms.apply_consent_change('a0000000-0000-4000-8000-000000000008', 'opted_out',
      'keyword')$$,
  '23514', null, 'a keyword change needs the keyword');
select is((select sms_consent_status from public.customers
            where id = 'a0000000-0000-4000-8000-000000000008'), 'opted_in',
  'and the refused change left the customer as it was');
select throws_ok(
  $$select sms.apply_consent_change('a0000000-0000-4000-8000-000000000008', 'opted_out',
      'api')$$,
  '23514', null, 'an API change needs the acting user');
select throws_ok(
  $$select sms.apply_consent_change('a0000000-0000-4000-8000-000000000008', 'opted_out',
      'provider_error')$$,
  '23514', null, 'a provider-error change needs the error code or message sid');
select throws_ok(
  $$select sms.apply_consent_change('a0000000-0000-4000-8000-000000000008', 'opted_out',
      'api', p_acting_user => '22222222-2222-4222-8222-222222222222')$$,
  'P0002', 'customer_not_found', 'a member of B cannot change A''s customer');
select throws_ok(
  $$select sms.apply_consent_change('a0000000-0000-4000-8000-000000000008', 'pending',
      'import')$$,
  '22023', null, 'statuses are unknown, opted_in, opted_out');
select throws_ok(
  $$select sms.apply_consent_change('a0000000-0000-4000-8000-000000000008', 'opted_out',
      'sms')$$,
  '22023', null, 'sources are keyword, api, import, provider_error');
select throws_ok(
  $$select sms.apply_consent_change(gen_random_uuid(), 'opted_out', 'import')$$,
  'P0002', 'customer_not_found', 'an unknown customer is an error');

-- Direct writes to customers are audited ------------------------------------------------------------
select sms.enqueue_retry('b0000000-0000-4000-8000-000000000002', 'bay two', 'quiet_hours',
  now() + interval '1 hour');
set local role authenticated;
set local "request.jwt.claims" to
  '{"sub": "22222222-2222-4222-8222-222222222222", "role": "authenticated"}';
update public.customers set sms_consent_status = 'opted_out'
 where id = 'b0000000-0000-4000-8000-000000000002';
update public.customers set name = 'Sam S.' where id = 'b0000000-0000-4000-8000-000000000002';
update public.customers set sms_consent_status = 'opted_out', name = 'Sam'
 where id = 'b0000000-0000-4000-8000-000000000002';
insert into public.customers (id, business_id, name, phone, sms_consent_status) values
  ('b0000000-0000-4000-8000-0000000000ff', 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 'New', '+14155550299',
   'opted_in');
reset role;
select is(
  (select array_agg(row(from_status, to_status, source, acting_user_id)::text order by id)
     from public.sms_consent_events
    where customer_id = 'b0000000-0000-4000-8000-000000000002' and id > (select event_id from api1)),
  array['(opted_in,opted_out,api,22222222-2222-4222-8222-222222222222)'],
  'a member''s direct opt-out is recorded once, as an API change by that member');
select is(
  (select count(*)::int from sms.retry_queue
    where customer_id = 'b0000000-0000-4000-8000-000000000002' and status = 'pending'),
  0, 'and cancels the customer''s pending retries');
select is(
  (select row(from_status, to_status, source)::text from public.sms_consent_events
    where customer_id = 'b0000000-0000-4000-8000-0000000000ff'),
  '(,opted_in,api)', 'creating a customer with consent is recorded');
set local "request.jwt.claims" to '';
update public.customers set sms_consent_status = 'opted_in'
 where id = 'b0000000-0000-4000-8000-000000000003';
select is(
  (select row(from_status, to_status, source, acting_user_id)::text
     from public.sms_consent_events
    where customer_id = 'b0000000-0000-4000-8000-000000000003'),
  '(unknown,opted_in,import,)', 'a write without a user (import, job) is recorded as import');
select ok(
  (select count(*) from public.sms_consent_events
    where customer_id = 'a0000000-0000-4000-8000-000000000001' and source = 'import'
      and from_status is null) = 1,
  'the seeded consent was recorded as an import');

-- The RPC's own update is not recorded twice.
select is(
  (select count(*)::int from public.sms_consent_events
    where customer_id = 'a0000000-0000-4000-8000-000000000001' and created_at = now()),
  3, 'three RPC changes, three events (the trigger stays out of the RPC''s way)');

-- Append-only ---------------------------------------------------------------------------------------
select throws_ok(
  $$update public.sms_consent_events set to_status = 'opted_in'
     where id = (select event_id from stop1)$$,
  '42501', 'sms_consent_events is append-only', 'consent history cannot be rewritten');
set local role service_role;
select throws_ok(
  $$delete from public.sms_consent_events where id = (select event_id from stop1)$$,
  '42501', null, 'nor deleted by service_role');
select throws_ok(
  $$insert into public.sms_consent_events (business_id, customer_id, to_status, source, keyword)
    values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'a0000000-0000-4000-8000-000000000001',
            'opted_in', 'keyword', 'START')$$,
  '42501', null, 'nor written around the RPC');
reset role;

select * from finish();
rollback;
