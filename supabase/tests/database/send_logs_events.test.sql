-- sms_message_events: every callback recorded once (idempotent on sid + status), statuses applied
-- forward-only whatever order callbacks arrive in, early callbacks linked when the sid is stored,
-- and the log is append-only.
begin;
select plan(24);

create function pg_temp.new_log(sid text) returns uuid language sql as $$
  select (sms.record_send_result(
            (sms.create_send_log('a0000000-0000-4000-8000-000000000001', 1, 'GSM-7')).id,
            sid, 'queued')).id
$$;

-- Idempotent callbacks -----------------------------------------------------------------------------
create temp table t1 as select pg_temp.new_log('SM10000000000000000000000000000001') as log;
create temp table first_cb as
  select * from sms.record_status_event('SM10000000000000000000000000000001', 'delivered',
                                        p_payload => '{"MessageStatus": "delivered"}');
create temp table second_cb as
  select * from sms.record_status_event('SM10000000000000000000000000000001', 'delivered');

select is((select row(duplicate, status, applied)::text from first_cb), '(f,delivered,t)',
  'the first delivered callback is recorded and applied');
select is((select row(duplicate, status, applied)::text from second_cb), '(t,delivered,f)',
  'the same callback again is a duplicate and changes nothing');
select is((select event_id from second_cb), (select event_id from first_cb),
  'a duplicate returns the first event');
select is(
  (select count(*)::int from public.sms_message_events
    where message_sid = 'SM10000000000000000000000000000001' and source = 'callback'),
  1, 'one row per callback identity');
select is((select send_log_id from first_cb), (select log from t1),
  'the callback is linked to its send log by the sid');
select is(
  (select row(business_id, payload ->> 'MessageStatus')::text from public.sms_message_events
    where id = (select event_id from first_cb)),
  '(aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa,delivered)', 'the event carries business and payload');

-- Any order: every permutation of queued, sending, sent, delivered, each delivered twice ----------
create temp table perms as
  with recursive p(seq) as (
    select array[s] from unnest(array['queued', 'sending', 'sent', 'delivered']) s
    union all
    select p.seq || s from p, unnest(array['queued', 'sending', 'sent', 'delivered']) s
     where not s = any (p.seq))
  select row_number() over () as n, seq from p where cardinality(seq) = 4;
alter table perms add column sid text, add column log uuid;
update perms set sid = 'SM2' || lpad(n::text, 31, '0');
update perms set log = pg_temp.new_log(sid);
do $$
declare
  r record;
  s text;
begin
  for r in select * from perms order by n loop
    foreach s in array r.seq || r.seq loop
      perform sms.record_status_event(r.sid, s);
    end loop;
  end loop;
end
$$;
select is((select count(*)::int from perms), 24, '24 orders of four callbacks');
select is(
  (select count(*)::int from perms p join public.send_logs l on l.id = p.log
    where l.status = 'delivered'),
  24, 'every order ends delivered');
select is(
  (select count(*)::int from perms p join public.send_logs l on l.id = p.log
    where l.sent_at is null),
  0, 'every order stamps sent_at');
select is(
  (select count(*)::int from public.sms_message_events e join perms p on p.sid = e.message_sid
    where e.source = 'callback'),
  96, 'each callback recorded once, though each arrived twice');

-- Terminal statuses do not replace one another.
create temp table t3 as select pg_temp.new_log('SM30000000000000000000000000000001') as log;
select sms.record_status_event('SM30000000000000000000000000000001', 'undelivered', 30003,
  'Unreachable destination handset');
select sms.record_status_event('SM30000000000000000000000000000001', 'sent');
select sms.record_status_event('SM30000000000000000000000000000001', 'delivered');
select is(
  (select row(status, error_code, error)::text from public.send_logs
    where id = (select log from t3)),
  '(undelivered,30003,"Unreachable destination handset")',
  'the first terminal status stays, with its error code');
select is(
  (select count(*)::int from public.sms_message_events
    where message_sid = 'SM30000000000000000000000000000001' and source = 'callback'),
  3, 'ignored callbacks are still recorded');

-- Inbound words change no outbound log.
select is(
  (select row(status, applied)::text
     from sms.record_status_event('SM30000000000000000000000000000001', 'received')),
  '(undelivered,f)', 'received is recorded and changes nothing');
select is(
  (select status from public.sms_message_events
    where message_sid = 'SM30000000000000000000000000000001' and provider_status = 'received'),
  null, 'received maps to no send-log status');

-- Early callbacks: before the sid is stored on the log ----------------------------------------------
create temp table early as
  select * from sms.record_status_event('SM40000000000000000000000000000001', 'sent');
select sms.record_status_event('SM40000000000000000000000000000001', 'delivered');
select is((select row(send_log_id, status, applied)::text from early), '(,,f)',
  'a callback for an unknown sid is kept, unattributed');
create temp table t4 as select pg_temp.new_log('SM40000000000000000000000000000001') as log;
select is((select status from public.send_logs where id = (select log from t4)), 'delivered',
  'storing the sid applies the callbacks that came first');
select is(
  (select count(*)::int from public.sms_message_events
    where message_sid = 'SM40000000000000000000000000000001'
      and send_log_id = (select log from t4)
      and business_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'),
  3, 'and links them (and the api event) to the log and its business');

-- Our own transitions, by send log id.
create temp table t5 as
  select (sms.enqueue_retry('a0000000-0000-4000-8000-000000000001', 'later',
                            'quiet_hours')).send_log_id as log;
select is(
  (select row(status, applied)::text
     from sms.record_status_event(null, 'sending', p_source => 'system',
                                  p_send_log_id => (select log from t5))),
  '(sending,t)', 'a system event moves deferred to sending');
select is(
  (select array_agg(source || ':' || provider_status order by id) from public.sms_message_events
    where send_log_id = (select log from t5)),
  array['system:deferred', 'system:sending'], 'and is recorded');

-- Bad input.
select throws_ok($$select sms.record_status_event(null, 'delivered')$$, '22023', null,
  'a callback needs a sid');
select throws_ok(
  $$select sms.record_status_event('SM1', 'delivered', p_source => 'webhook')$$,
  '22023', null, 'sources are api, callback, lookup, system');
select throws_ok(
  $$select sms.record_status_event(null, 'sent', p_source => 'system',
                                   p_send_log_id => gen_random_uuid())$$,
  'P0002', 'send_log_not_found', 'an unknown send log is an error');

-- Append-only -----------------------------------------------------------------------------------
select throws_ok(
  $$update public.sms_message_events set provider_status = 'failed'
     where id = (select event_id from first_cb)$$,
  '42501', 'sms_message_events is append-only', 'an event''s content never changes');
select throws_ok(
  $$update public.sms_message_events set send_log_id = null
     where id = (select event_id from first_cb)$$,
  '42501', 'sms_message_events is append-only', 'a linked event is never unlinked');

select * from finish();
rollback;
