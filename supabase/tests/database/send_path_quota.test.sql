-- sms.reserve_quota: counts a business's SMS of the last 24 h against its limit.
begin;
select plan(9);

insert into public.send_logs (business_id, customer_id, channel, status, to_phone, created_at)
select 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'a0000000-0000-4000-8000-000000000001', 'sms',
       'sent', '+12125550101', now() - make_interval(hours => h)
  from generate_series(1, 3) h;
-- An old one and an email do not count.
insert into public.send_logs (business_id, customer_id, channel, status, to_phone, created_at)
values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'a0000000-0000-4000-8000-000000000001', 'sms',
        'sent', '+12125550101', now() - interval '25 hours');
insert into public.send_logs (business_id, channel, status)
values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'email', 'sent');

set local role service_role;
select is(sms.reserve_quota('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 5), 1,
  'three of five used: one left after this one');
select throws_ok(
  $$select sms.reserve_quota('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 3)$$,
  'P0001', 'quota_exceeded', 'the limit is reached');
select is(sms.reserve_quota('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 3), 2,
  'another business has its own count');
reset role;
update public.businesses set sms_daily_quota = 10 where id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
set local role service_role;
select is(sms.reserve_quota('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 3), 6,
  'a business''s own limit replaces the default');
reset role;

select is((select sum(sent)::int from sms.quota_usage
            where business_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'), 4,
  'every SMS log is counted in its hour (the email is not)');
select is((select count(*)::int from sms.quota_usage
            where business_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'
              and hour = date_trunc('hour', now() - interval '25 hours')), 1,
  'an hour outside the window keeps its count until it is two days old');
select throws_ok($$set local role authenticated; select * from sms.quota_usage$$,
  '42501', null, 'members cannot read the counters');
reset role;

select ok(not has_function_privilege('authenticated',
  'sms.reserve_quota(uuid, integer, integer)', 'execute'), 'authenticated cannot call it');
select ok(not has_function_privilege('anon',
  'sms.reserve_quota(uuid, integer, integer)', 'execute'), 'anon cannot call it');

select * from finish();
rollback;
