-- Consent per number (issue 19): a STOP holds for the number, also for records created later; a
-- direct write cannot lift it, new evidence (sms.record_opt_in) or the consumer's START can; a
-- phone change resets consent; the evidence outlives customers and businesses; members export a
-- number's history; pruning respects retention; the frequency cap counts per number in both
-- send paths.
begin;
select plan(71);

delete from public.send_logs where channel = 'sms';

-- A third business, Cove, with its own member; it has no record of Olivia (+12125550101) yet.
insert into auth.users (id, email) values
  ('33333333-3333-4333-8333-333333333333', 'owner@cove.test');
insert into public.businesses (id, name) values
  ('cccccccc-cccc-4ccc-8ccc-cccccccccccc', 'Cove Cafe');
insert into public.business_members (business_id, user_id, role) values
  ('cccccccc-cccc-4ccc-8ccc-cccccccccccc', '33333333-3333-4333-8333-333333333333', 'owner');

create function pg_temp.as_user(p_user uuid) returns void language sql as $$
  select set_config('role', 'authenticated', true),
         set_config('request.jwt.claims',
                    json_build_object('sub', p_user, 'role', 'authenticated')::text, true);
$$;
create function pg_temp.consent(p_id uuid) returns text language sql as $$
  select sms_consent_status from public.customers where id = p_id
$$;

-- Olivia replies STOP to the shared sender -------------------------------------------------------
select sms.record_inbound_message('SM90000000000000000000000000000001', '+12125550101',
  '+15005550006', 'STOP', 'opt_out', 'stop');
select is((select array_agg(sms_consent_status order by id)::text from public.customers
            where phone = '+12125550101'), '{opted_out,opted_out}',
  'STOP opts the number out in both businesses');
select is((select status from sms.number_consent('cccccccc-cccc-4ccc-8ccc-cccccccccccc',
                                                 '+12125550101')), 'opted_out',
  'and in a business that had no record of it (the sender is shared)');

-- A member creates a record with the number, as opted in (a form) --------------------------------
select pg_temp.as_user('11111111-1111-4111-8111-111111111111');
insert into public.customers (id, business_id, name, phone, phone_status, sms_consent_status,
                              sms_consent_at)
values ('a0000000-0000-4000-8000-0000000000a1', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
        'Olivia again', '+12125550101', 'valid', 'opted_in', now());
reset role;
set local "request.jwt.claims" to '';
select is(pg_temp.consent('a0000000-0000-4000-8000-0000000000a1'), 'opted_out',
  'a new record with an opted-out number starts opted out, whatever the form wrote');
select ok((select sms_opted_out_at is not null and sms_consent_at is not null
             from public.customers where id = 'a0000000-0000-4000-8000-0000000000a1'),
  'with the opt-out time');
select is((select count(*)::int from public.sms_consent_events
            where customer_id = 'a0000000-0000-4000-8000-0000000000a1'), 0,
  'and the refused opt-in is not recorded as consent');
select throws_ok(
  $$select sms.create_send_log('a0000000-0000-4000-8000-0000000000a1', 1, 'GSM-7')$$,
  'P0001', 'opted_out', 'the new record is not texted');
select is((select sms_consent_status from sms.send_context(
             'a0000000-0000-4000-8000-0000000000a1', '11111111-1111-4111-8111-111111111111',
             now() - interval '1 day')), 'opted_out', 'send-sms reads it as opted out');

-- Deleted and re-created by an import (no user) in Cove --------------------------------------------
insert into public.customers (id, business_id, name, phone, sms_consent_status)
values ('c0000000-0000-4000-8000-000000000001', 'cccccccc-cccc-4ccc-8ccc-cccccccccccc',
        'Olivia', '+12125550101', 'opted_in');
select is(pg_temp.consent('c0000000-0000-4000-8000-000000000001'), 'opted_out',
  'an import into another business of the shared sender starts opted out too');
delete from public.customers where id = 'c0000000-0000-4000-8000-000000000001';
insert into public.customers (id, business_id, name, phone, sms_consent_status)
values ('c0000000-0000-4000-8000-000000000002', 'cccccccc-cccc-4ccc-8ccc-cccccccccccc',
        'Olivia (re-created)', '+12125550101', 'opted_in');
select is(pg_temp.consent('c0000000-0000-4000-8000-000000000002'), 'opted_out',
  'a re-created record starts opted out');

-- Direct writes cannot lift it ----------------------------------------------------------------------
select pg_temp.as_user('11111111-1111-4111-8111-111111111111');
update public.customers set sms_consent_status = 'opted_in'
 where id = 'a0000000-0000-4000-8000-000000000001';
update public.customers set sms_consent_status = 'unknown'
 where id = 'a0000000-0000-4000-8000-0000000000a1';
reset role;
set local "request.jwt.claims" to '';
select is((select array_agg(sms_consent_status order by id)::text from public.customers
            where business_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa' and phone = '+12125550101'),
  '{opted_out,opted_out}', 'a member''s form cannot opt the number back in, nor reset it');
update public.customers set sms_consent_status = 'opted_in'
 where id = 'a0000000-0000-4000-8000-000000000001';
select is(pg_temp.consent('a0000000-0000-4000-8000-000000000001'), 'opted_out',
  'nor can an import');
select throws_ok(
  $$select sms.apply_consent_change('a0000000-0000-4000-8000-000000000001', 'opted_in', 'api',
      p_acting_user => '11111111-1111-4111-8111-111111111111')$$,
  'P0001', 'consent_evidence_required', 'nor a business''s own change through the RPC');

-- New evidence of consent from the consumer --------------------------------------------------------
select throws_ok(
  $$select sms.record_opt_in('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '+12125550101', 'web_form',
      null, 'https://acme.test/sms')$$,
  '22023', null, 'an opt-in needs the consent language shown');
select throws_ok(
  $$select sms.record_opt_in('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '+12125550101', 'web_form',
      'Text me', null)$$,
  '22023', null, 'and where it was given');
select throws_ok(
  $$select sms.record_opt_in('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '+12125550101', 'verbal',
      'Can we text you?', 'phone call')$$,
  '22023', null, 'verbal consent names who took it');
select throws_ok(
  $$select sms.record_opt_in('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '+12125550101', 'fax',
      'Text me', 'https://acme.test/sms')$$,
  '22023', null, 'methods are web_form, keyword, verbal, import, written');
select throws_ok(
  $$select sms.record_opt_in('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '+12125550101', 'verbal',
      'Can we text you?', 'front desk', p_acting_user => '22222222-2222-4222-8222-222222222222')$$,
  'P0002', 'customer_not_found', 'the staff member must belong to the business');
create temp table optin as
  select * from sms.record_opt_in('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '+12125550101',
    'web_form', 'Yes, text me appointment reminders. Msg & data rates may apply. Reply STOP to opt out.',
    'https://acme.test/sms-signup', p_ip_address => '203.0.113.7',
    p_user_agent => 'Mozilla/5.0 (test)');
select is((select row(status, changed_customers)::text from optin), '(opted_in,2)',
  'an opt-in with its evidence opts the number in: both of Acme''s records');
select is((select array_agg(sms_consent_status order by id)::text from public.customers
            where business_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa' and phone = '+12125550101'),
  '{opted_in,opted_in}', 'both records follow the number');
select is(
  (select row(phone, source, method, consent_language is not null, source_url,
              host(ip_address), user_agent)::text
     from public.sms_consent_events where id = (select event_id from optin)),
  '(+12125550101,consent_capture,web_form,t,https://acme.test/sms-signup,203.0.113.7,"Mozilla/5.0 (test)")',
  'the event keeps the number, method, language, source, IP and user agent');
select is(pg_temp.consent('b0000000-0000-4000-8000-000000000001'), 'opted_out',
  'Bay''s record stays opted out: the evidence was given to Acme');
select is(pg_temp.consent('c0000000-0000-4000-8000-000000000002'), 'opted_out',
  'and Cove''s');

-- The consumer's START lifts their STOP where it was theirs -----------------------------------------
select sms.record_inbound_message('SM90000000000000000000000000000002', '+12125550101',
  '+15005550006', 'START', 'opt_in', 'start');
select is(pg_temp.consent('b0000000-0000-4000-8000-000000000001'), 'opted_in',
  'START re-opts-in Bay''s record (its opt-out was the STOP)');
select is(pg_temp.consent('c0000000-0000-4000-8000-000000000002'), 'unknown',
  'Cove''s record, opted out only by the shared STOP, returns to unknown (Cove has no consent)');

-- A business's own opt-out is per business, and every record of the number follows ------------------
insert into public.customers (id, business_id, name, phone, phone_status, sms_consent_status)
values ('a0000000-0000-4000-8000-0000000000a2', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
        'Tex (work)', '+12145550102', 'valid', 'unknown');
select is(pg_temp.consent('a0000000-0000-4000-8000-0000000000a2'), 'opted_in',
  'a new record of an opted-in number shows the number''s state');
select pg_temp.as_user('11111111-1111-4111-8111-111111111111');
update public.customers set sms_consent_status = 'opted_out'
 where id = 'a0000000-0000-4000-8000-000000000002';
reset role;
set local "request.jwt.claims" to '';
select is(pg_temp.consent('a0000000-0000-4000-8000-0000000000a2'), 'opted_out',
  'a member''s opt-out of one record opts out the number: the other record follows');
select is((select count(*)::int from public.sms_consent_events
            where phone = '+12145550102' and to_status = 'opted_out'), 1,
  'in one event for the number');
insert into public.customers (id, business_id, name, phone, sms_consent_status)
values ('b0000000-0000-4000-8000-0000000000b2', 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb',
        'Tex at Bay', '+12145550102', 'opted_in');
select is(pg_temp.consent('b0000000-0000-4000-8000-0000000000b2'), 'opted_in',
  'a business''s own opt-out does not reach other businesses');

-- A phone change resets consent ----------------------------------------------------------------------
select sms.enqueue_retry('b0000000-0000-4000-8000-000000000002', 'for the old number',
  'quiet_hours', now() + interval '1 hour');
select pg_temp.as_user('22222222-2222-4222-8222-222222222222');
update public.customers set phone = '+14155550299' where id = 'b0000000-0000-4000-8000-000000000002';
reset role;
set local "request.jwt.claims" to '';
select is((select row(sms_consent_status, phone_status, sms_consent_at)::text from public.customers
            where id = 'b0000000-0000-4000-8000-000000000002'), '(unknown,unknown,)',
  'a new number resets consent and the phone status');
select is(
  (select row(phone, from_status, to_status, source, acting_user_id, details ->> 'from_phone')::text
     from public.sms_consent_events
    where customer_id = 'b0000000-0000-4000-8000-000000000002' and source = 'phone_change'),
  '(+14155550299,opted_in,unknown,phone_change,22222222-2222-4222-8222-222222222222,+14155550202)',
  'recorded as a phone change, with both numbers and who made it');
select is((select count(*)::int from sms.retry_queue
            where customer_id = 'b0000000-0000-4000-8000-000000000002' and status = 'pending'), 0,
  'the message for the old number is cancelled');
select throws_ok(
  $$select sms.create_send_log('b0000000-0000-4000-8000-000000000002', 1, 'GSM-7')$$,
  'P0001', 'no_consent', 'and the new number is not texted on the old number''s consent');
update public.customers set phone_status = 'unknown'
 where id = 'a0000000-0000-4000-8000-000000000003';
update public.customers set phone = '+12145550102', phone_status = 'valid'
 where id = 'a0000000-0000-4000-8000-000000000003';
select is((select row(sms_consent_status, phone_status)::text from public.customers
            where id = 'a0000000-0000-4000-8000-000000000003'), '(opted_out,valid)',
  'moving to an opted-out number opts the record out (a phone status set with it stands)');
select is((select status from sms.number_consent('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
                                                 '+12125550103')), 'unknown',
  'a phone change is not a consent change of any number');

-- Evidence outlives the customer and the business --------------------------------------------------
create temp table olivia_events as
  select id from public.sms_consent_events where customer_id = 'a0000000-0000-4000-8000-000000000001';
delete from public.customers where id = 'a0000000-0000-4000-8000-000000000001';
select is((select count(*)::int from public.sms_consent_events
            where id in (select id from olivia_events)), (select count(*)::int from olivia_events),
  'deleting a customer keeps its consent events');
select ok((select count(*) from olivia_events) >= 2, '(its import and its STOP at least)');
grant select on olivia_events to authenticated;
select pg_temp.as_user('11111111-1111-4111-8111-111111111111');
select is((select count(*)::int from public.sms_consent_events
            where id in (select id from olivia_events)), (select count(*)::int from olivia_events),
  'a member still reads them');
reset role;
set local "request.jwt.claims" to '';
create temp table bay_events as
  select id from public.sms_consent_events where business_id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';
grant select on bay_events to service_role;
delete from public.businesses where id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';
select is((select count(*)::int from public.customers
            where business_id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'), 0,
  'deleting a business deletes its customers');
select pg_temp.as_user('22222222-2222-4222-8222-222222222222');
select is((select count(*)::int from public.sms_consent_events
            where business_id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'), 0,
  'its former member no longer reads its events (no membership)');
select set_config('role', 'service_role', true);
select is((select count(*)::int from public.sms_consent_events
            where id in (select id from bay_events)), (select count(*)::int from bay_events),
  'but its events are kept, and service_role reads them');
select ok((select count(*) from bay_events) >= 4, '(Bay''s imports, STOP, START, phone change)');
select throws_ok($$delete from public.sms_consent_events where id = (select min(id) from bay_events)$$,
  '42501', null, 'service_role cannot delete them');
reset role;
set local "request.jwt.claims" to '';
select throws_ok($$delete from public.sms_consent_events where id = (select min(id) from bay_events)$$,
  '42501', 'sms_consent_events is append-only', 'nor can their owner, but by pruning');

-- Export ----------------------------------------------------------------------------------------------
create temp table export_a (x jsonb);
grant insert on export_a to authenticated;
select pg_temp.as_user('11111111-1111-4111-8111-111111111111');
insert into export_a
  select public.export_sms_consent_history('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '+12125550101');
reset role;
set local "request.jwt.claims" to '';
select is((select row(x ->> 'number', x -> 'business' ->> 'name',
                      x -> 'current_state' ->> 'status')::text from export_a),
  '(+12125550101,"Acme Plumbing",opted_in)', 'the export names the number, business and state');
select is((select jsonb_array_length(x -> 'events') from export_a),
  (select count(*)::int from public.sms_consent_events
    where business_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa' and phone = '+12125550101'),
  'and every event of the number in the business, the deleted customer''s too');
select is((select array_agg(e ->> 'source' order by ord)::text
             from export_a, jsonb_array_elements(x -> 'events') with ordinality t(e, ord)),
  '{import,keyword,consent_capture}',
  'oldest first: the seed''s import, STOP, the web form (the refused form wrote nothing)');
select is(
  (select row(e ->> 'method', e ->> 'source_url', e ->> 'ip_address', e ->> 'user_agent',
              e ->> 'consent_language' like 'Yes, text me%')::text
     from export_a, jsonb_array_elements(x -> 'events') e where e ->> 'source' = 'consent_capture'),
  '(web_form,https://acme.test/sms-signup,203.0.113.7,"Mozilla/5.0 (test)",t)',
  'each with its evidence');
select is((select x -> 'current_state' -> 'basis' ->> 'source' from export_a), 'consent_capture',
  'the current state names the event it rests on');
select pg_temp.as_user('33333333-3333-4333-8333-333333333333');
select is(public.export_sms_consent_history('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '+12125550101'),
  null, 'a non-member gets nothing');
select is(public.export_sms_consent_history('cccccccc-cccc-4ccc-8ccc-cccccccccccc', '+12125550101')
            -> 'current_state' ->> 'status', 'unknown', 'Cove''s member gets Cove''s view');
reset role;
set local "request.jwt.claims" to '';
select ok(not has_function_privilege('anon',
  'public.export_sms_consent_history(uuid, text)', 'execute'), 'anon cannot export');

-- Retention -------------------------------------------------------------------------------------------
select is((select row(keep_years, opt_out_keep_years)::text from sms.consent_retention), '(5,10)',
  'kept five years, opt-outs ten, by default');
insert into public.sms_consent_events (business_id, phone, to_status, source, occurred_at, details)
values
  ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '+12125559901', 'opted_in', 'import',
   now() - interval '6 years', '{"t": "old opt-in"}'),
  ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '+12125559901', 'opted_out', 'import',
   now() - interval '5 years 6 months', '{"t": "opt-out, 5.5 years"}'),
  ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '+12125559902', 'opted_out', 'import',
   now() - interval '11 years', '{"t": "opt-out, 11 years"}'),
  ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '+12125559903', 'opted_in', 'import',
   now() - interval '4 years 6 months', '{"t": "opt-in, 4.5 years"}'),
  ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '+12125559904', 'opted_in', 'import',
   now() - interval '7 years', '{"t": "opt-in in force"}');
insert into public.customers (business_id, name, phone) values
  ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'Still texted', '+12125559904');
select is((select sms.prune_consent_events()), 2, 'pruning deletes what is past retention');
select is((select array_agg(details ->> 't' order by id)::text from public.sms_consent_events
            where phone like '+1212555990_'),
  '{"opt-out, 5.5 years","opt-in, 4.5 years","opt-in in force"}',
  'an opt-out is kept ten years; the consent a record still relies on is kept');
update sms.consent_retention set keep_years = 4;
select is((select sms.prune_consent_events()), 1, 'retention is configurable (four years)');
select throws_ok($$update sms.consent_retention set keep_years = 3$$, '23514', null,
  'never under four years (TCPA claims)');
select throws_ok($$update sms.consent_retention set opt_out_keep_years = 9$$, '23514', null,
  'nor under ten years for opt-outs');
select ok(not has_function_privilege('authenticated', 'sms.prune_consent_events(timestamptz)',
  'execute'), 'clients cannot prune');
select is((select schedule from cron.job where jobname = 'prune-sms-consent-events'), '17 3 * * *',
  'pg_cron prunes daily');

-- The frequency cap counts per number in both paths ---------------------------------------------------
-- Tex's number is opted out at Acme now; use Uma's instead: two records, one number.
update public.customers set sms_consent_status = 'opted_in'
 where id = 'a0000000-0000-4000-8000-000000000008';
insert into public.customers (id, business_id, name, phone, phone_status, sms_consent_status,
                              time_zone, us_state)
values ('a0000000-0000-4000-8000-0000000000a8', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
        'Umberto (second record)', '+13055550108', 'valid', 'unknown', 'America/New_York', 'FL');
select is(pg_temp.consent('a0000000-0000-4000-8000-0000000000a8'), 'opted_in',
  'the second record shares the number''s consent');
select sms.create_send_log('a0000000-0000-4000-8000-000000000008', 1, 'GSM-7');
create temp table q as
  select * from sms.enqueue_retry('a0000000-0000-4000-8000-0000000000a8', 'capped?',
    'frequency_cap', now() - interval '1 minute');
select is((select count(*)::int from sms.claim_due_retries(10, 60, 'w1')), 1, 'claimed');
select is((select cardinality(recent_sends) from sms.retry_send_context(
             (select retry_id from q), 'w1', 0, now() - interval '1 day')), 1,
  'process-retries counts the other record''s send to the same number');
select is((select cardinality(recent_sends) from sms.send_context(
             'a0000000-0000-4000-8000-0000000000a8', '11111111-1111-4111-8111-111111111111',
             now() - interval '1 day')), 1, 'as send-sms does, with the same definition');

-- The consent a send relied on (the first part of item 8's receipt) ---------------------------------
select is((select consent_event_id from public.send_logs
            where customer_id = 'a0000000-0000-4000-8000-000000000008' and channel = 'sms'),
  (select event_id from sms.number_consent('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '+13055550108')),
  'a log sent now records the consent event the number''s opt-in rests on');
select is((select consent_event_id from public.send_logs where id = (select send_log_id from q)),
  null, 'a deferred log has none yet');
select sms.record_status_event(null, 'sending', null, null, '{}'::jsonb, null, 'system',
  (select send_log_id from q));
select is((select consent_event_id from public.send_logs where id = (select send_log_id from q)),
  (select event_id from sms.number_consent('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '+13055550108')),
  'process-retries'' send records it as it goes out');
select is((select e.to_status from public.send_logs l
             join public.sms_consent_events e on e.id = l.consent_event_id
            where l.id = (select send_log_id from q)), 'opted_in', 'an opt-in, readable by join');

-- The rest of the receipt, written once as the message goes out --------------------------------------
select ok(sms.record_send_receipt((select send_log_id from q), '{"ruleSet": "2026-12-04"}'::jsonb),
  'a receipt is written on a log that has none');
select ok(not sms.record_send_receipt((select send_log_id from q), '{"ruleSet": "other"}'::jsonb),
  'and never replaced');
select is((select compliance_receipt ->> 'ruleSet' from public.send_logs
            where id = (select send_log_id from q)), '2026-12-04', 'the first receipt stays');
select throws_ok($$select sms.record_send_receipt(gen_random_uuid(), '[]'::jsonb)$$, '22023',
  'a compliance receipt is a JSON object', 'a receipt is a JSON object');

select * from finish();
rollback;
