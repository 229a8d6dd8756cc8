-- Base schema: RLS keeps each business to its own rows; anon gets nothing; the claim RPC is
-- for service_role only and hands out each due row once.
begin;
select plan(27);

-- Every table in public has RLS on.
select is(
  (select count(*)::int from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind = 'r' and not c.relrowsecurity),
  0, 'every public table has RLS enabled');

select has_table('public', 'businesses', 'businesses exists');
select has_table('public', 'customers', 'customers exists');
select has_view('public', 'contacts', 'contacts view exists');
select has_function('public', 'claim_due_scheduled_sends', array['integer', 'text'],
  'claim_due_scheduled_sends exists');

-- A scheduled send for each business, one due and one in the future.
insert into public.scheduled_sends (id, business_id, customer_id, scheduled_for) values
  ('c0000000-0000-4000-8000-000000000001', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
   'a0000000-0000-4000-8000-000000000001', now() - interval '1 minute'),
  ('c0000000-0000-4000-8000-000000000002', 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb',
   'b0000000-0000-4000-8000-000000000002', now() + interval '1 hour');

-- As the owner of Acme --------------------------------------------------------------------------
set local role authenticated;
set local "request.jwt.claims" to
  '{"sub": "11111111-1111-4111-8111-111111111111", "role": "authenticated"}';

select is((select count(*)::int from public.businesses), 1, 'A sees one business');
select is((select name from public.businesses), 'Acme Plumbing', 'A sees its own business');
select is((select count(*)::int from public.customers
            where business_id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'), 0,
  'A reads none of B''s customers');
select ok((select count(*) from public.customers) > 0, 'A reads its own customers');
select is((select count(*)::int from public.contacts
            where business_id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'), 0,
  'A reads none of B''s contacts through the view');
select is((select count(*)::int from public.send_logs
            where business_id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'), 0,
  'A reads none of B''s send logs');
select is((select count(*)::int from public.scheduled_sends), 1,
  'A reads only its own scheduled sends');
select is((select count(*)::int from public.business_members), 1,
  'A reads only its own membership');

select throws_ok(
  $$insert into public.customers (business_id, name, phone)
    values ('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 'Intruder', '+12125550199')$$,
  '42501', null, 'A cannot add a customer to B');
select throws_ok(
  $$insert into public.send_logs (business_id, status)
    values ('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 'sent')$$,
  '42501', null, 'A cannot add a send log to B');
select throws_ok(
  $$update public.customers set business_id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'
     where id = 'a0000000-0000-4000-8000-000000000001'$$,
  '42501', null, 'A cannot move its customer into B');

with changed as (
  update public.customers set name = 'hijacked'
   where business_id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb' returning 1)
select is((select count(*)::int from changed), 0, 'A cannot update B''s customers');
with gone as (
  delete from public.customers
   where business_id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb' returning 1)
select is((select count(*)::int from gone), 0, 'A cannot delete B''s customers');
with changed as (
  update public.businesses set name = 'hijacked'
   where id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb' returning 1)
select is((select count(*)::int from changed), 0, 'A cannot rename B');

select lives_ok(
  $$insert into public.customers (business_id, name, phone)
    values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'New Customer', '+12125550198')$$,
  'A can add a customer to its own business');
select throws_ok(
  $$select * from public.claim_due_scheduled_sends(10, 'user')$$,
  '42501', null, 'an authenticated user cannot claim scheduled sends');

-- As anon ---------------------------------------------------------------------------------------
reset role;
set local role anon;
set local "request.jwt.claims" to '{"role": "anon"}';
select throws_ok($$select count(*) from public.customers$$, '42501', null,
  'anon cannot read customers');
select throws_ok($$select count(*) from public.businesses$$, '42501', null,
  'anon cannot read businesses');
select throws_ok($$select count(*) from public.send_logs$$, '42501', null,
  'anon cannot read send logs');
select throws_ok($$select * from public.claim_due_scheduled_sends(10, 'anon')$$, '42501', null,
  'anon cannot claim scheduled sends');

-- As service_role -------------------------------------------------------------------------------
reset role;
set local role service_role;
select is(
  (select array_agg(id) from public.claim_due_scheduled_sends(10, 'worker-1')),
  array['c0000000-0000-4000-8000-000000000001'::uuid],
  'the claim returns only the due row');
select is(
  (select count(*)::int from public.claim_due_scheduled_sends(10, 'worker-2')), 0,
  'a claimed row is not handed out again');

reset role;
select * from finish();
rollback;
