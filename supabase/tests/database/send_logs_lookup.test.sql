-- Statuses no callback reported: which logs process-retries asks Twilio about (past their
-- status's threshold, not asked recently, not too old, oldest first, bounded, each once across
-- concurrent claims), and how the answer is applied (forward only, source 'lookup', an event
-- only when the log moves; a message Twilio does not know ends failed with a reason).
begin;
select plan(34);

-- Logs already in the database (seed, other fixtures) are out of the way: just looked up.
update public.send_logs set status_checked_at = now() where channel = 'sms';

create function pg_temp.new_log(sid text, status text, age interval) returns uuid
language plpgsql as $$
declare
  v_id uuid;
begin
  v_id := (sms.create_send_log('a0000000-0000-4000-8000-000000000001', 1, 'GSM-7', null,
                               case when sid is null then status else 'queued' end)).id;
  if sid is not null then
    perform sms.record_send_result(v_id, sid, 'queued');
    if status <> 'queued' then
      perform sms.record_status_event(sid, status);
    end if;
  end if;
  update public.send_logs set status_at = now() - age where id = v_id;
  return v_id;
end
$$;

create temp table logs (name text primary key, id uuid);
insert into logs values
  ('queued_20m', pg_temp.new_log('SM90000000000000000000000000000001', 'queued', '20 minutes')),
  ('queued_5m', pg_temp.new_log('SM90000000000000000000000000000002', 'queued', '5 minutes')),
  ('sent_20m', pg_temp.new_log('SM90000000000000000000000000000003', 'sent', '20 minutes')),
  ('sent_2h', pg_temp.new_log('SM90000000000000000000000000000004', 'sent', '2 hours')),
  ('delivered_2h', pg_temp.new_log('SM90000000000000000000000000000005', 'delivered', '2 hours')),
  ('checked_1m', pg_temp.new_log('SM90000000000000000000000000000006', 'queued', '3 hours')),
  ('too_old', pg_temp.new_log('SM90000000000000000000000000000007', 'queued', '100 hours')),
  ('no_sid', pg_temp.new_log(null, 'sending', '3 hours')),
  ('checked_2h', pg_temp.new_log('SM90000000000000000000000000000009', 'sending', '30 hours'));
update public.send_logs set status_checked_at = now() - interval '1 minute'
 where id = (select id from logs where name = 'checked_1m');
update public.send_logs set status_checked_at = now() - interval '2 hours'
 where id = (select id from logs where name = 'checked_2h');

create function pg_temp.claim(n integer) returns text[] language sql as $$
  select coalesce(array_agg(l.name order by c.ord), '{}')
    from sms.claim_status_lookups(n, 600, 3600, 3600, 72 * 3600)
         with ordinality as c(send_log_id, message_sid, status, status_at, ord)
    join logs l on l.id = c.send_log_id
$$;

-- Which, in what order, how many ----------------------------------------------------------------
select is(pg_temp.claim(2), array['checked_2h', 'sent_2h'],
  'the oldest stale logs first, at most the limit');
select is(pg_temp.claim(10), array['queued_20m'],
  'then the rest; none of the first claim again (just looked up)');
select is(pg_temp.claim(10), '{}'::text[], 'nothing left: none is asked about twice in a row');
select isnt((select status_checked_at from public.send_logs
              where id = (select id from logs where name = 'sent_2h')), null,
  'a claimed log records when it was looked up');
select is((select status_checked_at from public.send_logs
            where id = (select id from logs where name = 'queued_5m')), null,
  'a log within its threshold is not touched');
select is(
  (select row(message_sid, status)::text
     from sms.claim_status_lookups(10, 0, 0, 0, 72 * 3600)
    where send_log_id = (select id from logs where name = 'sent_20m')),
  '(SM90000000000000000000000000000003,sent)',
  'a claim answers the sid and the status; with zero thresholds every waiting log is due');
update public.send_logs set status_checked_at = null where id in (select id from logs);
select is(
  (select array_agg(l.name order by l.name)
     from sms.claim_status_lookups(100, 0, 0, 0, 1000 * 3600) c
     join logs l on l.id = c.send_log_id),
  array['checked_1m', 'checked_2h', 'queued_20m', 'queued_5m', 'sent_20m', 'sent_2h', 'too_old'],
  'never a final log or one without a sid; the age limit is a setting');
select is(
  (select count(*)::int from sms.claim_status_lookups(0, 0, 0, 0, 1000 * 3600)), 0,
  'a limit of 0 claims nothing');
select throws_ok($$select * from sms.claim_status_lookups(1001, 600, 3600, 3600, 3600)$$,
  '22023', null, 'a claim is bounded');
select throws_ok($$select * from sms.claim_status_lookups(1, -1, 3600, 3600, 3600)$$,
  '22023', null, 'thresholds are not negative');

-- The scan stays on the partial index -----------------------------------------------------------
select is(
  (select pg_get_expr(i.indpred, i.indrelid) from pg_index i
    where i.indexrelid = 'public.send_logs_sms_awaiting_status_idx'::regclass),
  '((channel = ''sms''::text) AND (status = ANY (ARRAY[''queued''::text, ''sending''::text, ''sent''::text])) AND ((provider_message_id ->> ''twilio_sid''::text) IS NOT NULL))',
  'the index holds only logs awaiting a status, with a sid');
-- Many final logs, few awaiting a status: the claim's scan reads the small index, not the table.
insert into public.send_logs (business_id, channel, to_phone, status, status_at,
                              provider_message_id)
select 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'sms', '+12125550100', 'delivered',
       now() - interval '1 hour' * (i % 48),
       jsonb_build_object('twilio_sid', 'SMF' || lpad(i::text, 31, '0'))
  from generate_series(1, 5000) i;
analyze public.send_logs;
create temp table plan_lines (line text);
do $$
declare
  r record;
begin
  for r in explain
    select l.id from public.send_logs l
     where l.channel = 'sms' and l.status in ('queued', 'sending', 'sent')
       and (l.provider_message_id ->> 'twilio_sid') is not null
       and l.status_at >= now() - make_interval(secs => 3600)
       and l.status_at < now() - make_interval(secs => case when l.status = 'sent'
                                                            then 60 else 30 end)
       and (l.status_checked_at is null
            or l.status_checked_at < now() - make_interval(secs => 60))
     order by l.status_at, l.id
     limit 10
       for update of l skip locked
  loop
    insert into plan_lines values (r."QUERY PLAN");
  end loop;
end
$$;
select ok(exists (select 1 from plan_lines where line like '%send_logs_sms_awaiting_status_idx%'),
  'the claim''s scan reads the partial index');

-- Applying what Twilio says ---------------------------------------------------------------------
create temp table r1 as
  select * from sms.record_status_lookup((select id from logs where name = 'queued_20m'),
                                         'delivered', p_payload => '{"status": "delivered"}');
select is((select row(status, applied)::text from r1), '(delivered,t)',
  'a lookup moves the log forward');
select is(
  (select row(source, provider_status, status, message_sid, payload ->> 'status')::text
     from public.sms_message_events where id = (select event_id from r1)),
  '(lookup,delivered,delivered,SM90000000000000000000000000000001,delivered)',
  'and is recorded as coming from a lookup');
create temp table r2 as
  select * from sms.record_status_lookup((select id from logs where name = 'queued_20m'),
                                         'delivered');
select is((select row(event_id, status, applied)::text from r2), '(,delivered,f)',
  'the same answer again changes nothing and records no event');
select is(
  (select count(*)::int from public.sms_message_events
    where send_log_id = (select id from logs where name = 'queued_20m') and source = 'lookup'),
  1, 'one lookup event for the one change');
select is(
  (select row(status, applied)::text
     from sms.record_status_lookup((select id from logs where name = 'queued_20m'), 'sent')),
  '(delivered,f)', 'a lookup never moves a log back');
select is(
  (select row(duplicate, status, applied)::text
     from sms.record_status_event('SM90000000000000000000000000000001', 'sent')),
  '(f,delivered,f)', 'nor does a late callback after a lookup');

select is(
  (select row(status, applied)::text
     from sms.record_status_lookup((select id from logs where name = 'sent_2h'), 'sent')),
  '(sent,f)', 'Twilio still says sent: the log stays sent');
update public.send_logs set status_checked_at = null
 where id = (select id from logs where name = 'sent_2h');
select is(
  (select row(status, applied)::text
     from sms.record_status_lookup((select id from logs where name = 'sent_2h'), 'undelivered',
                                   30003, 'Unreachable destination handset')),
  '(undelivered,t)', 'undelivered with its error code');
select is(
  (select row(status, error_code, error, status_checked_at is not null)::text
     from public.send_logs where id = (select id from logs where name = 'sent_2h')),
  '(undelivered,30003,"Unreachable destination handset",t)',
  'the log keeps Twilio''s code and message, and when it was looked up');
select is(
  (select row(status, applied)::text
     from sms.record_status_lookup((select id from logs where name = 'queued_5m'), 'accepted')),
  '(queued,f)', 'accepted is still queued: no change');

-- Twilio has no such message ----------------------------------------------------------------------
create temp table r3 as
  select * from sms.record_status_lookup((select id from logs where name = 'checked_2h'), null,
                                         p_payload => '{"http_status": 404}');
select is((select row(status, applied)::text from r3), '(failed,t)',
  'a message Twilio does not know ends failed');
select is(
  (select row(status, error_code, error)::text from public.send_logs
    where id = (select id from logs where name = 'checked_2h')),
  '(failed,20404,"Twilio has no such message (20404)")', 'with the reason');
select is(
  (select row(source, provider_status, error_code, payload ->> 'lookup',
              payload ->> 'http_status')::text
     from public.sms_message_events where id = (select event_id from r3)),
  '(lookup,failed,20404,not_found,404)', 'recorded as a lookup that found nothing');
select is(
  (select row(status, applied)::text
     from sms.record_status_lookup((select id from logs where name = 'delivered_2h'), null)),
  '(delivered,f)', 'a final log stays as it is even if Twilio no longer has the message');

-- No answer from Twilio: due again at once -------------------------------------------------------
update public.send_logs set status_checked_at = now() - interval '2 minutes'
 where id = (select id from logs where name = 'queued_5m');
update public.send_logs set status_at = now() - interval '1 hour'
 where id = (select id from logs where name = 'queued_5m');
select is(pg_temp.claim(10), '{}'::text[], 'a log looked up a moment ago is not due');
select ok(sms.release_status_lookup((select id from logs where name = 'queued_5m')),
  'releasing a lookup that got no answer');
select is(pg_temp.claim(10), array['queued_5m'], 'makes the log due again at once');

-- Bad input -------------------------------------------------------------------------------------
select throws_ok(
  $$select * from sms.record_status_lookup(gen_random_uuid(), 'delivered')$$,
  'P0002', 'send_log_not_found', 'an unknown log is an error');
select throws_ok(
  format('select * from sms.record_status_lookup(%L, %L)',
         (select id from logs where name = 'no_sid'), 'delivered'),
  '22023', null, 'a log without a sid cannot be looked up');
select throws_ok(
  format('select * from sms.record_status_lookup(%L, %L)',
         (select id from logs where name = 'sent_20m'), ''),
  '22023', null, 'an empty status is refused');
create temp table r4 as
  select * from sms.record_status_event(null, 'sent', p_source => 'lookup',
                                        p_send_log_id => (select id from logs where name = 'sent_20m'));
select is(
  (select row(source, status)::text from public.sms_message_events
    where id = (select event_id from r4)),
  '(lookup,sent)', 'record_status_event takes the lookup source');
select ok(not has_function_privilege('authenticated',
            'sms.record_status_lookup(uuid, text, integer, text, jsonb)', 'execute')
          and not has_function_privilege('authenticated',
            'sms.claim_status_lookups(integer, integer, integer, integer, integer)', 'execute'),
  'members cannot call the lookup functions');

select * from finish();
rollback;
