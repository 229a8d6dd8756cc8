-- send_logs for two channels (email and SMS).
--
-- * channel: 'email' | 'sms'; every existing row is email, and email code that does not name a
--   channel keeps writing email rows (the default).
-- * provider_message_id: text -> jsonb holding every provider's id,
--   {"resend_id": "...", "twilio_sid": "..."}. Every existing text id becomes
--   {"resend_id": <the text, unchanged>} (email was the only channel, sent through Resend).
-- * customer_id beside contact_id for the migration window; a trigger keeps the two equal.
-- * SMS fields: to_phone, segments, encoding, error_code, status_at; SMS statuses.
-- * SMS rows are written only through security definer RPCs (later migrations): members may still
--   insert and update email rows directly, as before, but not SMS rows.

-- Status ranks and Twilio's words ---------------------------------------------------------------

-- Send-log statuses of an SMS, in the only order they may move:
--   deferred < queued < sending < sent < {delivered, undelivered, failed, canceled} < read
-- Terminal statuses share a rank, so one terminal status never replaces another.
create function public.sms_status_rank(status text)
returns integer
language sql
immutable
parallel safe
set search_path = ''
as $$
  select case status
    when 'deferred' then 0
    when 'queued' then 1
    when 'sending' then 2
    when 'sent' then 3
    when 'delivered' then 4
    when 'undelivered' then 4
    when 'failed' then 4
    when 'canceled' then 4
    when 'read' then 5
  end
$$;
comment on function public.sms_status_rank(text) is
  'Rank of an SMS send-log status; a log only moves to a strictly higher rank. Null: not a send-log status.';

-- Twilio reports more words than a send log keeps: accepted and scheduled (a Messaging Service
-- took the message, or holds it for later) are still queued for us; partially_delivered means not
-- every segment arrived, which is undelivered for us; receiving and received describe inbound
-- messages and never change an outbound log (null).
create function public.sms_log_status_for(provider_status text)
returns text
language sql
immutable
parallel safe
set search_path = ''
as $$
  select case lower(provider_status)
    when 'deferred' then 'deferred'
    when 'accepted' then 'queued'
    when 'scheduled' then 'queued'
    when 'queued' then 'queued'
    when 'sending' then 'sending'
    when 'sent' then 'sent'
    when 'delivered' then 'delivered'
    when 'undelivered' then 'undelivered'
    when 'partially_delivered' then 'undelivered'
    when 'failed' then 'failed'
    when 'canceled' then 'canceled'
    when 'read' then 'read'
  end
$$;
comment on function public.sms_log_status_for(text) is
  'The send-log status a provider (Twilio) status maps to; null for inbound or unknown statuses.';

revoke execute on function public.sms_status_rank(text), public.sms_log_status_for(text)
  from public, anon;
grant execute on function public.sms_status_rank(text), public.sms_log_status_for(text)
  to authenticated, service_role;

-- The one conversion rule from the old text column: lossless, the text is kept as a JSON string.
create function public.provider_message_ids_from_text(legacy_id text)
returns jsonb
language sql
immutable
parallel safe
set search_path = ''
as $$
  select case when legacy_id is null then null else jsonb_build_object('resend_id', legacy_id) end
$$;
comment on function public.provider_message_ids_from_text(text) is
  'Converts a pre-SMS send_logs.provider_message_id (a Resend id) to the jsonb form.';
revoke execute on function public.provider_message_ids_from_text(text) from public, anon;
grant execute on function public.provider_message_ids_from_text(text)
  to authenticated, service_role;

-- Columns ---------------------------------------------------------------------------------------

alter table public.send_logs
  add column channel text not null default 'email',
  add column customer_id uuid references public.customers (id) on delete set null,
  add column to_phone text,
  add column segments smallint,
  add column encoding text,
  add column error_code integer,
  add column status_at timestamptz;

alter table public.send_logs
  alter column provider_message_id type jsonb
  using public.provider_message_ids_from_text(provider_message_id);

-- Migration window: customer_id mirrors contact_id on every existing row.
update public.send_logs set customer_id = contact_id where contact_id is not null;

comment on column public.send_logs.channel is 'email | sms';
comment on column public.send_logs.provider_message_id is
  'Every provider''s id for this message: {"resend_id": "...", "twilio_sid": "SM..."}';
comment on column public.send_logs.contact_id is
  'Deprecated: same value as customer_id (kept in sync by a trigger) until older code is gone';
comment on column public.send_logs.customer_id is 'The recipient (replaces contact_id)';
comment on column public.send_logs.to_phone is 'SMS: the recipient''s number (E.164) at send time';
comment on column public.send_logs.segments is 'SMS: segments billed (Twilio num_segments)';
comment on column public.send_logs.encoding is 'SMS: GSM-7 or UCS-2';
comment on column public.send_logs.error_code is 'SMS: provider error code (Twilio ErrorCode)';
comment on column public.send_logs.status_at is 'When the log reached its current status';

alter table public.send_logs drop constraint if exists send_logs_status_check;
alter table public.send_logs
  add constraint send_logs_channel_check check (channel in ('email', 'sms')),
  add constraint send_logs_status_check check (
    (channel = 'email' and status in ('queued', 'sent', 'delivered', 'bounced', 'failed'))
    or (channel = 'sms' and status in ('deferred', 'queued', 'sending', 'sent', 'delivered',
                                       'undelivered', 'failed', 'canceled', 'read'))),
  add constraint send_logs_provider_message_id_check
    check (provider_message_id is null or jsonb_typeof(provider_message_id) = 'object'),
  add constraint send_logs_to_phone_check check (to_phone ~ '^\+[1-9][0-9]{7,14}$'),
  add constraint send_logs_segments_check check (segments between 1 and 100),
  add constraint send_logs_encoding_check check (encoding in ('GSM-7', 'UCS-2')),
  add constraint send_logs_sms_recipient_check check (channel <> 'sms' or to_phone is not null),
  add constraint send_logs_email_fields_check
    check (channel <> 'email' or (to_phone is null and segments is null and encoding is null));

-- A Twilio sid belongs to one send log; the webhook finds the log by it.
create unique index send_logs_twilio_sid_key
  on public.send_logs ((provider_message_id ->> 'twilio_sid'))
  where (provider_message_id ->> 'twilio_sid') is not null;
-- Foreign key, per-customer history and the 24-hour frequency cap.
create index send_logs_customer_id_idx on public.send_logs (customer_id, created_at desc);

-- customer_id <-> contact_id, and the recipient must belong to the log's business ---------------

create function public.send_logs_sync_customer()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    if new.customer_id is null then
      new.customer_id := new.contact_id;
    elsif new.contact_id is null then
      new.contact_id := new.customer_id;
    end if;
  elsif new.customer_id is distinct from old.customer_id
        and new.contact_id is not distinct from old.contact_id then
    new.contact_id := new.customer_id;
  elsif new.contact_id is distinct from old.contact_id
        and new.customer_id is not distinct from old.customer_id then
    new.customer_id := new.contact_id;
  end if;
  if new.customer_id is distinct from new.contact_id then
    raise exception 'send_logs.customer_id and contact_id must be equal (% vs %)',
      new.customer_id, new.contact_id using errcode = '23514';
  end if;
  if new.customer_id is not null
     and (tg_op = 'INSERT' or new.customer_id is distinct from old.customer_id
          or new.business_id is distinct from old.business_id)
     and not exists (select 1 from public.customers c
                      where c.id = new.customer_id and c.business_id = new.business_id) then
    raise exception 'the send log''s customer belongs to another business' using errcode = '23503';
  end if;
  return new;
end
$$;
revoke execute on function public.send_logs_sync_customer() from public, anon, authenticated,
  service_role;

create trigger send_logs_sync_customer
  before insert or update of customer_id, contact_id, business_id on public.send_logs
  for each row execute function public.send_logs_sync_customer();

-- Forward-only as an invariant: whatever writes an SMS log, its status never moves back. The one
-- exception is deferring a message the provider never accepted (no Twilio sid yet): queued or
-- sending -> deferred, when the provider call failed and the message goes to the retry queue.
create function public.send_logs_sms_status_guard()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.channel = 'sms' and old.channel = 'sms' and new.status <> old.status
     and coalesce(public.sms_status_rank(new.status), -1)
         <= coalesce(public.sms_status_rank(old.status), -1)
     and not (new.status = 'deferred' and old.status in ('queued', 'sending')
              and (new.provider_message_id ->> 'twilio_sid') is null) then
    raise exception 'an SMS send log never moves backwards (% -> %)', old.status, new.status
      using errcode = '23514';
  end if;
  if old.channel <> new.channel then
    raise exception 'a send log''s channel never changes' using errcode = '23514';
  end if;
  return new;
end
$$;
revoke execute on function public.send_logs_sms_status_guard() from public, anon, authenticated,
  service_role;

create trigger send_logs_sms_status_guard
  before update of status, channel on public.send_logs
  for each row execute function public.send_logs_sms_status_guard();

-- Row-level security: members read every log of their business, but write only email logs --------

drop policy "members add send logs" on public.send_logs;
drop policy "members change send logs" on public.send_logs;

create policy "members add email send logs" on public.send_logs
  for insert to authenticated
  with check (channel = 'email'
              and business_id in (select bm.business_id from public.business_members bm
                                  where bm.user_id = (select auth.uid())));
create policy "members change email send logs" on public.send_logs
  for update to authenticated
  using (channel = 'email'
         and business_id in (select bm.business_id from public.business_members bm
                             where bm.user_id = (select auth.uid())))
  with check (channel = 'email'
              and business_id in (select bm.business_id from public.business_members bm
                                  where bm.user_id = (select auth.uid())));
