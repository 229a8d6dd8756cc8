-- send-sms's two calls: sms.send_context reads (members only), sms.start_send writes the decided
-- outcome after checking that what the decision read still holds.
begin;
select plan(24);

-- Two earlier sends to Olivia's number, one failed (does not count).
insert into public.send_logs (business_id, customer_id, channel, status, to_phone, created_at)
values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'a0000000-0000-4000-8000-000000000001', 'sms',
        'delivered', '+12125550101', now() - interval '2 hours'),
       ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'a0000000-0000-4000-8000-000000000001', 'sms',
        'failed', '+12125550101', now() - interval '1 hour');

create temporary table ctx on commit drop as
select * from sms.send_context('a0000000-0000-4000-8000-000000000001',
  '11111111-1111-4111-8111-111111111111', now() - interval '7 days');
grant select on ctx to service_role;

select is((select phone from ctx), '+12125550101', 'a member reads the customer');
select is((select cardinality(recent_sends) from ctx), 1, 'recent sends: only those that went out');
select is((select count(*)::int from sms.send_context(
    'a0000000-0000-4000-8000-000000000001', '22222222-2222-4222-8222-222222222222',
    now() - interval '7 days')), 0, 'another business''s user reads nothing');
select is((select count(*)::int from sms.send_context(
    'a0000000-0000-4000-8000-000000000001', null, now() - interval '7 days')), 0,
  'no user reads nothing');

set local role service_role;
select throws_ok(
  $$select * from sms.start_send('a0000000-0000-4000-8000-000000000001',
      '11111111-1111-4111-8111-111111111111', 'stale', now() - interval '7 days', 1, 'GSM-7', 100, 'hello')$$,
  'P0001', 'send_context_changed', 'a fingerprint that no longer holds is refused');
select throws_ok(
  $$select * from sms.start_send('a0000000-0000-4000-8000-000000000001',
      '22222222-2222-4222-8222-222222222222', (select fingerprint from ctx),
      now() - interval '7 days', 1, 'GSM-7', 100, 'hello')$$,
  'P0002', 'customer_not_found', 'a non-member cannot write');
select throws_ok(
  $$select * from sms.start_send('a0000000-0000-4000-8000-000000000001',
      '11111111-1111-4111-8111-111111111111', (select fingerprint from ctx),
      now() - interval '7 days', 1, 'GSM-7', 2, 'hello')$$,
  'P0001', 'quota_exceeded', 'the daily quota is checked');

create temporary table started on commit drop as
select * from sms.start_send('a0000000-0000-4000-8000-000000000001',
  '11111111-1111-4111-8111-111111111111', (select fingerprint from ctx),
  now() - interval '7 days', 1, 'GSM-7', 100, 'hello now', p_lease_seconds => 75);
select is((select to_phone from started), '+12125550101', 'send now: the log''s number');
select is((select status from public.send_logs where id = (select send_log_id from started)),
  'sending', 'send now: the log is sending');
select is((select status || ' ' || reason || ' ' || locked_by || ' ' || attempts || ' ' || body
             from sms.retry_queue where id = (select retry_id from started)
              and send_log_id = (select send_log_id from started)
              and lease_expires_at = now() + interval '75 seconds'),
  'processing send_in_flight send-sms 0 hello now',
  'send now: an in-flight guard held by send-sms for the lease given, with the text');
select throws_ok(
  $$select * from sms.start_send('a0000000-0000-4000-8000-000000000001',
      '11111111-1111-4111-8111-111111111111', (select fingerprint from ctx),
      now() - interval '7 days', 1, 'GSM-7', 100, 'hello')$$,
  'P0001', 'send_context_changed', 'the send just made changes the fingerprint');

create temporary table deferred on commit drop as
select * from sms.start_send('a0000000-0000-4000-8000-000000000002',
  '11111111-1111-4111-8111-111111111111',
  (select fingerprint from sms.send_context('a0000000-0000-4000-8000-000000000002',
     '11111111-1111-4111-8111-111111111111', now() - interval '7 days')),
  now() - interval '7 days', 1, 'GSM-7', 100, 'hello later', 'quiet_hours',
  now() + interval '3 hours');
select is((select status from public.send_logs where id = (select send_log_id from deferred)),
  'deferred', 'defer: the log is deferred');
select is((select reason || ' ' || body from sms.retry_queue
            where id = (select retry_id from deferred)),
  'quiet_hours hello later', 'defer: the retry row holds the reason and the text');
select throws_ok(
  $$select * from sms.start_send('a0000000-0000-4000-8000-000000000004',
      '11111111-1111-4111-8111-111111111111',
      (select fingerprint from sms.send_context('a0000000-0000-4000-8000-000000000004',
         '11111111-1111-4111-8111-111111111111', now() - interval '7 days')),
      now() - interval '7 days', 1, 'GSM-7', 100, 'hello')$$,
  'P0001', 'opted_out', 'consent is re-checked under the lock');
reset role;

select ok(not has_function_privilege('authenticated',
  'sms.start_send(uuid, uuid, text, timestamptz, integer, text, integer, text, text, timestamptz, integer, jsonb)',
  'execute'), 'authenticated cannot write');
select ok(not has_function_privilege('authenticated',
  'sms.send_context(uuid, uuid, timestamptz)', 'execute'),
  'authenticated cannot read through it');

-- A help contact is required ---------------------------------------------------------------------
reset role;
select is((select help_contact from ctx), 'help@acme.test', 'send_context names the help contact');
select throws_ok($$update public.businesses set sms_help_contact = 'reply to this message'
                    where id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'$$, '23514', null,
  'a help contact is a phone, an email or a URL');
select lives_ok($$update public.businesses set sms_help_contact = '+1 (212) 555-0100'
                   where id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'$$, 'a phone number is one');
update public.businesses set sms_help_contact = null where id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
select is((select help_contact from sms.send_context('a0000000-0000-4000-8000-000000000002',
    '11111111-1111-4111-8111-111111111111', now() - interval '7 days')), null,
  'send_context: no help contact');
create temporary table logs_before on commit drop as
  select count(*)::int as n from public.send_logs;
set local role service_role;
select throws_ok(
  $$select * from sms.start_send('a0000000-0000-4000-8000-000000000002',
      '11111111-1111-4111-8111-111111111111',
      (select fingerprint from sms.send_context('a0000000-0000-4000-8000-000000000002',
         '11111111-1111-4111-8111-111111111111', now() - interval '7 days')),
      now() - interval '7 days', 1, 'GSM-7', 100)$$,
  'P0001', 'help_contact_missing', 'start_send refuses a business without a help contact');
reset role;
select is((select count(*)::int from public.send_logs), (select n from logs_before),
  'and writes nothing');

-- The frequency cap's instant --------------------------------------------------------------------
-- A log counts from its first 'sending' or 'queued' mark (a deferred message from when it went,
-- not when it was written), else from its creation (a log other code wrote as sent).
insert into public.send_logs (id, business_id, channel, status, to_phone, created_at, status_at)
values ('c0000000-0000-4000-8000-000000000001', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'sms',
        'deferred', '+12125550199', now() - interval '3 days', now() - interval '3 days'),
       ('c0000000-0000-4000-8000-000000000002', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'sms',
        'sent', '+12125550199', now() - interval '5 hours', now() - interval '5 hours'),
       ('c0000000-0000-4000-8000-000000000003', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'sms',
        'delivered', '+12125550199', now() - interval '30 days', now() - interval '30 days');
-- Marked sending two hours ago, put back (Twilio was unavailable), marked again an hour ago.
select sms.record_status_event(null, 'sending', null, null, '{}'::jsonb,
  now() - interval '2 hours', 'system', 'c0000000-0000-4000-8000-000000000001');
select sms.defer_send_log('c0000000-0000-4000-8000-000000000001');
select sms.record_status_event(null, 'sending', null, null, '{}'::jsonb,
  now() - interval '1 hour', 'system', 'c0000000-0000-4000-8000-000000000001');
select is(sms.recent_sends('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '+12125550199',
    now() - interval '1 day'),
  array[now() - interval '5 hours', now() - interval '2 hours']::timestamptz[],
  'the cap counts a deferred message from its first sending mark, a log written as sent from its creation');
select is(sms.recent_sends('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '+12125550199',
    now() - interval '1 day', 'c0000000-0000-4000-8000-000000000001'),
  array[now() - interval '5 hours']::timestamptz[], 'the message being decided is left out');

select * from finish();
rollback;
