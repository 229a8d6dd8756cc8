-- What a Twilio error means beyond one message, applied atomically: an opt-out (21610), a number
-- that is invalid or a landline, a sender that is not registered (a business-level alert), or
-- content the carrier filtered (never resend that text). The mapping from error code to effect
-- lives in shared/twilio-errors.ts; this function only carries it out.

alter table public.businesses
  add column sms_sender_alert text,
  add column sms_sender_alert_code integer,
  add column sms_sender_alert_at timestamptz;
comment on column public.businesses.sms_sender_alert is
  'Set when Twilio refuses this business''s sends for an account-level reason (e.g. 30034: '
  'sender not registered for A2P 10DLC); cleared by a person once fixed';

alter table public.send_logs
  add column content_filtered boolean not null default false;
comment on column public.send_logs.content_filtered is
  'The carrier filtered this text (30007): it must never be sent again as is';

create function public.apply_sms_provider_error(
  p_send_log_id uuid,
  p_error_code integer,
  p_effect text,
  p_phone_status text default null,
  p_message_sid text default null
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_log public.send_logs;
  v_consent_changed boolean := false;
  v_phone_status text;
  v_alert boolean := false;
  v_filtered boolean := false;
  v_cancelled integer := 0;
begin
  if p_effect is null then
    raise exception 'p_effect is required' using errcode = '22023';
  end if;
  if p_phone_status is not null
     and p_phone_status not in ('unknown', 'valid', 'invalid', 'landline') then
    raise exception 'p_phone_status must be a customers.phone_status value'
      using errcode = '22023';
  end if;
  select l.* into v_log from public.send_logs l where l.id = p_send_log_id;
  if not found then
    raise exception 'send_log_not_found' using errcode = 'P0002';
  end if;

  if p_effect = 'opted_out' and v_log.customer_id is not null then
    select c.changed into v_consent_changed
      from public.apply_sms_consent_change(
        p_customer_id => v_log.customer_id,
        p_to_status => 'opted_out',
        p_source => 'provider_error',
        p_message_sid => coalesce(p_message_sid, v_log.provider_message_id ->> 'twilio_sid'),
        p_error_code => p_error_code,
        p_details => jsonb_build_object('send_log_id', v_log.id)) c;
  end if;

  if p_phone_status is not null and v_log.customer_id is not null then
    -- Only the number the message went to: the customer may have changed it since.
    update public.customers c
       set phone_status = p_phone_status, updated_at = now()
     where c.id = v_log.customer_id
       and c.phone is not distinct from v_log.to_phone
       and c.phone_status is distinct from p_phone_status
    returning c.phone_status into v_phone_status;
  end if;

  if p_effect in ('sender_not_registered', 'account_misconfigured') then
    update public.businesses b
       set sms_sender_alert = p_effect,
           sms_sender_alert_code = p_error_code,
           sms_sender_alert_at = now(),
           updated_at = now()
     where b.id = v_log.business_id;
    v_alert := true;
  end if;

  if p_effect = 'content_filtered' then
    update public.send_logs l set content_filtered = true, updated_at = now()
     where l.id = v_log.id;
    update public.sms_retry_queue q
       set status = 'cancelled', last_error = 'content_filtered',
           last_error_code = p_error_code, finished_at = now(), updated_at = now()
     where q.send_log_id = v_log.id and q.status = 'pending';
    get diagnostics v_cancelled = row_count;
    v_filtered := true;
  end if;

  return jsonb_build_object(
    'consent_changed', coalesce(v_consent_changed, false),
    'phone_status', v_phone_status,
    'business_alert', v_alert,
    'content_filtered', v_filtered,
    'cancelled_retries', v_cancelled);
end
$$;
comment on function public.apply_sms_provider_error(uuid, integer, text, text, text) is
  'Applies the effect of a Twilio error (from shared/twilio-errors.ts) for one send log.';

revoke execute on function public.apply_sms_provider_error(uuid, integer, text, text, text)
  from public, anon, authenticated;
grant execute on function public.apply_sms_provider_error(uuid, integer, text, text, text)
  to service_role;
