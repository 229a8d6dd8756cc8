-- Country permissions (issue 19): businesses.sms_allowed_countries defaults to the US and its
-- territories, holds ISO 3166-1 alpha-2 codes only, and the send paths read it.
begin;
select plan(12);

select has_column('public', 'businesses', 'sms_allowed_countries', 'the column exists');
select col_not_null('public', 'businesses', 'sms_allowed_countries', 'it is never null');
select is((select sms_allowed_countries from public.businesses
            where id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'),
  '{US,PR,VI,GU,AS,MP}'::text[], 'a business may text the US and its territories by default');

insert into public.businesses (id, name) values
  ('cccccccc-cccc-4ccc-8ccc-cccccccccccc', 'Country test');
select lives_ok($$update public.businesses set sms_allowed_countries = '{US,GB,FR}'
                   where id = 'cccccccc-cccc-4ccc-8ccc-cccccccccccc'$$,
  'a list of alpha-2 codes is accepted');
select lives_ok($$update public.businesses set sms_allowed_countries = '{}'
                   where id = 'cccccccc-cccc-4ccc-8ccc-cccccccccccc'$$,
  'an empty list (texting nobody) is accepted');
select throws_ok($$update public.businesses set sms_allowed_countries = '{us}'
                    where id = 'cccccccc-cccc-4ccc-8ccc-cccccccccccc'$$,
  '23514', null, 'lower case is refused');
select throws_ok($$update public.businesses set sms_allowed_countries = '{USA}'
                    where id = 'cccccccc-cccc-4ccc-8ccc-cccccccccccc'$$,
  '23514', null, 'alpha-3 is refused');
select throws_ok($$update public.businesses set sms_allowed_countries = '{US,NULL}'
                    where id = 'cccccccc-cccc-4ccc-8ccc-cccccccccccc'$$,
  '23514', null, 'a null element is refused');
select throws_ok($$update public.businesses set sms_allowed_countries = '{"US,GB"}'
                    where id = 'cccccccc-cccc-4ccc-8ccc-cccccccccccc'$$,
  '23514', null, 'a comma inside an element is refused');
select throws_ok($$update public.businesses set sms_allowed_countries = '{US,"G B"}'
                    where id = 'cccccccc-cccc-4ccc-8ccc-cccccccccccc'$$,
  '23514', null, 'a space inside an element is refused');

-- The send paths read it: send-sms's context and process-retries' context.
select ok(
  (select pg_catalog.pg_get_function_result(
            'sms.send_context(uuid, uuid, timestamptz)'::regprocedure)
     like '%allowed_countries text[]%'),
  'sms.send_context returns the business''s permitted countries');
select ok(
  (select pg_catalog.pg_get_function_result(
            'sms.retry_send_context(uuid, text, integer, timestamptz)'::regprocedure)
     like '%allowed_countries text[]%'),
  'sms.retry_send_context returns the business''s permitted countries');

select * from finish();
rollback;
