-- Abuse guard: a business sends at most so many SMS per rolling 24 hours, so a stolen account
-- cannot blast texts. The default comes from the function's environment (SMS_DAILY_QUOTA); a
-- business may have its own limit.

alter table public.businesses
  add column sms_daily_quota integer check (sms_daily_quota is null or sms_daily_quota >= 0);
comment on column public.businesses.sms_daily_quota is
  'SMS a business may send per rolling 24 h; null: the deployment default (SMS_DAILY_QUOTA)';

-- Every SMS send log of the last day counts (deferred ones will go out). An advisory lock per
-- business, held until the caller's transaction commits the new log, makes concurrent requests
-- take their turn, so the limit is never overshot.
create function public.reserve_sms_quota(p_business_id uuid, p_default_limit integer)
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
  select count(*) into v_used from public.send_logs l
   where l.business_id = p_business_id and l.channel = 'sms'
     and l.created_at > now() - interval '24 hours';
  if v_limit is not null and v_used >= v_limit then
    raise exception 'quota_exceeded' using errcode = 'P0001',
      detail = format('%s of %s SMS in the last 24 hours', v_used, v_limit);
  end if;
  return case when v_limit is null then null else v_limit - v_used - 1 end;
end
$$;
comment on function public.reserve_sms_quota(uuid, integer) is
  'Raises quota_exceeded when the business has used its rolling 24 h SMS quota; call it in the '
  'transaction that writes the new send log.';

revoke execute on function public.reserve_sms_quota(uuid, integer) from public, anon, authenticated;
grant execute on function public.reserve_sms_quota(uuid, integer) to service_role;
