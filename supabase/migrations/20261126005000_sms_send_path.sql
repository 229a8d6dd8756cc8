-- send-sms in three statements: read what the decision needs (no locks), write the decided outcome
-- (under the locks, after checking that what was read still holds), then store Twilio's answer
-- (record_sms_send_result). Each is one security-definer call outside any explicit transaction,
-- so a send costs three round trips instead of seven transactions of begin / set role / ... /
-- commit, and the business's quota lock and the customer's send lock are held for one statement.
--
--   sms_send_context(customer, user)         -- customer, recent sends, fingerprint
--   (decide in TypeScript: send now, or defer to a later instant)
--   start_sms_send(..., fingerprint, ...)    -- locks, re-check; the log or the retry row; the quota
--   (Twilio)
--   record_sms_send_result(...)

-- Finds the recent sends to a number: the business's SMS logs to that number.
create index send_logs_sms_recipient_idx on public.send_logs (business_id, to_phone, created_at)
  where channel = 'sms';

-- When the business's SMS to p_phone since p_since went (or are going) to the carrier, oldest
-- first: the moment a log was first marked sending or queued, else its creation. The frequency cap
-- counts these.
-- (plpgsql, not sql, here and below: a security definer sql function cannot be inlined and is
-- planned again at every call; plpgsql keeps its plans for the session.)
create function public.sms_recent_sends(p_business_id uuid, p_phone text, p_since timestamptz)
returns timestamptz[]
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return (
    select coalesce(array_agg(x.at order by x.at), '{}'::timestamptz[])
      from (select coalesce(
                     (select min(e.occurred_at) from public.sms_message_events e
                       where e.send_log_id = l.id and e.status in ('sending', 'queued')),
                     l.created_at) as at
              from public.send_logs l
             where l.business_id = p_business_id and l.channel = 'sms' and l.to_phone = p_phone
               and l.status in ('queued', 'sending', 'sent', 'delivered', 'undelivered', 'read')
               and l.created_at > p_since) x);
end
$$;

-- What a decision read: the recipient's number, zone and state, and their recent sends. Equal
-- fingerprints mean the decision still holds.
create function public.sms_send_fingerprint(
  p_phone text,
  p_time_zone text,
  p_us_state text,
  p_recent timestamptz[]
)
returns text
language plpgsql
immutable
security definer
set search_path = ''
as $$
begin
  return pg_catalog.md5(pg_catalog.concat_ws('|', p_phone, p_time_zone, p_us_state,
                                             p_recent::text));
end
$$;

revoke execute on function public.sms_recent_sends(uuid, text, timestamptz),
  public.sms_send_fingerprint(text, text, text, timestamptz[])
  from public, anon, authenticated, service_role;

-- The customer as send-sms decides on them, for a member of their business (p_acting_user); no
-- row for a customer of another business, exactly as for a missing one. Reads without locks:
-- start_sms_send re-checks the fingerprint under them.
create function public.sms_send_context(
  p_customer_id uuid,
  p_acting_user uuid,
  p_since timestamptz
)
returns table (
  customer_id uuid,
  business_id uuid,
  phone text,
  phone_status text,
  sms_consent_status text,
  time_zone text,
  us_state text,
  recent_sends timestamptz[],
  fingerprint text
)
language plpgsql
stable
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_customer public.customers;
begin
  select c.* into v_customer from public.customers c
   where c.id = p_customer_id
     and exists (select 1 from public.business_members bm
                  where bm.business_id = c.business_id and bm.user_id = p_acting_user);
  if not found then
    return;
  end if;
  customer_id := v_customer.id;
  business_id := v_customer.business_id;
  phone := v_customer.phone;
  phone_status := v_customer.phone_status;
  sms_consent_status := v_customer.sms_consent_status;
  time_zone := v_customer.time_zone;
  us_state := v_customer.us_state;
  recent_sends := public.sms_recent_sends(v_customer.business_id, v_customer.phone, p_since);
  fingerprint := public.sms_send_fingerprint(v_customer.phone, v_customer.time_zone,
                                             v_customer.us_state, recent_sends);
  return next;
end
$$;

-- Writes the outcome send-sms decided for a new message, in one statement:
-- * membership of p_acting_user;
-- * the customer's send lock (shared with process-retries), then the fingerprint of what the
--   decision read: a different one raises send_context_changed (another send to this number went
--   out, or the customer's number or zone changed) and the caller decides again;
-- * p_defer_reason null: the send log, 'sending' (create_sms_send_log re-checks consent and phone
--   under a share lock); otherwise the deferred log and its retry row (enqueue_sms_retry);
-- * last, the business's daily quota, counting the new log (sms_assert_quota): its lock is held
--   from there to the commit only, so a busy business's sends wait on each other for that long.
-- Errors as create_sms_send_log and enqueue_sms_retry, plus quota_exceeded (nothing written).
create function public.start_sms_send(
  p_customer_id uuid,
  p_acting_user uuid,
  p_fingerprint text,
  p_since timestamptz,
  p_segments integer,
  p_encoding text,
  p_default_quota integer,
  p_body text default null,
  p_defer_reason text default null,
  p_scheduled_for timestamptz default null
)
returns table (send_log_id uuid, to_phone text, retry_id uuid, scheduled_for timestamptz)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_customer public.customers;
  v_log public.send_logs;
begin
  select c.* into v_customer from public.customers c where c.id = p_customer_id;
  if not found then
    raise exception 'customer_not_found' using errcode = 'P0002', detail = 'no such customer';
  end if;
  perform public.sms_assert_member(v_customer.business_id, p_acting_user);
  perform pg_catalog.pg_advisory_xact_lock(
    pg_catalog.hashtextextended('sms_customer_send:' || p_customer_id::text, 0));
  -- Read again after the lock: the row above may predate a change committed while we waited.
  select c.* into v_customer from public.customers c where c.id = p_customer_id;
  if p_fingerprint is distinct from public.sms_send_fingerprint(
       v_customer.phone, v_customer.time_zone, v_customer.us_state,
       public.sms_recent_sends(v_customer.business_id, v_customer.phone, p_since)) then
    raise exception 'send_context_changed' using errcode = 'P0001',
      detail = 'the recipient or their recent sends changed since the decision was made';
  end if;

  if p_defer_reason is null then
    v_log := public.create_sms_send_log(p_customer_id, p_segments, p_encoding, p_acting_user,
                                        'sending');
    perform public.sms_assert_quota(v_customer.business_id, p_default_quota, 1);
    send_log_id := v_log.id;
    to_phone := v_log.to_phone;
    return next;
    return;
  end if;
  select e.send_log_id, e.retry_id, e.scheduled_for into send_log_id, retry_id, scheduled_for
    from public.enqueue_sms_retry(
           p_customer_id => p_customer_id, p_body => p_body, p_reason => p_defer_reason,
           p_scheduled_for => p_scheduled_for, p_segments => p_segments,
           p_encoding => p_encoding, p_acting_user => p_acting_user) e;
  perform public.sms_assert_quota(v_customer.business_id, p_default_quota, 1);
  to_phone := v_customer.phone;
  return next;
end
$$;

revoke execute on function public.sms_send_context(uuid, uuid, timestamptz),
  public.start_sms_send(uuid, uuid, text, timestamptz, integer, text, integer, text, text,
                        timestamptz)
  from public, anon, authenticated;
grant execute on function public.sms_send_context(uuid, uuid, timestamptz),
  public.start_sms_send(uuid, uuid, text, timestamptz, integer, text, integer, text, text,
                        timestamptz)
  to service_role;
