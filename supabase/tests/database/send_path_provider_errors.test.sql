-- sms.apply_provider_error: each Twilio error effect changes exactly what it should.
begin;
select plan(16);

-- One SMS send log per case, for Acme's customers.
insert into public.send_logs (id, business_id, customer_id, channel, status, to_phone,
                              provider_message_id)
values
  ('f0000000-0000-4000-8000-000000000001', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
   'a0000000-0000-4000-8000-000000000001', 'sms', 'sent', '+12125550101',
   '{"twilio_sid": "SM00000000000000000000000000000001"}'),
  ('f0000000-0000-4000-8000-000000000002', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
   'a0000000-0000-4000-8000-000000000002', 'sms', 'sent', '+12145550102',
   '{"twilio_sid": "SM00000000000000000000000000000002"}'),
  ('f0000000-0000-4000-8000-000000000003', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
   'a0000000-0000-4000-8000-000000000008', 'sms', 'sent', '+19995550000',
   '{"twilio_sid": "SM00000000000000000000000000000003"}');

set local role service_role;

select is(
  sms.apply_provider_error('f0000000-0000-4000-8000-000000000001', 21610, 'opted_out')
    ->> 'consent_changed', 'true', '21610 opts the customer out');
reset role;
select is((select sms_consent_status from public.customers
            where id = 'a0000000-0000-4000-8000-000000000001'), 'opted_out',
  'the customer is opted out');
select is((select source || ':' || error_code || ':' || message_sid from public.sms_consent_events
            where customer_id = 'a0000000-0000-4000-8000-000000000001'
            order by id desc limit 1),
  'provider_error:21610:SM00000000000000000000000000000001',
  'a consent event records the provider error with the message sid');

set local role service_role;
select is(
  sms.apply_provider_error('f0000000-0000-4000-8000-000000000002', 30006, 'landline',
                           'landline') ->> 'phone_status', 'landline',
  '30006 marks the phone as a landline');
select is(
  sms.apply_provider_error('f0000000-0000-4000-8000-000000000003', 21211,
                           'invalid_number', 'invalid') ->> 'phone_status', null,
  'a number the customer no longer has is left alone');
reset role;
select is((select phone_status from public.customers
            where id = 'a0000000-0000-4000-8000-000000000008'), 'unknown',
  'the changed customer keeps their phone status');

set local role service_role;
select is(
  sms.apply_provider_error('f0000000-0000-4000-8000-000000000002', 30034,
                           'sender_not_registered') ->> 'business_alert', 'true',
  '30034 raises a business alert');
reset role;
select is((select sms_sender_alert || ':' || sms_sender_alert_code from public.businesses
            where id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'),
  'sender_not_registered:30034', 'the alert names the cause and code');
select is((select sms_sender_alert from public.businesses
            where id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'), null,
  'other businesses are not flagged');

-- A pending retry on a filtered message is cancelled.
insert into sms.retry_queue (business_id, customer_id, send_log_id, body, reason,
                             scheduled_for)
values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'a0000000-0000-4000-8000-000000000002',
        'f0000000-0000-4000-8000-000000000002', 'Spammy text', 'provider_unavailable', now());
set local role service_role;
select is(
  sms.apply_provider_error('f0000000-0000-4000-8000-000000000002', 30007,
                           'content_filtered') ->> 'cancelled_retries', '1',
  '30007 cancels the pending retry of the same text');
reset role;
select ok((select content_filtered from public.send_logs
            where id = 'f0000000-0000-4000-8000-000000000002'), 'the log is flagged');
select is((select status from sms.retry_queue
            where send_log_id = 'f0000000-0000-4000-8000-000000000002'), 'cancelled',
  'the retry row is cancelled');

set local role service_role;
select throws_ok(
  $$select sms.apply_provider_error('f0000000-0000-4000-8000-0000000000ff', 1, 'unknown')$$,
  'P0002', 'send_log_not_found', 'an unknown send log is refused');
select throws_ok(
  $$select sms.apply_provider_error('f0000000-0000-4000-8000-000000000001', 1, 'x', 'bad')$$,
  '22023', null, 'an unknown phone status is refused');
reset role;

select ok(not has_function_privilege('authenticated',
  'sms.apply_provider_error(uuid, integer, text, text, text)', 'execute'),
  'authenticated cannot apply provider errors');
select ok(not has_function_privilege('anon',
  'sms.apply_provider_error(uuid, integer, text, text, text)', 'execute'),
  'anon cannot apply provider errors');

select * from finish();
rollback;
