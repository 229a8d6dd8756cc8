-- Inbound replies (twilio-webhook): sms.record_inbound_message applies STOP to every customer with
-- the phone, START only to handset opt-outs, stores help and free text for the business that last
-- texted the phone, and does all of it once per MessageSid; members read only their own replies.
begin;
select plan(60);

-- Start from no SMS traffic (a local stack may have some); all of it comes back at the rollback.
delete from public.send_logs where channel = 'sms';

-- Schema, privileges, indexes ----------------------------------------------------------------------
select has_table('public', 'sms_inbound_messages', 'sms_inbound_messages exists');
select ok((select relrowsecurity from pg_class where oid = 'public.sms_inbound_messages'::regclass),
  'RLS is on');
select ok(has_function_privilege('service_role',
  'sms.record_inbound_message(text, text, text, text, text, text, integer, jsonb, timestamptz)',
  'execute'), 'service_role may record inbound messages');
select ok(not has_function_privilege('authenticated',
  'sms.record_inbound_message(text, text, text, text, text, text, integer, jsonb, timestamptz)',
  'execute'), 'authenticated may not');
select ok(not has_function_privilege('anon',
  'sms.record_inbound_message(text, text, text, text, text, text, integer, jsonb, timestamptz)',
  'execute'), 'anon may not');
select ok(exists (select 1 from pg_index i where i.indrelid = 'public.sms_inbound_messages'::regclass
                   and i.indkey[0] = (select attnum from pg_attribute
                                       where attrelid = 'public.sms_inbound_messages'::regclass
                                         and attname = 'business_id')),
  'business_id (a foreign key) is indexed');
select ok(exists (select 1 from pg_index i where i.indrelid = 'public.sms_inbound_messages'::regclass
                   and i.indkey[0] = (select attnum from pg_attribute
                                       where attrelid = 'public.sms_inbound_messages'::regclass
                                         and attname = 'customer_id')),
  'customer_id (a foreign key) is indexed');
select has_column('public', 'businesses', 'sms_help_contact', 'businesses have a help contact');

-- Fixtures: Olivia (+12125550101) is a customer of Acme and of Bay. Bay texted her (a log with a
-- Twilio sid); Acme has a pending retry for her.
create temp table bay_log as
  select (sms.create_send_log('b0000000-0000-4000-8000-000000000001', 1, 'GSM-7')).id;
select sms.record_send_result((select id from bay_log), 'SM8000000000000000000000000000000b',
  'queued');
create temp table acme_retry as
  select (sms.enqueue_retry('a0000000-0000-4000-8000-000000000001', 'hello',
            'quiet_hours', now() + interval '1 hour')).retry_id as id;
update public.businesses set sms_help_contact = '(415) 555-0100'
 where id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';

-- Argument checks -----------------------------------------------------------------------------------
select throws_ok($$select sms.record_inbound_message('SM80000000000000000000000000000001',
    '+12125550101', '+15005550006', 'x', 'maybe')$$, '22023', null, 'an unknown kind is refused');
select throws_ok($$select sms.record_inbound_message('SM80000000000000000000000000000001',
    '+12125550101', '+15005550006', 'STOP', 'opt_out')$$, '22023', null,
  'an opt-out needs its keyword (the evidence)');
select throws_ok($$select sms.record_inbound_message(null, '+12125550101', '+15005550006',
    'x', 'other')$$, '22023', null, 'a message sid is required');

-- STOP ----------------------------------------------------------------------------------------------
create temp table stop1 as select sms.record_inbound_message(
  'SM80000000000000000000000000000001', '+12125550101', '+15005550006', 'Stop texting me',
  'opt_out', 'stop', p_details => '{"via": "contains"}') as r;
select is((select r ->> 'duplicate' from stop1), 'false', 'a first delivery is no duplicate');
select is((select (r ->> 'matched_customers')::int from stop1), 2,
  'both customers with the phone match');
select is((select (r ->> 'changed_customers')::int from stop1), 2, 'both are opted out');
select is((select (r ->> 'cancelled_retries')::int from stop1), 1,
  'the pending retry is counted as cancelled');
select is(
  (select array_agg(sms_consent_status order by id) from public.customers
    where phone = '+12125550101'),
  array['opted_out', 'opted_out'], 'in every business (a STOP to the shared number is broad)');
select is((select status from sms.retry_queue where id = (select id from acme_retry)),
  'cancelled', 'Acme''s pending retry is cancelled');
select is(
  (select array_agg(row(source, message_sid, keyword, details ->> 'via')::text order by business_id)
     from public.sms_consent_events where message_sid = 'SM80000000000000000000000000000001'),
  array['(keyword,SM80000000000000000000000000000001,stop,contains)',
        '(keyword,SM80000000000000000000000000000001,stop,contains)'],
  'each opt-out is a keyword consent event with its evidence');
select is(
  (select array_agg(row(business_id, customer_id, kind, keyword, body)::text order by business_id)
     from public.sms_inbound_messages where message_sid = 'SM80000000000000000000000000000001'),
  array['(aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa,a0000000-0000-4000-8000-000000000001,opt_out,stop,"Stop texting me")',
        '(bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb,b0000000-0000-4000-8000-000000000001,opt_out,stop,"Stop texting me")'],
  'the reply is stored once for each business');
select is((select r -> 'businesses' -> 0 ->> 'name' from stop1), 'Bay Dental',
  'the business that texted last is named first');
select is((select jsonb_array_length(r -> 'businesses') from stop1), 2, 'both are named');

-- The same message again (Twilio retried the webhook).
create temp table stop2 as select sms.record_inbound_message(
  'SM80000000000000000000000000000001', '+12125550101', '+15005550006', 'Stop texting me',
  'opt_out', 'stop') as r;
select is((select r ->> 'duplicate' from stop2), 'true', 'a repeated MessageSid is a duplicate');
select is((select r -> 'businesses' from stop2), (select r -> 'businesses' from stop1),
  'answering with the same businesses');
select is((select count(*)::int from public.sms_consent_events
            where message_sid = 'SM80000000000000000000000000000001'), 2,
  'and no second consent event');
select is((select count(*)::int from public.sms_inbound_messages
            where message_sid = 'SM80000000000000000000000000000001'), 2, 'nor a second row');

-- START ---------------------------------------------------------------------------------------------
create temp table start1 as select sms.record_inbound_message(
  'SM80000000000000000000000000000002', '+12125550101', '+15005550006', 'START', 'opt_in',
  'start') as r;
select is((select (r ->> 'changed_customers')::int from start1), 2,
  'START re-opts-in the keyword opt-outs');
select is(
  (select array_agg(sms_consent_status order by id) from public.customers
    where phone = '+12125550101'),
  array['opted_in', 'opted_in'], 'in both businesses');
select is((select count(*)::int from public.sms_consent_events
            where message_sid = 'SM80000000000000000000000000000002' and source = 'keyword'
              and to_status = 'opted_in' and keyword = 'start'), 2,
  'each with a keyword consent event');

-- Oscar was opted out by his business (seed: an import), not by a text: START does not overrule it.
create temp table start2 as select sms.record_inbound_message(
  'SM80000000000000000000000000000003', '+12125550104', '+15005550006', 'START', 'opt_in',
  'start') as r;
select is((select row((r ->> 'matched_customers')::int, (r ->> 'changed_customers')::int)::text
             from start2), '(1,0)', 'START matches Oscar but changes nothing');
select is((select sms_consent_status from public.customers
            where id = 'a0000000-0000-4000-8000-000000000004'), 'opted_out',
  'a business-recorded opt-out stands');
select is((select count(*)::int from public.sms_inbound_messages
            where message_sid = 'SM80000000000000000000000000000003'), 1,
  'the START is still in Acme''s inbox');

-- Twilio's 21610 (the handset texted STOP to Twilio directly) is undone by START.
select sms.apply_consent_change('a0000000-0000-4000-8000-000000000009', 'opted_out',
  'provider_error', p_error_code => 21610);
create temp table start3 as select sms.record_inbound_message(
  'SM80000000000000000000000000000004', '+15005550004', '+15005550006', 'unstop', 'opt_in',
  'unstop') as r;
select is((select (r ->> 'changed_customers')::int from start3), 1,
  'START undoes an opt-out Twilio reported (21610)');
select is((select sms_consent_status from public.customers
            where id = 'a0000000-0000-4000-8000-000000000009'), 'opted_in', 'Una is opted in');

-- A business's own opt-out after a keyword one wins too (the latest opt-out decides).
select sms.apply_consent_change('a0000000-0000-4000-8000-000000000009', 'opted_out',
  'keyword', p_keyword => 'stop');
select sms.apply_consent_change('a0000000-0000-4000-8000-000000000009', 'opted_out',
  'api', p_acting_user => '11111111-1111-4111-8111-111111111111');
select is((select (sms.record_inbound_message('SM80000000000000000000000000000005',
            '+15005550004', '+15005550006', 'START', 'opt_in', 'start') ->> 'changed_customers')::int),
  0, 'START does not undo an opt-out the business recorded after the keyword');

-- HELP and free text --------------------------------------------------------------------------------
create temp table help1 as select sms.record_inbound_message(
  'SM80000000000000000000000000000006', '+12125550101', '+15005550006', 'HELP', 'help',
  'help') as r;
select is((select r -> 'businesses' from help1),
  '[{"id": "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb", "name": "Bay Dental", "help_contact": "(415) 555-0100"}]'::jsonb,
  'HELP concerns the business that texted last, with its help contact');
select is((select count(*)::int from public.sms_consent_events
            where message_sid = 'SM80000000000000000000000000000006'), 0,
  'HELP changes no consent');

create temp table text1 as select sms.record_inbound_message(
  'SM80000000000000000000000000000007', '+12125550101', '+15005550006',
  'Can we move it to 3pm?', 'other', p_num_media => 1) as r;
select is(
  (select array_agg(row(business_id, customer_id, kind, keyword, body, num_media)::text)
     from public.sms_inbound_messages where message_sid = 'SM80000000000000000000000000000007'),
  array['(bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb,b0000000-0000-4000-8000-000000000001,other,,"Can we move it to 3pm?",1)'],
  'free text goes to the inbox of the business that texted last only');

-- Nobody texted Pat yet (Bay only): the reply goes to every business that has Pat.
create temp table text2 as select sms.record_inbound_message(
  'SM80000000000000000000000000000008', '+14155550203', '+15005550006', 'Who is this?',
  'other') as r;
select is((select array_agg(business_id) from public.sms_inbound_messages
            where message_sid = 'SM80000000000000000000000000000008'),
  array['bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'::uuid], 'a reply nobody prompted reaches Pat''s business');

-- A number no business knows: nothing stored, nothing changed.
create temp table text3 as select sms.record_inbound_message(
  'SM80000000000000000000000000000009', '+19995550000', '+15005550006', 'STOP', 'opt_out',
  'stop') as r;
select is((select r from text3),
  '{"duplicate": false, "businesses": [], "matched_customers": 0, "changed_customers": 0, "cancelled_retries": 0}'::jsonb,
  'an unknown number matches no one');
select is((select count(*)::int from public.sms_inbound_messages
            where message_sid = 'SM80000000000000000000000000000009'), 0, 'and nothing is stored');

-- Answers: one confirmation per opt-out -----------------------------------------------------------
select ok(has_function_privilege('service_role',
  'sms.record_inbound_answer(text, text, text, boolean, boolean, boolean, interval, timestamptz)',
  'execute') and not has_function_privilege('authenticated',
  'sms.record_inbound_answer(text, text, text, boolean, boolean, boolean, interval, timestamptz)',
  'execute'), 'only service_role records answers');
select is(sms.record_inbound_answer('SM8000000000000000000000000000a001', '+12125550150',
  'opt_out', true, p_changed => true), true, 'a first opt-out is confirmed');
select is(sms.record_inbound_answer('SM8000000000000000000000000000a001', '+12125550150',
  'opt_out', true, p_changed => true), false, 'its redelivery is not');
select is(sms.record_inbound_answer('SM8000000000000000000000000000a002', '+12125550150',
  'opt_out', true, p_changed => false), false,
  'an opt-out that changed nothing, within the window, is not confirmed again');
select is(sms.record_inbound_answer('SM8000000000000000000000000000a003', '+12125550150',
  'opt_out', true, p_changed => true), true, 'a new opt-out (after a START) is');
select is(sms.record_inbound_answer('SM8000000000000000000000000000a004', '+12125550150',
  'opt_out', true, p_changed => false, p_received_at => now() + interval '25 hours'), true,
  'after the window an opt-out that changed nothing is confirmed again');
select is(sms.record_inbound_answer('SM8000000000000000000000000000a005', '+12125550150',
  'opt_out', true, p_changed => false, p_confirmation_window => interval '0'), true,
  'a zero window confirms every opt-out');
select is(sms.record_inbound_answer('SM8000000000000000000000000000a006', '+12125550151',
  'opt_out', true, p_twilio_answered => true), false, 'Twilio answered: we stay silent');
select is(sms.record_inbound_answer('SM8000000000000000000000000000a007', '+12125550151',
  'opt_out', true, p_changed => false), false, '... and Twilio''s confirmation counts');
select is(sms.record_inbound_answer('SM8000000000000000000000000000a008', '+12125550151',
  'help', true), true, 'HELP is answered');
select is((select array_agg(coalesce(answered_by, '-') order by message_sid)
             from sms.inbound_answers where from_phone in ('+12125550150', '+12125550151')),
  array['app', '-', 'app', 'app', 'app', 'twilio', '-', 'app'], 'each answer is recorded once');

-- Row-level security ---------------------------------------------------------------------------------
set local role authenticated;
set local "request.jwt.claims" to
  '{"sub": "11111111-1111-4111-8111-111111111111", "role": "authenticated"}';
select ok((select count(*) from public.sms_inbound_messages) >= 3, 'Acme reads its replies');
select is((select count(*)::int from public.sms_inbound_messages
            where business_id <> 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'), 0,
  'and none of Bay''s');
select throws_ok($$insert into public.sms_inbound_messages
    (business_id, message_sid, from_phone, to_phone, body, kind)
    values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'SMx1', '+1', '+1', 'x', 'other')$$,
  '42501', null, 'a member cannot write a reply');
select throws_ok($$update public.sms_inbound_messages set body = 'x'$$, '42501', null,
  'nor change one');
select throws_ok($$select sms.record_inbound_message('SM8000000000000000000000000000000a',
    '+12125550101', '+15005550006', 'STOP', 'opt_out', 'stop')$$, '42501', null,
  'nor call the RPC (it would opt anyone out)');
reset role;

set local role authenticated;
set local "request.jwt.claims" to
  '{"sub": "22222222-2222-4222-8222-222222222222", "role": "authenticated"}';
select is((select count(*)::int from public.sms_inbound_messages
            where business_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'), 0,
  'Bay reads none of Acme''s replies');
select ok((select count(*) from public.sms_inbound_messages
            where message_sid = 'SM80000000000000000000000000000007') = 1,
  'Bay reads the free text addressed to it');
reset role;

set local role anon;
set local "request.jwt.claims" to '{"role": "anon"}';
select throws_ok($$select count(*) from public.sms_inbound_messages$$, '42501', null,
  'anon reads nothing');
reset role;

set local role service_role;
select throws_ok($$delete from public.sms_inbound_messages$$, '42501', null,
  'even service_role writes replies only through the RPC');
reset role;

select * from finish();
rollback;
