-- process-retries' RPCs: the shared sender pacer (sms.reserve_send_slot), a held row's context
-- (sms.retry_send_context: lease check, customer facts, recent sends, fingerprint), the start of
-- its send (sms.start_retry_send) and its finish (sms.finish_retry_send).
begin;
select plan(50);

delete from public.send_logs where channel = 'sms';
delete from sms.send_pacing;

-- Pacing ---------------------------------------------------------------------------------------
select is(sms.reserve_send_slot('t:a', 1, 10), 0, 'a sender''s first slot is now');
-- Waits are measured from the clock, so the time the statements themselves take comes off them
-- (tens of ms on a loaded machine); the bounds still tell 100 ms from none and 300 ms from 100.
select cmp_ok(sms.reserve_send_slot('t:a', 2, 10), '>', 50,
  'the next waits for the first segment''s 100 ms');
select cmp_ok(sms.reserve_send_slot('t:a', 1, 10), '>', 200,
  'and the next for the two segments before it (300 ms)');
select cmp_ok(sms.reserve_send_slot('t:a', 1, 10), '<=', 400,
  'a slot never waits longer than the segments booked before it');
create temp table before_full as select next_slot_at from sms.send_pacing where key = 't:a';
select is(sms.reserve_send_slot('t:a', 1, 10, 100), null,
  'past p_max_wait_ms: no slot');
select is((select next_slot_at from sms.send_pacing where key = 't:a'),
  (select next_slot_at from before_full), 'and nothing was reserved');
select is(sms.reserve_send_slot('t:a', 1, 10, -1), null, 'a spent budget gets no slot');
select is(sms.reserve_send_slot('t:b', 5, 1), 0, 'senders are paced independently');
select cmp_ok(sms.reserve_send_slot('t:b', 1, 1, 10000), '>', 4900,
  'five segments at 1/s keep the sender busy for 5 s');
update sms.send_pacing set next_slot_at = now() - interval '1 hour' where key = 't:b';
select is(sms.reserve_send_slot('t:b', 1, 1), 0,
  'an idle sender earns no burst: the next slot is simply now');
select throws_ok($$select sms.reserve_send_slot('t:a', 0, 10)$$, '22023', null,
  'at least one segment');
select throws_ok($$select sms.reserve_send_slot('t:a', 1, 0)$$, '22023', null,
  'a positive rate');
select throws_ok($$select sms.reserve_send_slot('', 1, 10)$$, '22023', null, 'a key');
select throws_ok($$select sms.reserve_send_slot('t:a', 100001, 10)$$, '22023', null,
  'a batch of at most 100,000 segments');
select throws_ok($$select sms.reserve_send_slot('t:a', 1, 10, null, -1)$$, '22023', null,
  'a lead of zero or more');
select throws_ok($$select sms.reserve_send_slot('t:a', 1, 10, null, 0, 'w', -1)$$, '22023', null,
  'a gap of zero or more');
select is(sms.reserve_send_slot('t:c', 1, 10, null, 200), 200,
  'an idle sender''s slot starts the caller''s lead from now');
-- A batch booked at once, then the same worker and another one after it.
select is(sms.reserve_send_slot('t:d', 10, 10, null, 0, 'w1', 150), 0,
  'ten segments are booked in one reservation');
select cmp_ok(sms.reserve_send_slot('t:d', 1, 10, null, 0, 'w1', 150), '>', 900,
  'the batch holds the sender for its ten segments (1 s)');
select cmp_ok(sms.reserve_send_slot('t:d', 1, 10, null, 0, 'w1', 150), '<=', 1100,
  'the worker that booked them follows on without a gap');
select cmp_ok(sms.reserve_send_slot('t:d', 1, 10, null, 0, 'w2', 150), '>', 1150,
  'another worker starts the gap after the slots booked before it');
select is((select booked_by from sms.send_pacing where key = 't:d'), 'w2',
  'the sender remembers who booked last');
update sms.send_pacing set next_slot_at = now() - interval '1 second' where key = 't:d';
select is(sms.reserve_send_slot('t:d', 1, 10, null, 0, 'w1', 150), 0,
  'an idle sender leaves no gap, whoever booked last');

-- Context of a held row ----------------------------------------------------------------------
create temp table q as
  select * from sms.enqueue_retry('a0000000-0000-4000-8000-000000000001', 'Hello again',
    'provider_unavailable', now() - interval '1 minute');
select is((select count(*)::int from sms.claim_due_retries(10, 60, 'w1')), 1, 'claimed');

create function pg_temp.ctx(worker text, min_lease int default 0,
                            since timestamptz default null)
returns table (lease_held boolean, consent_status text, phone text, phone_status text,
               time_zone text, us_state text, log_status text, log_to_phone text,
               log_twilio_sid text, n_recent int)
language sql as $$
  select c.lease_held, c.consent_status, c.phone, c.phone_status, c.time_zone, c.us_state,
         c.log_status, c.log_to_phone, c.log_twilio_sid, cardinality(c.recent_sends)
    from sms.retry_send_context((select retry_id from q), worker, min_lease, since) c
$$;

select is((select row(p.*)::text from pg_temp.ctx('w1') p),
  '(t,opted_in,+12125550101,valid,America/New_York,NY,deferred,+12125550101,,0)',
  'the holder gets the customer''s consent, phone, zone and state, and its log');
select is((select help_contact from sms.retry_send_context((select retry_id from q), 'w1')),
  'help@acme.test', 'and the business''s help contact (none: the row is cancelled)');
select is((select lease_held from pg_temp.ctx('w2')), false, 'another worker gets nothing');
select is((select phone from pg_temp.ctx('w2')), null, '(not even the phone)');
select is((select lease_held from pg_temp.ctx('w1', 120)), false,
  'a lease shorter than the send needs is as good as lost');
select is(
  (select lease_held from sms.retry_send_context(gen_random_uuid(), 'w1')), false,
  'an unknown row is nobody''s');

-- Recent sends: accepted by Twilio (the api event with a sid), or being sent right now.
create temp table l1 as
  select sms.create_send_log('a0000000-0000-4000-8000-000000000001', 1, 'GSM-7') as log;
select sms.record_send_result((select (log).id from l1),
  'SM70000000000000000000000000000001', 'queued');
select is((select n_recent from pg_temp.ctx('w1')), 1, 'a message Twilio accepted counts');
create temp table l2 as
  select sms.create_send_log('a0000000-0000-4000-8000-000000000001', 1, 'GSM-7') as log;
select is((select n_recent from pg_temp.ctx('w1')), 2, 'one being sent counts too');
select sms.create_send_log('a0000000-0000-4000-8000-000000000002', 1, 'GSM-7');
select is((select n_recent from pg_temp.ctx('w1')), 2, 'another customer''s do not');
select is((select n_recent from pg_temp.ctx('w1', 0, now() + interval '1 second')), 0,
  'only since p_since');
-- Starting a send: the decision's fingerprint, checked again under the locks --------------------
create temp table fp as
  select fingerprint from sms.retry_send_context((select retry_id from q), 'w1');
select sms.create_send_log('a0000000-0000-4000-8000-000000000001', 1, 'GSM-7');
select isnt((select fingerprint from sms.retry_send_context((select retry_id from q), 'w1')),
  (select fingerprint from fp), 'another send to the number changes the fingerprint');
select is(sms.start_retry_send((select retry_id from q), 'w1', 0, null,
                               (select fingerprint from fp), '{"rule": "t"}'),
  'changed', 'a start on what the decision read before it is refused');
select is((select row(status, compliance_receipt)::text from public.send_logs
            where id = (select send_log_id from q)), '(deferred,)', '(nothing written)');
create temp table fp2 as
  select fingerprint from sms.retry_send_context((select retry_id from q), 'w1');
select is(sms.start_retry_send((select retry_id from q), 'w2', 0, null,
                               (select fingerprint from fp2), '{"rule": "t"}'),
  'lost', 'another worker cannot start it');
select is(sms.start_retry_send((select retry_id from q), 'w1', 0, null,
                               (select fingerprint from fp2), '{"rule": "t"}'),
  'started', 'its holder starts it on a fresh decision');
select is((select row(status, compliance_receipt ->> 'rule')::text from public.send_logs
            where id = (select send_log_id from q)), '(sending,t)',
  'its log is sending, with the receipt');
select throws_ok($$select sms.start_retry_send(gen_random_uuid(), 'w1', 0, null, null, '{}')$$,
  '22023', null, 'a start needs the fingerprint and the receipt');

select sms.record_send_result((select send_log_id from q),
  'SM70000000000000000000000000000002', 'queued');
select is((select log_twilio_sid from pg_temp.ctx('w1')), 'SM70000000000000000000000000000002',
  'the log''s sid, once stored, is returned (the row must not be sent again)');

-- Finishing a send -----------------------------------------------------------------------------
select is(sms.finish_retry_send((select retry_id from q), 'w1',
                                'SM70000000000000000000000000000002', 'queued', 1),
  true, 'its holder stores Twilio''s answer and completes the row');
select is((select status from sms.retry_queue where id = (select retry_id from q)), 'completed',
  '(completed)');
select is(sms.finish_retry_send((select retry_id from q), 'w1',
                                'SM70000000000000000000000000000002', 'queued', 1),
  false, 'a finished row is not finished again');
create temp table q2 as
  select * from sms.enqueue_retry('a0000000-0000-4000-8000-000000000002', 'Hello',
    'provider_unavailable', now() - interval '1 minute');
select sms.claim_due_retries(10, 60, 'w1');
-- A callback that came before the answer, with an error whose effect needs the caller's code.
select sms.record_status_event('SM70000000000000000000000000000003', 'failed', 30006, 'landline');
select throws_ok(format($$select sms.finish_retry_send(%L, 'w1',
                          'SM70000000000000000000000000000003', 'queued', 1)$$,
                        (select retry_id from q2)),
  'P0001', 'provider_error_pending', 'an early callback''s error goes back to the caller');
select is((select status from sms.retry_queue where id = (select retry_id from q2)),
  'processing', 'and nothing was written');

-- Who may call ---------------------------------------------------------------------------------
select ok(not has_function_privilege('authenticated',
  'sms.reserve_send_slot(text, integer, numeric, integer, integer, text, integer)', 'execute')
  and not has_function_privilege('anon',
  'sms.reserve_send_slot(text, integer, numeric, integer, integer, text, integer)', 'execute'),
  'clients cannot touch the pacer');
select ok(not has_function_privilege('authenticated',
  'sms.retry_send_context(uuid, text, integer, timestamptz)', 'execute')
  and has_function_privilege('service_role',
  'sms.retry_send_context(uuid, text, integer, timestamptz)', 'execute'),
  'the context is for service_role only');
select ok(not has_table_privilege('authenticated', 'sms.send_pacing', 'select')
  and not has_table_privilege('service_role', 'sms.send_pacing', 'update'),
  'the pacing table is read-only for service_role, invisible to clients');

select * from finish();
rollback;
