-- What process-retries needs beyond the queue RPCs: the context of one claimed row, read under the
-- locks that make its checks hold until the send is marked, and a shared pacer so that every
-- concurrent worker together stays within the sender's rate.
--
-- The worker's round for one row, in one short service-role transaction:
--   sms_retry_send_context(row)  -- still mine? consent, phone, zone, state, recent sends (locked)
--   (decide in TypeScript: send, cancel, reschedule)
--   record_sms_status_event(..., 'sending', ...)
--   reserve_sms_send_slot(...)   -- last, so the sender's row is locked only until the commit;
--                                   null (past the budget) rolls the whole transaction back
-- commit, wait for the slot, call Twilio, then complete_sms_retry / fail_sms_retry.

-- Pacing -----------------------------------------------------------------------------------------

-- One row per sender (Twilio account + number or Messaging Service): the earliest instant the next
-- segment may go (a virtual scheduling time, GCRA without burst).
create table public.sms_send_pacing (
  key text primary key check (char_length(key) between 1 and 200),
  next_slot_at timestamptz not null,
  updated_at timestamptz not null default now()
);
comment on table public.sms_send_pacing is
  'Per sender: when the next SMS segment may be handed to the provider (reserve_sms_send_slot).';

alter table public.sms_send_pacing enable row level security;
revoke all on public.sms_send_pacing from anon, authenticated;
revoke all on public.sms_send_pacing from service_role;
grant select on public.sms_send_pacing to service_role;

-- Reserves the sender's next free slot for p_segments segments at p_segments_per_second, shared by
-- every worker: the slot starts when the previous reservation's segments have been spent (or now),
-- and moves the next free instant on by p_segments / p_segments_per_second seconds. Returns the
-- milliseconds to wait before sending (0: now), or null, reserving nothing, when the slot would
-- start more than p_max_wait_ms from now (the worker's time budget is shorter than the queue).
create function public.reserve_sms_send_slot(
  p_key text,
  p_segments integer,
  p_segments_per_second numeric,
  p_max_wait_ms integer default null
)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  -- clock_timestamp, not now(): workers wait on this row, and now() is when their transaction
  -- began, which would hand out slots in the past.
  v_now timestamptz := clock_timestamp();
  v_cost interval;
  v_start timestamptz;
begin
  if p_key is null or char_length(p_key) not between 1 and 200 then
    raise exception 'p_key must be a name of 1 to 200 characters' using errcode = '22023';
  end if;
  if p_segments is null or p_segments < 1 or p_segments > 100 then
    raise exception 'p_segments must be between 1 and 100' using errcode = '22023';
  end if;
  if p_segments_per_second is null or p_segments_per_second <= 0
     or p_segments_per_second > 10000 then
    raise exception 'p_segments_per_second must be above 0 and at most 10000'
      using errcode = '22023';
  end if;
  if p_max_wait_ms is not null and p_max_wait_ms < 0 then
    return null;
  end if;
  v_cost := make_interval(secs => p_segments / p_segments_per_second);

  insert into public.sms_send_pacing as p (key, next_slot_at, updated_at)
  values (p_key, v_now + v_cost, v_now)
  on conflict (key) do update
     set next_slot_at = greatest(p.next_slot_at, v_now) + v_cost,
         updated_at = v_now
   where p_max_wait_ms is null
      or greatest(p.next_slot_at, v_now) <= v_now + make_interval(secs => p_max_wait_ms / 1000.0)
  returning p.next_slot_at - v_cost into v_start;
  if v_start is null then
    return null;
  end if;
  return greatest(0, ceil(extract(epoch from v_start - v_now) * 1000))::integer;
end
$$;
comment on function public.reserve_sms_send_slot(text, integer, numeric, integer) is
  'Shared sender pacing: milliseconds to wait before sending p_segments, or null past p_max_wait_ms.';

-- Context of one claimed row --------------------------------------------------------------------

-- What the worker holding retry p_retry_id needs to decide its fate, read under locks held until
-- the caller's transaction ends:
-- * a per-customer advisory lock, so two workers deciding for one customer (frequency cap) take
--   turns, and the second sees the first's 'sending' mark;
-- * the customer FOR SHARE, so a consent change waits until the decision (and its 'sending'
--   mark) is committed, and is otherwise seen;
-- * the queue row FOR UPDATE.
-- lease_held is false (and nothing else is returned) when the row is no longer this worker's, or
-- its lease ends within p_min_lease_seconds: a send must never outlive the lease, or a reclaiming
-- worker could send the same message again. recent_sends: when this customer's other SMS were
-- handed to Twilio (or are being handed, 'sending') since p_since, oldest first.
create function public.sms_retry_send_context(
  p_retry_id uuid,
  p_worker text,
  p_min_lease_seconds integer default 0,
  p_since timestamptz default null
)
returns table (
  lease_held boolean,
  customer_id uuid,
  consent_status text,
  phone text,
  phone_status text,
  time_zone text,
  us_state text,
  log_status text,
  log_to_phone text,
  log_twilio_sid text,
  log_created_at timestamptz,
  recent_sends timestamptz[]
)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_customer_id uuid;
  v_row public.sms_retry_queue;
  v_customer public.customers;
  v_log public.send_logs;
  v_since timestamptz := coalesce(p_since, now() - interval '24 hours');
begin
  select q.customer_id into v_customer_id from public.sms_retry_queue q where q.id = p_retry_id;
  if not found then
    lease_held := false;
    return next;
    return;
  end if;
  perform pg_advisory_xact_lock(hashtextextended('sms_customer_send:' || v_customer_id, 0));
  select c.* into v_customer from public.customers c where c.id = v_customer_id for share;
  select q.* into v_row from public.sms_retry_queue q
   where q.id = p_retry_id and q.status = 'processing' and q.locked_by = p_worker
     and q.lease_expires_at
         >= clock_timestamp() + make_interval(secs => greatest(coalesce(p_min_lease_seconds, 0), 0))
   for update;
  if not found then
    lease_held := false;
    return next;
    return;
  end if;
  select l.* into v_log from public.send_logs l where l.id = v_row.send_log_id;

  lease_held := true;
  customer_id := v_customer.id;
  consent_status := v_customer.sms_consent_status;
  phone := v_customer.phone;
  phone_status := v_customer.phone_status;
  time_zone := v_customer.time_zone;
  us_state := v_customer.us_state;
  log_status := v_log.status;
  log_to_phone := v_log.to_phone;
  log_twilio_sid := v_log.provider_message_id ->> 'twilio_sid';
  log_created_at := v_log.created_at;
  select coalesce(array_agg(s.at order by s.at), '{}'::timestamptz[]) into recent_sends
    from (
      -- Accepted by Twilio: the provider's create answer carries the sid.
      select e.occurred_at as at
        from public.send_logs l
        join public.sms_message_events e on e.send_log_id = l.id
       where l.customer_id = v_customer_id and l.channel = 'sms' and l.id <> v_row.send_log_id
         and e.source = 'api' and e.message_sid is not null and e.occurred_at > v_since
      union all
      -- Being handed to Twilio right now by another worker or send-sms.
      select l.status_at
        from public.send_logs l
       where l.customer_id = v_customer_id and l.channel = 'sms' and l.id <> v_row.send_log_id
         and l.status = 'sending' and (l.provider_message_id ->> 'twilio_sid') is null
         and l.status_at > v_since
    ) s;
  return next;
end
$$;
comment on function public.sms_retry_send_context(uuid, text, integer, timestamptz) is
  'process-retries: a held row''s customer, send log and recent sends, under the locks its checks need.';

revoke execute on function
  public.reserve_sms_send_slot(text, integer, numeric, integer),
  public.sms_retry_send_context(uuid, text, integer, timestamptz)
  from public, anon, authenticated;
grant execute on function
  public.reserve_sms_send_slot(text, integer, numeric, integer),
  public.sms_retry_send_context(uuid, text, integer, timestamptz)
  to service_role;
