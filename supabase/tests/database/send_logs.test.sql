-- send_logs for two channels: the jsonb conversion keeps every old id, customer_id mirrors
-- contact_id, the Twilio sid is unique, SMS logs are created with consent re-checked, and a status
-- never regresses, for every pair of statuses.
begin;
select plan(56);

-- The jsonb conversion --------------------------------------------------------------------------
-- The migration converted the column with provider_message_ids_from_text(); replay it on a table
-- shaped like the old one, with every awkward id we can think of.
create temp table legacy_send_logs (n serial, provider_message_id text);
insert into legacy_send_logs (provider_message_id) values
  ('re_seed_acme_0001'), ('4ef9a1c2-7e0e-4c3b-9a56-0a1b2c3d4e5f'), (''), ('   padded   '),
  ('with "quotes" and \backslashes\'), ('{"resend_id": "looks like json"}'), ('[1, 2]'),
  ('null'), ('ünïcødé ✉️ 𝔪𝔞𝔦𝔩'), (repeat('x', 10000)), (E'tab\tnew\nline'), (null);
create temp table legacy_copy as select * from legacy_send_logs;
alter table legacy_send_logs alter column provider_message_id type jsonb
  using sms.provider_message_ids_from_text(provider_message_id);

select is(
  (select count(*)::int from legacy_send_logs l join legacy_copy o using (n)
    where (l.provider_message_id ->> 'resend_id') is not distinct from o.provider_message_id),
  12, 'every old id is kept verbatim under resend_id (null stays null)');
select is(
  (select count(*)::int from legacy_send_logs
    where provider_message_id is not null
      and (jsonb_typeof(provider_message_id) <> 'object'
           or (select count(*) from jsonb_object_keys(provider_message_id)) <> 1)),
  0, 'each converted id is an object with the one key resend_id');
select is(sms.provider_message_ids_from_text('re_123'), '{"resend_id": "re_123"}'::jsonb,
  'a Resend id becomes {"resend_id": ...}');
select is(
  (select provider_message_id ->> 'resend_id' from public.send_logs
    where id = 'e0000000-0000-4000-8000-000000000001'),
  're_seed_acme_0001', 'the seeded email log keeps its Resend id');
select is(
  (select array_agg(distinct channel) from public.send_logs
    where id in ('e0000000-0000-4000-8000-000000000001', 'e0000000-0000-4000-8000-000000000002')),
  array['email'], 'rows written without a channel are email');
select throws_ok(
  $$insert into public.send_logs (business_id, provider_message_id)
    values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '"re_plain_string"')$$,
  '23514', null, 'provider_message_id must be an object');

-- customer_id mirrors contact_id ------------------------------------------------------------------
insert into public.send_logs (id, business_id, contact_id) values
  ('f0000000-0000-4000-8000-000000000001', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
   'a0000000-0000-4000-8000-000000000001');
insert into public.send_logs (id, business_id, customer_id) values
  ('f0000000-0000-4000-8000-000000000002', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
   'a0000000-0000-4000-8000-000000000002');
select is((select customer_id from public.send_logs
            where id = 'f0000000-0000-4000-8000-000000000001'),
  'a0000000-0000-4000-8000-000000000001'::uuid, 'old code writing contact_id fills customer_id');
select is((select contact_id from public.send_logs
            where id = 'f0000000-0000-4000-8000-000000000002'),
  'a0000000-0000-4000-8000-000000000002'::uuid, 'new code writing customer_id fills contact_id');
update public.send_logs set contact_id = 'a0000000-0000-4000-8000-000000000003'
 where id = 'f0000000-0000-4000-8000-000000000001';
select is((select customer_id from public.send_logs
            where id = 'f0000000-0000-4000-8000-000000000001'),
  'a0000000-0000-4000-8000-000000000003'::uuid, 'changing contact_id moves customer_id along');
select throws_ok(
  $$insert into public.send_logs (business_id, contact_id, customer_id)
    values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'a0000000-0000-4000-8000-000000000001',
            'a0000000-0000-4000-8000-000000000002')$$,
  '23514', null, 'contact_id and customer_id cannot disagree');
select throws_ok(
  $$insert into public.send_logs (business_id, customer_id)
    values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'b0000000-0000-4000-8000-000000000001')$$,
  '23503', null, 'a send log''s customer belongs to its business');
select throws_ok(
  $$insert into public.send_logs (business_id, customer_id, contact_id)
    values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'b0000000-0000-4000-8000-000000000001',
            'b0000000-0000-4000-8000-000000000001')$$,
  '23503', null, 'so does one written with both columns equal (checked per statement)');
select throws_ok(
  $$insert into public.send_logs (business_id, customer_id, contact_id)
    select 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', x.id, x.id
      from (values ('a0000000-0000-4000-8000-000000000001'::uuid),
                   ('b0000000-0000-4000-8000-000000000001'::uuid)) x (id)$$,
  '23503', null, 'one stranger among several logs of a statement refuses the statement');
select throws_ok(
  $$update public.send_logs set business_id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'
     where id = 'f0000000-0000-4000-8000-000000000002'$$,
  '23503', null, 'moving a log to another business than its customer''s is refused');
delete from public.customers where id = 'a0000000-0000-4000-8000-000000000002';
select is((select row(customer_id, contact_id)::text from public.send_logs
            where id = 'f0000000-0000-4000-8000-000000000002'),
  '(,)', 'deleting the customer clears both columns');

-- SMS rows ---------------------------------------------------------------------------------------
select throws_ok(
  $$insert into public.send_logs (business_id, channel, status)
    values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'sms', 'sending')$$,
  '23514', null, 'an SMS log has a recipient phone');
select throws_ok(
  $$insert into public.send_logs (business_id, channel, to_phone, status)
    values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'sms', '+12125550101', 'bounced')$$,
  '23514', null, 'bounced is an email status, not an SMS one');
select throws_ok(
  $$insert into public.send_logs (business_id, status)
    values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'deferred')$$,
  '23514', null, 'deferred is an SMS status, not an email one');
select throws_ok(
  $$insert into public.send_logs (business_id, channel, to_phone, encoding)
    values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'sms', '+12125550101', 'UTF-8')$$,
  '23514', null, 'encoding is GSM-7 or UCS-2');

-- create_send_log: consent, phone and membership are checked again --------------------------
select throws_ok(
  $$select sms.create_send_log('a0000000-0000-4000-8000-000000000004', 1, 'GSM-7')$$,
  'P0001', 'opted_out', 'no SMS log for an opted-out customer');
select throws_ok(
  $$select sms.create_send_log('a0000000-0000-4000-8000-000000000003', 1, 'GSM-7')$$,
  'P0001', 'no_consent', 'no SMS log without consent');
select throws_ok(
  $$select sms.create_send_log('a0000000-0000-4000-8000-000000000005', 1, 'GSM-7')$$,
  'P0001', 'invalid_phone', 'no SMS log for an invalid number');
select throws_ok(
  $$select sms.create_send_log('a0000000-0000-4000-8000-000000000006', 1, 'GSM-7')$$,
  'P0001', 'invalid_phone', 'no SMS log for a landline');
select throws_ok(
  $$select sms.create_send_log('a0000000-0000-4000-8000-000000000007', 1, 'GSM-7')$$,
  'P0001', 'invalid_phone', 'no SMS log without a phone');
select throws_ok(
  $$select sms.create_send_log(gen_random_uuid(), 1, 'GSM-7')$$,
  'P0002', 'customer_not_found', 'no SMS log for an unknown customer');
select throws_ok(
  $$select sms.create_send_log('a0000000-0000-4000-8000-000000000001', 1, 'GSM-7',
      '22222222-2222-4222-8222-222222222222')$$,
  'P0002', 'customer_not_found', 'a member of B cannot write an SMS log for A''s customer');
select throws_ok(
  $$select sms.create_send_log('a0000000-0000-4000-8000-000000000001', 1, 'GSM-7',
      null, 'delivered')$$,
  '22023', null, 'a new SMS log starts queued or sending');

create temp table t_log as
  select * from sms.create_send_log('a0000000-0000-4000-8000-000000000001', 2, 'UCS-2',
                                    '11111111-1111-4111-8111-111111111111');
select is(
  (select row(channel, status, to_phone, customer_id, contact_id, segments, encoding)::text
     from t_log),
  '(sms,sending,+12125550101,a0000000-0000-4000-8000-000000000001,a0000000-0000-4000-8000-000000000001,2,UCS-2)',
  'create_send_log writes a sending SMS log to the customer''s number');
select is(
  (select array_agg(provider_status) from public.sms_message_events
    where send_log_id = (select id from t_log)),
  array['sending'], 'and records the first status as an event');
select is((select compliance_receipt from t_log), null, 'a log written without a receipt has none');
select is(
  (select (sms.create_send_log('a0000000-0000-4000-8000-000000000001', 1, 'GSM-7', null,
                               'sending', '{"ruleSet": "2026-12-04"}')).compliance_receipt),
  '{"ruleSet": "2026-12-04"}'::jsonb, 'the receipt is written with the log''s insert');
select throws_ok(
  $$select sms.create_send_log('a0000000-0000-4000-8000-000000000001', 1, 'GSM-7', null,
      'sending', '"allowed"')$$,
  '22023', 'a compliance receipt is a JSON object', 'a receipt that is not an object is refused');

-- record_send_result ----------------------------------------------------------------------------
select is(
  (select row(status, provider_message_id ->> 'twilio_sid', segments)::text
     from sms.record_send_result((select id from t_log),
            'SM00000000000000000000000000000001', 'queued', 3)),
  '(sending,SM00000000000000000000000000000001,3)',
  'the sid and segments are stored; Twilio''s queued does not move sending back');
select is(
  (select array_agg(source || ':' || provider_status order by id) from public.sms_message_events
    where send_log_id = (select id from t_log)),
  array['system:sending', 'api:queued'], 'the provider''s answer is recorded as an api event');
select throws_ok(
  $$select sms.record_send_result((select id from t_log),
      'SM00000000000000000000000000000002', 'queued')$$,
  '23505', null, 'a log keeps its one Twilio sid');
select throws_ok(
  $$insert into public.send_logs (business_id, channel, to_phone, status, provider_message_id)
    values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'sms', '+12125550101', 'sent',
            '{"twilio_sid": "SM00000000000000000000000000000001"}')$$,
  '23505', null, 'two logs cannot share a Twilio sid');
select is(
  (select provider_message_id from public.send_logs l where l.id = (select id from t_log)),
  '{"twilio_sid": "SM00000000000000000000000000000001"}'::jsonb, 'provider ids are one object');

create temp table t_rejected as
  select * from sms.create_send_log('a0000000-0000-4000-8000-000000000009', 1, 'GSM-7');
select is(
  (select row(status, error_code, error, provider_message_id)::text
     from sms.record_send_result((select id from t_rejected), null, 'failed', null, 21610,
            'Attempt to send to unsubscribed recipient')),
  '(failed,21610,"Attempt to send to unsubscribed recipient",)',
  'a rejected create ends the log failed with the error code');
select throws_ok(
  $$select sms.record_send_result((select id from t_log), null, 'queued')$$,
  '22023', null, 'without a sid the only result is failed');

-- An answer that ranks higher (a Messaging Service can answer 'sent') stores sid, segments and
-- status together, and the rejected log's segments stay what they were without a sid.
create temp table t_sent as
  select * from sms.create_send_log('a0000000-0000-4000-8000-000000000001', 1, 'GSM-7');
select is(
  (select row(status, provider_message_id ->> 'twilio_sid', segments, sent_at is not null,
              status_at >= (select status_at from t_sent))::text
     from sms.record_send_result((select id from t_sent),
            'SM00000000000000000000000000000003', 'sent', 2)),
  '(sent,SM00000000000000000000000000000003,2,t,t)',
  'a higher status is applied with the sid and segments, sent_at set');
select is(
  (select array_agg(source || ':' || provider_status || ':' || message_sid order by id)
     from public.sms_message_events where send_log_id = (select id from t_sent)
      and source = 'api'),
  array['api:sent:SM00000000000000000000000000000003'], 'with one api event carrying the sid');
select is((select segments from public.send_logs where id = (select id from t_rejected)),
  1::smallint, 'a failure without a sid leaves the segments alone');
select throws_ok(
  $$select sms.record_send_result((select id from t_sent),
      'SM00000000000000000000000000000003', '')$$,
  '22023', 'a status is required', 'a status is required, and nothing is written');

-- Status never regresses: every pair ---------------------------------------------------------------
create temp table expected_rank (status text primary key, rank int);
insert into expected_rank values
  ('deferred', 0), ('queued', 1), ('sending', 2), ('sent', 3), ('delivered', 4),
  ('undelivered', 4), ('failed', 4), ('canceled', 4), ('read', 5);

create temp table pairs as
  select a.status as from_status, b.status as to_status, gen_random_uuid() as log_id,
         null::boolean as applied
    from expected_rank a cross join expected_rank b;
insert into public.send_logs (id, business_id, channel, customer_id, to_phone, status)
  select log_id, 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'sms',
         'a0000000-0000-4000-8000-000000000001', '+12125550101', from_status
    from pairs;
update pairs set applied = sms.advance_status(log_id, to_status);

select is((select count(*)::int from pairs), 81, '81 pairs of SMS statuses');
select set_eq(
  $$select p.from_status, p.to_status, l.status as result
      from pairs p join public.send_logs l on l.id = p.log_id$$,
  $$select a.status as from_status, b.status as to_status,
           case when b.rank > a.rank then b.status else a.status end as result
      from expected_rank a cross join expected_rank b$$,
  'for every pair (from, to) the log ends at to when it ranks higher, else stays at from');
select is(
  (select count(*)::int from pairs p
     join expected_rank a on a.status = p.from_status
     join expected_rank b on b.status = p.to_status
    where p.applied <> (b.rank > a.rank)),
  0, 'advance_status reports exactly the moves it made');
select is(
  (select count(*)::int from pairs p join public.send_logs l on l.id = p.log_id
    where p.applied and l.status_at is null),
  0, 'each move stamps status_at');

-- Twilio's other words.
create temp table t_words as
  select sms.create_send_log('a0000000-0000-4000-8000-000000000001', 1, 'GSM-7') as log;
update public.send_logs set status = 'deferred'
 where id = (select (log).id from t_words);
select ok(sms.advance_status((select (log).id from t_words), 'accepted'),
  'accepted (Messaging Service) moves deferred to queued');
select is((select status from public.send_logs where id = (select (log).id from t_words)),
  'queued', 'accepted is recorded as queued');
select ok(not sms.advance_status((select (log).id from t_words), 'scheduled'),
  'scheduled ranks as queued: no move');
select ok(sms.advance_status((select (log).id from t_words), 'partially_delivered'),
  'partially_delivered is terminal');
select is((select status from public.send_logs where id = (select (log).id from t_words)),
  'undelivered', 'partially_delivered is recorded as undelivered');
select throws_ok(
  $$select sms.advance_status((select (log).id from t_words), 'received')$$,
  '22023', null, 'received (inbound) is not an outbound status');

-- The guard: even a direct write cannot move an SMS log back ---------------------------------------
select throws_ok(
  $$update public.send_logs set status = 'sent' where id = (select (log).id from t_words)$$,
  '23514', null, 'a direct update cannot move an SMS log backwards');
create temp table t_unsent as
  select sms.create_send_log('a0000000-0000-4000-8000-000000000001', 1, 'GSM-7') as log;
select lives_ok(
  $$update public.send_logs set status = 'deferred' where id = (select (log).id from t_unsent)$$,
  'sending -> deferred is allowed while Twilio has no sid (the provider never took it)');
select throws_ok(
  $$update public.send_logs set status = 'deferred' where id = (select id from t_log)$$,
  '23514', null, 'but never once Twilio accepted the message');

select * from finish();
rollback;
