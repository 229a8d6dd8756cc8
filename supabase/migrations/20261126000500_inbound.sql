-- Inbound SMS replies (twilio-webhook).
--
-- Every business sends from the project's one Twilio sender (number or Messaging Service), so a
-- reply names a phone number, not a business. sms.record_inbound_message() decides who a reply
-- concerns and applies it in one transaction:
--
-- * opt-out (STOP, "stop texting me"...): the number is opted out in every business that has a
--   customer with it (one keyword consent event per business; every record follows) and, for
--   records created later, in every business (sms.number_consent); their pending retries are
--   cancelled. A wrongly honoured opt-out costs one START, a missed one is a violation per
--   message.
-- * opt-in (START, YES, UNSTOP): re-opts-in the number only in the businesses whose latest
--   opt-out of it came from the handset (a keyword, or Twilio's 21610 which a STOP to Twilio
--   caused). Opt-outs a business recorded itself (api, import) stand: a keyword to a shared
--   number cannot overrule them.
-- * help and free text concern the business that last texted that phone (the conversation the
--   recipient is answering); when none ever did, every business with that customer.
--
-- Each reply is stored once per business it concerns (sms_inbound_messages), which is both the
-- business's inbox (members read their own rows) and the webhook's idempotency record: a repeated
-- delivery of the same MessageSid changes nothing. sms.record_inbound_answer() then says whether
-- the webhook answers with a text (sms.inbound_answers, one row per MessageSid): never to a
-- redelivery, never when Twilio's opt-out handling answered, and one opt-out confirmation per
-- window to a number that was already opted out. The business's help contact, named in the
-- answer to HELP, is businesses.sms_help_contact (base schema).

-- =================================================================================================
-- sms_inbound_messages
-- =================================================================================================

create table public.sms_inbound_messages (
  id bigint generated always as identity primary key,
  business_id uuid not null references public.businesses (id) on delete cascade,
  -- The customer of that business with the sender's phone (the most recently texted, if several).
  customer_id uuid references public.customers (id) on delete set null,
  message_sid text not null check (char_length(message_sid) between 2 and 64),
  from_phone text not null check (char_length(from_phone) between 1 and 64),
  to_phone text not null check (char_length(to_phone) between 1 and 64),
  body text not null check (char_length(body) <= 1600),
  num_media integer not null default 0 check (num_media >= 0),
  -- shared/keywords.ts's class of the reply, and the keyword or phrase that decided it.
  kind text not null check (kind in ('opt_out', 'opt_in', 'help', 'other')),
  keyword text check (char_length(keyword) between 1 and 160),
  received_at timestamptz not null default now(),
  created_at timestamptz not null default now(),
  constraint sms_inbound_messages_sid_business_key unique (message_sid, business_id)
);
comment on table public.sms_inbound_messages is
  'SMS replies received, one row per business they concern; written only by record_inbound_message().';

-- Foreign keys; (business_id, received_at) is also the inbox listing.
create index sms_inbound_messages_business_id_idx
  on public.sms_inbound_messages (business_id, received_at desc);
create index sms_inbound_messages_customer_id_idx
  on public.sms_inbound_messages (customer_id, received_at desc);

-- Members read their business's inbox; nobody writes it but the function below (its owner), not
-- even service_role.
alter table public.sms_inbound_messages enable row level security;
revoke all on public.sms_inbound_messages from anon, authenticated, service_role;
grant select on public.sms_inbound_messages to authenticated, service_role;
revoke all on sequence public.sms_inbound_messages_id_seq from anon, authenticated, service_role;

create policy "members read sms inbound messages" on public.sms_inbound_messages
  for select to authenticated
  using (sms.is_member(business_id, (select auth.uid())));

-- =================================================================================================
-- Recording a reply
-- =================================================================================================

-- Records an inbound reply and applies it (see the header). p_kind is shared/keywords.ts's class
-- (the caller may have merged in Twilio's OptOutType); p_keyword the word or phrase that decided.
-- Returns {duplicate, matched_customers, changed_customers, cancelled_retries, businesses:
-- [{id, name, help_contact}]}: businesses are the ones the reply concerns, the one to name first
-- first. A repeated MessageSid returns the first delivery's businesses with duplicate = true.
create function sms.record_inbound_message(
  p_message_sid text,
  p_from text,
  p_to text,
  p_body text,
  p_kind text,
  p_keyword text default null,
  p_num_media integer default 0,
  p_details jsonb default '{}'::jsonb,
  p_received_at timestamptz default null
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_at timestamptz := coalesce(p_received_at, now());
  v_keyword text := left(nullif(btrim(p_keyword), ''), 160);
  v_customer_ids uuid[];
  v_business_ids uuid[];
  v_row_customers uuid[];
  v_last_sent timestamptz;
  v_customer record;
  v_change record;
  v_matched integer := 0;
  v_changed integer := 0;
  v_cancelled integer := 0;
  v_duplicate boolean := false;
begin
  if p_message_sid is null or char_length(p_message_sid) not between 2 and 64 then
    raise exception 'a message sid is required' using errcode = '22023';
  end if;
  if coalesce(p_from, '') = '' or coalesce(p_to, '') = '' then
    raise exception 'from and to are required' using errcode = '22023';
  end if;
  if p_kind is null or p_kind not in ('opt_out', 'opt_in', 'help', 'other') then
    raise exception 'p_kind must be opt_out, opt_in, help or other' using errcode = '22023';
  end if;
  if p_kind in ('opt_out', 'opt_in') and v_keyword is null then
    raise exception 'a keyword reply needs its keyword' using errcode = '22023';
  end if;

  -- Replies from one number are applied one at a time, in arrival order. A free-text reply
  -- share-locks (foreign keys) the records of every business that has the number, and a STOP
  -- locks them for update: side by side, two replies from one number deadlocked (the soak).
  -- Concurrent deliveries of one message come from its number too, so they also wait here, and
  -- the second then sees the first's rows.
  perform pg_advisory_xact_lock(hashtextextended('sms_inbound_from:' || p_from, 0));

  select array_agg(m.business_id order by m.id) into v_business_ids
    from public.sms_inbound_messages m where m.message_sid = p_message_sid;
  v_duplicate := v_business_ids is not null;

  if not v_duplicate then
    select array_agg(c.id order by c.created_at, c.id) into v_customer_ids
      from public.customers c where c.phone = p_from;
    v_matched := coalesce(cardinality(v_customer_ids), 0);

    -- Per business: its customer with this phone that it texted last (else the oldest record),
    -- businesses ordered by their last SMS to this phone, most recent first.
    select array_agg(x.business_id order by x.last_sent desc nulls last, x.name, x.business_id),
           array_agg(x.customer_id order by x.last_sent desc nulls last, x.name, x.business_id),
           max(x.last_sent)
      into v_business_ids, v_row_customers, v_last_sent
      from (
        select distinct on (c.business_id) c.business_id, c.id as customer_id, b.name,
               l.created_at as last_sent
          from public.customers c
          join public.businesses b on b.id = c.business_id
          left join lateral (
            select s.created_at from public.send_logs s
             where s.customer_id = c.id and s.channel = 'sms'
               and (s.provider_message_id ->> 'twilio_sid') is not null
             order by s.created_at desc limit 1) l on true
         where c.id = any (v_customer_ids)
         order by c.business_id, l.created_at desc nulls last, c.created_at, c.id) x;

    -- Help and free text belong to the conversation the recipient is answering: the business
    -- that texted them last. Nobody texted them yet: every business that has them as a customer.
    if p_kind in ('help', 'other') and v_last_sent is not null then
      v_business_ids := v_business_ids[1:1];
      v_row_customers := v_row_customers[1:1];
    end if;

    insert into public.sms_inbound_messages
      (business_id, customer_id, message_sid, from_phone, to_phone, body, num_media, kind,
       keyword, received_at)
    select r.business_id, r.customer_id, p_message_sid, left(p_from, 64), left(p_to, 64),
           left(coalesce(p_body, ''), 1600), greatest(coalesce(p_num_media, 0), 0), p_kind,
           v_keyword, v_at
      from unnest(v_business_ids, v_row_customers) as r(business_id, customer_id)
    on conflict on constraint sms_inbound_messages_sid_business_key do nothing;

    if p_kind = 'opt_out' then
      -- One record per business: the change applies to the number, and every record of that
      -- business with it follows (consent migration).
      for v_customer in
        select distinct on (c.business_id) c.id from public.customers c
         where c.id = any (v_customer_ids) order by c.business_id, c.id
      loop
        select * into v_change from sms.apply_consent_change(
          p_customer_id => v_customer.id,
          p_to_status => 'opted_out',
          p_source => 'keyword',
          p_message_sid => p_message_sid,
          p_keyword => v_keyword,
          p_details => coalesce(p_details, '{}'::jsonb),
          p_occurred_at => v_at);
        v_changed := v_changed + (case when v_change.changed then 1 else 0 end);
        v_cancelled := v_cancelled + v_change.cancelled_retries;
      end loop;
    elsif p_kind = 'opt_in' then
      for v_customer in
        select distinct on (c.business_id) c.id from public.customers c
         where c.id = any (v_customer_ids) and c.sms_consent_status = 'opted_out'
           and exists (
             select 1 from (
               select e.source, e.error_code from public.sms_consent_events e
                where e.business_id = c.business_id and e.phone = c.phone
                  and e.to_status = 'opted_out'
                order by e.occurred_at desc, e.id desc limit 1) last_out
              where last_out.source = 'keyword'
                 or (last_out.source = 'provider_error' and last_out.error_code = 21610))
         order by c.business_id, c.id
      loop
        select * into v_change from sms.apply_consent_change(
          p_customer_id => v_customer.id,
          p_to_status => 'opted_in',
          p_source => 'keyword',
          p_message_sid => p_message_sid,
          p_keyword => v_keyword,
          p_details => coalesce(p_details, '{}'::jsonb),
          p_occurred_at => v_at);
        v_changed := v_changed + (case when v_change.changed then 1 else 0 end);
      end loop;
      -- Records opted out only by the handset's STOP recorded in another business (created after
      -- it) return to their business's own state for the number: the handset lifted its STOP.
      perform pg_catalog.set_config('sms.consent_change_by_rpc', 'on', true);
      update public.customers c
         set sms_consent_status = n.status, updated_at = now()
        from public.customers c2
        cross join lateral sms.number_consent(c2.business_id, c2.phone) n
       where c2.id = c.id and c.id = any (v_customer_ids) and c.sms_consent_status = 'opted_out'
         and n.status <> 'opted_out';
      perform pg_catalog.set_config('sms.consent_change_by_rpc', 'off', true);
    end if;
  end if;

  return jsonb_build_object(
    'duplicate', v_duplicate,
    'matched_customers', v_matched,
    'changed_customers', v_changed,
    'cancelled_retries', v_cancelled,
    'businesses', coalesce((
      select jsonb_agg(jsonb_build_object('id', b.id, 'name', b.name,
                                          'help_contact', b.sms_help_contact)
                       order by ids.ord)
        from unnest(v_business_ids) with ordinality as ids(id, ord)
        join public.businesses b on b.id = ids.id), '[]'::jsonb));
end
$$;
comment on function sms.record_inbound_message(text, text, text, text, text, text, integer,
  jsonb, timestamptz) is
  'Records an inbound SMS reply once per business it concerns and applies STOP/START (twilio-webhook).';

-- =================================================================================================
-- Answers: one confirmation per opt-out
-- =================================================================================================

-- Every inbound MessageSid the webhook answered, known sender or not, and whether its answer
-- carried a text (ours) or Twilio's opt-out handling answered the keyword itself. It is what
-- makes a redelivered webhook an empty answer, and what tells whether a STOP that changed nothing
-- (the number was already opted out) comes within the confirmation window of an earlier
-- confirmation to that number.
create table sms.inbound_answers (
  message_sid text primary key check (char_length(message_sid) between 2 and 64),
  from_phone text not null check (char_length(from_phone) between 1 and 64),
  kind text not null check (kind in ('opt_out', 'opt_in', 'help', 'other')),
  -- Who answered with a text: 'app' (our TwiML), 'twilio' (its opt-out handling), or nobody.
  answered_by text check (answered_by in ('app', 'twilio')),
  received_at timestamptz not null default now()
);
comment on table sms.inbound_answers is
  'Inbound replies answered by twilio-webhook, once per MessageSid; written only by '
  'record_inbound_answer().';

-- The last confirmation of an opt-out to a number.
create index inbound_answers_confirmations_idx on sms.inbound_answers (from_phone, received_at desc)
  where kind = 'opt_out' and answered_by is not null;

alter table sms.inbound_answers enable row level security;
grant select on sms.inbound_answers to service_role;

-- Decides whether the webhook answers an inbound reply with its text, and records it, once per
-- MessageSid (call it in the transaction of record_inbound_message, after it):
-- * a MessageSid already answered (Twilio redelivered the webhook): false;
-- * p_twilio_answered (Twilio's opt-out handling answered the keyword): false, recorded as
--   Twilio's answer;
-- * p_wants_reply false (free text): false;
-- * an opt-out that changed nothing (p_changed false: the number was already opted out, or no
--   business knows it) when the number had a confirmation, ours or Twilio's, within
--   p_confirmation_window: false (no second confirmation);
-- * otherwise true: the caller answers with its text.
create function sms.record_inbound_answer(
  p_message_sid text,
  p_from text,
  p_kind text,
  p_wants_reply boolean,
  p_twilio_answered boolean default false,
  p_changed boolean default true,
  p_confirmation_window interval default interval '24 hours',
  p_received_at timestamptz default null
)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_at timestamptz := coalesce(p_received_at, now());
  v_reply boolean := coalesce(p_wants_reply, false) and not coalesce(p_twilio_answered, false);
  v_inserted integer;
begin
  if p_message_sid is null or char_length(p_message_sid) not between 2 and 64 then
    raise exception 'a message sid is required' using errcode = '22023';
  end if;
  if coalesce(p_from, '') = '' then
    raise exception 'from is required' using errcode = '22023';
  end if;
  if p_kind is null or p_kind not in ('opt_out', 'opt_in', 'help', 'other') then
    raise exception 'p_kind must be opt_out, opt_in, help or other' using errcode = '22023';
  end if;
  -- Two replies from one handset at once: the second sees the first's confirmation.
  perform pg_advisory_xact_lock(hashtextextended('sms_inbound_answer:' || left(p_from, 64), 0));

  if v_reply and p_kind = 'opt_out' and not coalesce(p_changed, true)
     and coalesce(p_confirmation_window, interval '0') > interval '0' then
    v_reply := not exists (
      select 1 from sms.inbound_answers a
       where a.from_phone = left(p_from, 64) and a.kind = 'opt_out'
         and a.answered_by is not null
         and a.received_at > v_at - p_confirmation_window);
  end if;

  insert into sms.inbound_answers (message_sid, from_phone, kind, answered_by, received_at)
  values (p_message_sid, left(p_from, 64), p_kind,
          case when v_reply then 'app'
               when coalesce(p_twilio_answered, false) then 'twilio' end, v_at)
  on conflict (message_sid) do nothing;
  get diagnostics v_inserted = row_count;
  return v_inserted = 1 and v_reply;
end
$$;
comment on function sms.record_inbound_answer(text, text, text, boolean, boolean, boolean,
  interval, timestamptz) is
  'Whether twilio-webhook answers an inbound reply with its text: once per MessageSid, one '
  'opt-out confirmation per window (twilio-webhook).';

-- =================================================================================================
-- Grants (everything else here is its owner's)
-- =================================================================================================

grant execute on function
  sms.record_inbound_message(text, text, text, text, text, text, integer, jsonb, timestamptz),
  sms.record_inbound_answer(text, text, text, boolean, boolean, boolean, interval, timestamptz)
  to service_role;
