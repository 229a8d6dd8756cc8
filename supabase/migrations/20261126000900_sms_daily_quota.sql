-- Abuse guard: a business sends at most so many SMS per rolling 24 hours, so a stolen account
-- cannot blast texts. The default comes from the function's environment (SMS_DAILY_QUOTA); a
-- business may have its own limit.

alter table public.businesses
  add column sms_daily_quota integer check (sms_daily_quota is null or sms_daily_quota >= 0);
comment on column public.businesses.sms_daily_quota is
  'SMS a business may send per rolling 24 h; null: the deployment default (SMS_DAILY_QUOTA)';

-- Every SMS send log of the current hour and the 24 before it counts (deferred ones will go
-- out), from hourly counters a trigger on send_logs keeps: at most 25 rows to sum, whatever the
-- volume (counting the logs themselves cost a busy business 1.2 ms per send at 3,000 logs, each
-- send in turn under the lock). A business may thus be refused up to an hour's worth of sends
-- early, never late.

create table public.sms_quota_usage (
  business_id uuid not null references public.businesses (id) on delete cascade,
  -- The hour the sends were logged in (date_trunc('hour', send_logs.created_at)).
  hour timestamptz not null,
  sent integer not null default 0 check (sent >= 0),
  primary key (business_id, hour)
);
comment on table public.sms_quota_usage is
  'SMS send logs per business and hour, for reserve_sms_quota; kept by a trigger on send_logs.';

alter table public.sms_quota_usage enable row level security;
revoke all on public.sms_quota_usage from anon, authenticated, service_role;

create function public.sms_quota_usage_count()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_new boolean;
begin
  insert into public.sms_quota_usage as u (business_id, hour, sent)
  values (new.business_id, pg_catalog.date_trunc('hour', new.created_at), 1)
  on conflict (business_id, hour) do update set sent = u.sent + 1
  returning (xmax = 0) into v_new;
  -- Once per business and hour: hours that no window can reach again go.
  if v_new then
    delete from public.sms_quota_usage u
     where u.business_id = new.business_id and u.hour < now() - interval '2 days';
  end if;
  return null;
end
$$;
revoke execute on function public.sms_quota_usage_count()
  from public, anon, authenticated, service_role;
create trigger send_logs_sms_quota_usage
  after insert on public.send_logs
  for each row when (new.channel = 'sms') execute function public.sms_quota_usage_count();

-- The quota check itself: raises quota_exceeded when the business's SMS of the window, less the
-- p_counted ones the caller already wrote, have used its limit; else returns what is left after
-- one more. Callers that write first (start_sms_send: p_counted 1, the sum includes the new log)
-- take the business's lock last, so concurrent sends of one business queue only for this sum and
-- their commit, and each sees every send committed before it plus its own. (The log's insert
-- already locked its hour's counter row until commit; the lock also covers two sends in
-- different hours.)
create function public.sms_assert_quota(
  p_business_id uuid,
  p_default_limit integer,
  p_counted integer default 0
)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_limit integer;
  v_used integer;
begin
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('sms_quota:' || p_business_id::text, 0));
  select coalesce(b.sms_daily_quota, p_default_limit) into v_limit
    from public.businesses b where b.id = p_business_id;
  if not found then
    raise exception 'customer_not_found' using errcode = 'P0002';
  end if;
  select coalesce(sum(u.sent), 0) - p_counted into v_used from public.sms_quota_usage u
   where u.business_id = p_business_id and u.hour > now() - interval '25 hours';
  if v_limit is not null and v_used >= v_limit then
    raise exception 'quota_exceeded' using errcode = 'P0001',
      detail = format('%s of %s SMS in the last 24 hours', v_used, v_limit);
  end if;
  return case when v_limit is null then null else v_limit - v_used - 1 end;
end
$$;

-- For callers that check before they write the log (p_counted 0).
create function public.reserve_sms_quota(p_business_id uuid, p_default_limit integer)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
begin
  return public.sms_assert_quota(p_business_id, p_default_limit);
end
$$;
comment on function public.reserve_sms_quota(uuid, integer) is
  'Raises quota_exceeded when the business has used its rolling 24 h SMS quota; call it in the '
  'transaction that writes the new send log.';

revoke execute on function public.sms_assert_quota(uuid, integer, integer)
  from public, anon, authenticated, service_role;
revoke execute on function public.reserve_sms_quota(uuid, integer) from public, anon, authenticated;
grant execute on function public.reserve_sms_quota(uuid, integer) to service_role;
