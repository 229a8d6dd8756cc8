-- Demo data for the local stack and tests: two businesses, one user each, and customers in every
-- consent and phone state. Ids are fixed so tests and docs can name them.

insert into auth.users (id, email, raw_app_meta_data, raw_user_meta_data, email_confirmed_at)
values
  ('11111111-1111-4111-8111-111111111111', 'owner@acme.test',
   '{"provider": "email"}', '{"name": "Ada Acme"}', now()),
  ('22222222-2222-4222-8222-222222222222', 'owner@bay.test',
   '{"provider": "email"}', '{"name": "Ben Bay"}', now())
on conflict (id) do nothing;

-- Each with the help contact a business needs to send SMS (named in the answer to HELP).
insert into public.businesses (id, name, time_zone, sms_help_contact) values
  ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'Acme Plumbing', 'America/New_York',
   'help@acme.test'),
  ('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 'Bay Dental', 'America/Los_Angeles',
   '(415) 555-0100')
on conflict (id) do nothing;

insert into public.business_members (business_id, user_id, role) values
  ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '11111111-1111-4111-8111-111111111111', 'owner'),
  ('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', '22222222-2222-4222-8222-222222222222', 'owner')
on conflict do nothing;

insert into public.customers
  (id, business_id, name, email, phone, phone_status, sms_consent_status, sms_consent_at,
   sms_opted_out_at, time_zone, us_state)
values
  -- Acme Plumbing
  ('a0000000-0000-4000-8000-000000000001', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
   'Olivia Optin', 'olivia@example.com', '+12125550101', 'valid', 'opted_in', now(), null,
   'America/New_York', 'NY'),
  ('a0000000-0000-4000-8000-000000000002', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
   'Tex Dallas', 'tex@example.com', '+12145550102', 'valid', 'opted_in', now(), null,
   'America/Chicago', 'TX'),
  ('a0000000-0000-4000-8000-000000000003', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
   'Uma Unknown', 'uma@example.com', '+12125550103', 'valid', 'unknown', null, null,
   null, null),
  ('a0000000-0000-4000-8000-000000000004', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
   'Oscar Optout', 'oscar@example.com', '+12125550104', 'valid', 'opted_out',
   now() - interval '30 days', now() - interval '1 day', 'America/New_York', 'NY'),
  ('a0000000-0000-4000-8000-000000000005', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
   'Ivan Invalid', 'ivan@example.com', '+15005550001', 'invalid', 'opted_in', now(), null,
   null, null),
  ('a0000000-0000-4000-8000-000000000006', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
   'Lana Landline', 'lana@example.com', '+12125550106', 'landline', 'opted_in', now(), null,
   'America/New_York', 'NY'),
  ('a0000000-0000-4000-8000-000000000007', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
   'Nina Nophone', 'nina@example.com', null, 'unknown', 'opted_in', now(), null, null, null),
  ('a0000000-0000-4000-8000-000000000008', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
   'Umberto Unverified', 'umberto@example.com', '+13055550108', 'unknown', 'opted_in', now(),
   null, null, null),
  ('a0000000-0000-4000-8000-000000000009', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
   'Una Unsubscribed', 'una@example.com', '+15005550004', 'valid', 'opted_in', now(), null,
   null, null),
  -- Bay Dental (shares one phone number with Acme, as real customers do)
  ('b0000000-0000-4000-8000-000000000001', 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb',
   'Olivia Optin', 'olivia@example.com', '+12125550101', 'valid', 'opted_in', now(), null,
   'America/New_York', 'NY'),
  ('b0000000-0000-4000-8000-000000000002', 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb',
   'Sam Sanfrancisco', 'sam@example.com', '+14155550202', 'valid', 'opted_in', now(), null,
   'America/Los_Angeles', 'CA'),
  ('b0000000-0000-4000-8000-000000000003', 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb',
   'Pat Pending', 'pat@example.com', '+14155550203', 'unknown', 'unknown', null, null,
   null, null)
on conflict (id) do nothing;

insert into public.send_logs (id, business_id, contact_id, status, provider_message_id, subject,
                              sent_at)
values
  ('e0000000-0000-4000-8000-000000000001', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
   'a0000000-0000-4000-8000-000000000001', 'delivered', '{"resend_id": "re_seed_acme_0001"}',
   'How did we do?', now() - interval '2 days'),
  ('e0000000-0000-4000-8000-000000000002', 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb',
   'b0000000-0000-4000-8000-000000000002', 'sent', '{"resend_id": "re_seed_bay_0001"}',
   'Your appointment', now() - interval '1 day')
on conflict (id) do nothing;
