-- Campaign prices: the columns, reading Twilio's price strings, which campaign messages are due
-- for a price lookup (sms.claim_price_lookups), storing listed prices set-based and once
-- (sms.record_message_prices), a status lookup keeping the price it fetched, and the actual cost
-- in sms_campaign_progress, for the business's members only.
begin;
select plan(25);

delete from public.send_logs where channel = 'sms';

create function pg_temp.owner(b uuid) returns uuid language sql as $$
  select user_id from public.business_members where business_id = b and role = 'owner' limit 1
$$;
create function pg_temp.groups(b uuid, release timestamptz) returns jsonb language sql as $$
  select coalesce(jsonb_agg(jsonb_build_object(
           'time_zone', g.time_zone, 'us_state', g.us_state, 'prefix', g.prefix,
           'release_at', release, 'skip', null, 'country', 'US', 'cap_max', null,
           'cap_window_seconds', null)), '[]'::jsonb)
    from sms.campaign_audience_groups(b, pg_temp.owner(b)) g where g.prefix is not null
$$;
create function pg_temp.claim() returns uuid[] language sql as $$
  select coalesce(array_agg(send_log_id order by send_log_id), '{}')
    from sms.claim_price_lookups(100, 300, 3600, 172800, 60)
$$;

-- The columns ------------------------------------------------------------------------------------
select col_type_is('public', 'send_logs', 'price', 'numeric(12,5)', 'price: numeric(12,5)');
select col_type_is('public', 'send_logs', 'price_unit', 'text', 'price_unit: text');
select is(sms.twilio_charge('-0.00830', 'USD'), 0.00830, 'a charge is kept positive');
select is(sms.twilio_charge('-0.004155', 'USD'), 0.00416, 'to 5 places');
select ok(sms.twilio_charge(null, 'USD') is null and sms.twilio_charge('abc', 'USD') is null
          and sms.twilio_charge('-0.0083', 'usd') is null
          and sms.twilio_charge('1e3', 'USD') is null,
  'no price, a malformed price or unit: null');

-- A campaign of Acme with four messages out ------------------------------------------------------
create temp table c as
  select (sms.plan_campaign('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
            pg_temp.owner('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'), 'Hi {{first_name}}',
            pg_temp.groups('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', now() - interval '1 hour'), 2,
            1000, p_campaign => jsonb_build_object('name', 'priced',
              'schedule', '{"kind": "now"}'::jsonb, 'expires_at', now() + interval '1 day'))
          ->> 'campaign_id')::uuid as id;
create temp table l as
  select id, row_number() over (order by id) as n, 'SM' || md5(id::text) as sid
    from public.send_logs where campaign_id = (select id from c) order by id limit 4;
select is((select count(*)::int from l), 4, 'four messages to work with');
-- 1 and 2 delivered (1 and 2 segments), 3 sent a moment ago, 4 sent long ago.
update public.send_logs s
   set status = case when l.n <= 2 then 'delivered' else 'sent' end,
       segments = case when l.n = 2 then 2 else 1 end,
       provider_message_id = jsonb_build_object('twilio_sid', l.sid),
       sent_at = now() - interval '2 minutes' + l.n * interval '1 second',
       status_at = case when l.n = 4 then now() - interval '10 minutes' else now() end
  from l where s.id = l.id;

-- Which are due ---------------------------------------------------------------------------------
select is(pg_temp.claim(), (select array_agg(id order by id) from l where n in (1, 2, 4)),
  'delivered at once; sent only once settled');
select ok((select bool_and(price_checked_at is not null) from public.send_logs s join l using (id)
            where l.n in (1, 2, 4)), 'marked looked for');
select is(pg_temp.claim(), '{}'::uuid[], 'not again within the recheck interval');
select is(sms.release_price_lookups((select array_agg(id) from l where n = 4)), 1,
  'an unreached log is released');
select is(pg_temp.claim(), (select array_agg(id) from l where n = 4), 'and due again at once');
update public.send_logs s set price_checked_at = null, sent_at = now() - interval '3 days' from l
 where s.id = l.id and l.n = 4;
select is(pg_temp.claim(), '{}'::uuid[], 'a message sent longer ago than the max age is left');

-- Storing prices --------------------------------------------------------------------------------
select is(sms.record_message_prices(
  array[(select sid from l where n = 1), (select sid from l where n = 2), 'SMnobody',
        (select sid from l where n = 3)],
  array['-0.00830', '-0.01660', '-0.00830', null],
  array['USD', 'USD', 'USD', 'USD']), 2, 'the listed prices of our logs are stored, in one call');
select is((select row(price, price_unit)::text from public.send_logs s join l using (id)
            where l.n = 2), '(0.01660,USD)', 'the charge, positive, with its unit');
select is((select price from public.send_logs s join l using (id) where l.n = 3), null,
  'a message Twilio has not priced stays unpriced');
select is(sms.record_message_prices(array[(select sid from l where n = 1)], array['-0.05000'],
  array['USD']), 0, 'a stored price is never changed');
select throws_ok(
  $$select sms.record_message_prices(array['SMx'], array['-0.1', '-0.2'], array['USD'])$$,
  '22023', 'sids, prices and units must have the same length', 'mismatched arrays are refused');

-- A status lookup keeps the price it fetched -----------------------------------------------------
select is((select status from sms.record_status_lookup((select id from l where n = 3),
  'delivered', null, null,
  '{"status": "delivered", "price": "-0.00830", "price_unit": "USD"}'::jsonb)),
  'delivered', 'the lookup moves the log');
select is((select price from public.send_logs s join l using (id) where l.n = 3), 0.00830,
  'and stores the price it read');

select throws_ok(
  format('update public.send_logs set price_unit = %L where id = %L', 'usd',
         (select id from l where n = 1)),
  '23514', null, 'a unit is 3 capital letters');

-- The progress view -----------------------------------------------------------------------------
select is((select row(priced, actual_cost, actual_currency)::text
             from public.sms_campaign_progress where campaign_id = (select id from c)),
  '(3,0.03320,USD)',
  'priced messages and the sum of their prices');

select set_config('test.campaign', (select id::text from c), true),
       set_config('test.acme', json_build_object('sub',
         pg_temp.owner('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'), 'role', 'authenticated')::text, true),
       set_config('test.bay', json_build_object('sub',
         pg_temp.owner('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'), 'role', 'authenticated')::text, true);
set local role authenticated;
select set_config('request.jwt.claims', current_setting('test.acme'), true);
select is((select actual_cost from public.sms_campaign_progress
            where campaign_id = current_setting('test.campaign')::uuid), 0.03320,
  'a member reads the actual cost');
select set_config('request.jwt.claims', current_setting('test.bay'), true);
select is((select count(*)::int from public.sms_campaign_progress
            where campaign_id = current_setting('test.campaign')::uuid), 0,
  'another business sees nothing');
reset role;

select ok(not has_table_privilege('authenticated', 'public.sms_campaign_progress', 'insert')
          and has_table_privilege('authenticated', 'public.sms_campaign_progress', 'select'),
  'the view is read-only');
select ok(not has_function_privilege('authenticated',
            'sms.record_message_prices(text[], text[], text[])', 'execute')
          and not has_function_privilege('authenticated',
            'sms.claim_price_lookups(integer, integer, integer, integer, integer)', 'execute')
          and has_function_privilege('service_role',
            'sms.claim_price_lookups(integer, integer, integer, integer, integer)', 'execute'),
  'only service_role looks prices up and stores them');

select * from finish();
rollback;
