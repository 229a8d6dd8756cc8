-- Campaigns: rendering and measuring per recipient, the set-based plan (a preview writes
-- nothing; create writes the campaign, a deferred log and a retry row per eligible recipient, and
-- the skips), the quota, the fair claim (another business's single send is not stuck behind a
-- campaign), and pause, resume and cancel.
begin;
select plan(26);

delete from public.send_logs where channel = 'sms';

create function pg_temp.owner(b uuid) returns uuid language sql as $$
  select user_id from public.business_members where business_id = b and role = 'owner' limit 1
$$;
-- Every group of the business's audience released at `release`, no cap, in the US.
create function pg_temp.groups(b uuid, release timestamptz) returns jsonb language sql as $$
  select coalesce(jsonb_agg(jsonb_build_object(
           'time_zone', g.time_zone, 'us_state', g.us_state, 'prefix', g.prefix,
           'release_at', release, 'skip', null, 'country', 'US', 'cap_max', null,
           'cap_window_seconds', null)), '[]'::jsonb)
    from sms.campaign_audience_groups(b, pg_temp.owner(b)) g where g.prefix is not null
$$;
create function pg_temp.plan(b uuid, template text, campaign jsonb default null,
                             release timestamptz default now() - interval '1 hour')
returns jsonb language sql as $$
  select sms.plan_campaign(b, pg_temp.owner(b), template, pg_temp.groups(b, release), 2,
                           1000, p_campaign => campaign)
$$;
create function pg_temp.render(template text, customer text, disclose boolean) returns text
language sql as $$
  select sms.render_campaign_message(t.literals, t.names, t.fallbacks, customer, 'Acme  Plumbing',
                                     'Acme', disclose)
    from sms.compile_campaign_template(template) t
$$;
create function pg_temp.claim(n int) returns uuid[] language sql as $$
  select coalesce(array_agg(id), '{}') from sms.claim_due_retries(n, 30, 'w')
$$;

-- Rendering and measuring ---------------------------------------------------------------------
select is(pg_temp.render('Hi {{ first_name | there }}, from {{business_name}}.', ' Ana  Lopez ',
                         false),
  'Hi Ana, from Acme Plumbing.', 'values, collapsed whitespace');
select is(pg_temp.render('Hi {{first_name|there}} {{nope|x}}!', '', false), 'Hi there !',
  'an empty value takes the fallback; an unknown placeholder renders empty');
select is(pg_temp.render('Hi {{first_name}}, news.', 'Bo', true),
  'Acme: Hi Bo, news. Reply STOP to opt out.', 'disclosed: the brand and the opt-out text');
select is(pg_temp.render('acme says hi. Text STOP to end.', 'Bo', true),
  'acme says hi. Text STOP to end.', 'neither is added when the text has them');
select is((select row(encoding, segments)::text from sms.measure_sms('hello')), '(GSM-7,1)',
  'GSM-7, one segment');
select is((select row(encoding, segments)::text from sms.measure_sms(repeat('a', 161))),
  '(GSM-7,2)', '161 septets: two segments');
select is((select row(encoding, segments)::text from sms.measure_sms(repeat('€', 80))),
  '(GSM-7,1)', 'extension characters take two septets (160)');
select is((select row(encoding, segments)::text from sms.measure_sms('hi 😀')), '(UCS-2,1)',
  'an emoji makes it UCS-2');

-- Smart Encoding, when the function passes its table: curly quotes and a dash become GSM-7.
create function pg_temp.encodings(smart jsonb) returns jsonb language sql as $$
  select sms.plan_campaign('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
           pg_temp.owner('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'),
           U&'\201CHi\201D \2014 {{first_name}}',
           pg_temp.groups('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', now()), 2, 1000,
           p_smart_encoding => smart) -> 'encodings'
$$;
select is(pg_temp.encodings('{"\u201c": "\"", "\u201d": "\"", "\u2014": "-"}'),
  jsonb_build_object('GSM-7', pg_temp.encodings(null) -> 'UCS-2'),
  'with the Smart Encoding table every message is GSM-7 (UCS-2 without)');
select is((select row(m.encoding, m.segments)::text
             from sms.smart_encoding_parts(
                    '{"\u2018": "\u0027", "\u2019": "\u0027", "\u2026": "...", "\u200b": ""}') p
            cross join lateral sms.measure_sms(sms.smart_encode(
                    U&'\2018ok\2019 \2026 \200B' || repeat('x', 150), p.from_chars, p.to_chars,
                    p.keys, p.replacements)) m),
  '(GSM-7,1)', 'one for one, one for several, one for none: 159 septets, one segment');

-- Preview and create ----------------------------------------------------------------------------
create temp table counts_before as
  select (select count(*) from public.send_logs) as logs,
         (select count(*) from public.sms_campaigns) as campaigns;
create temp table p as
  select pg_temp.plan('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'Hi {{first_name}}') as f;
select ok((select (f ->> 'eligible')::int > 0 from p), 'the preview finds eligible customers');
select is((select row((select count(*) from public.send_logs),
                      (select count(*) from public.sms_campaigns))::text),
  (select row(logs, campaigns)::text from counts_before), 'a preview writes nothing');

create temp table c as
  select pg_temp.plan('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'Hi {{first_name}}',
    jsonb_build_object('name', 'spring', 'schedule', '{"kind": "now"}'::jsonb,
                       'expires_at', now() + interval '1 day')) as f;
create temp table cid as select (f ->> 'campaign_id')::uuid as id from c;
select is((select count(*)::int from public.send_logs l
            where l.campaign_id = (select id from cid) and l.status = 'deferred'),
  (select (f ->> 'eligible')::int from c), 'a deferred log per eligible recipient');
select is((select count(*)::int from sms.retry_queue q
            where q.campaign_id = (select id from cid) and q.reason = 'campaign'
              and q.status = 'pending' and q.expires_at is not null),
  (select (f ->> 'eligible')::int from c), 'and its retry row, expiring with the campaign');
select is((select count(*)::int from public.sms_campaign_skips
            where campaign_id = (select id from cid)),
  (select (f ->> 'audience')::int - (f ->> 'eligible')::int from c),
  'every other customer is recorded with the reason');
select is((select status from public.sms_campaigns where id = (select id from cid)), 'running',
  'released already: running');

update public.businesses set sms_daily_quota = 1 where id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
select throws_ok(
  $$select pg_temp.plan('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'Hi',
      jsonb_build_object('name', 'x', 'expires_at', now() + interval '1 day'))$$,
  'P0001', 'quota_exceeded', 'a campaign larger than the quota left is refused');
update public.businesses set sms_daily_quota = null
 where id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';

-- The fair claim ---------------------------------------------------------------------------------
-- Bay Dental's single deferred send is due after every row of Acme's campaign.
create temp table single as
  select retry_id as id from sms.enqueue_retry('b0000000-0000-4000-8000-000000000001', 'later',
    'quiet_hours', now() - interval '1 minute');
select ok((select id from single) = any (pg_temp.claim(2)),
  'a batch of two: one row of each business, not two of the campaign');
update sms.retry_queue set status = 'pending', lease_expires_at = null, locked_by = null,
  attempts = 0 where status = 'processing';

-- Pause, resume, cancel --------------------------------------------------------------------------
select is((sms.control_campaign((select id from cid), pg_temp.owner(
  'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'), 'pause')) ->> 'status', 'paused', 'paused');
select is((select count(*)::int from sms.retry_queue where campaign_id = (select id from cid)
            and status = 'pending'), 0, 'no row of a paused campaign is pending');
select is(pg_temp.claim(10), array[(select id from single)], 'and none is claimed');
update sms.retry_queue set status = 'pending', lease_expires_at = null, locked_by = null,
  attempts = 0 where status = 'processing';
select is((sms.control_campaign((select id from cid), pg_temp.owner(
  'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'), 'resume')) ->> 'status', 'running', 'resumed');
select throws_ok(
  format('select sms.control_campaign(%L, %L, %L)', (select id from cid),
         pg_temp.owner('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'), 'cancel'),
  'P0002', 'campaign_not_found', 'another business''s member cannot touch it');
select is((sms.control_campaign((select id from cid), pg_temp.owner(
  'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'), 'cancel')) ->> 'status', 'cancelled', 'cancelled');
select is((select array_agg(distinct l.status) from public.send_logs l
            where l.campaign_id = (select id from cid)), array['canceled'],
  'every queued message is canceled at once');
select throws_ok(
  format('select sms.control_campaign(%L, %L, %L)', (select id from cid),
         pg_temp.owner('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'), 'pause'),
  'P0001', 'campaign_state_conflict', 'a cancelled campaign cannot be paused');

select * from finish();
rollback;
