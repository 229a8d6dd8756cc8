-- record_sms_send_result, the statement that stores Twilio's answer to every send (send-sms and
-- process-retries), with the same signature, errors and effects in fewer steps
-- (docs/performance.md, "Third round"). It used to store the sid in one UPDATE, then call
-- record_sms_status_event, which read the log again, inserted the api event, and called
-- advance_sms_status for a second UPDATE of the same row, then read the log twice more. Now:
--
-- * one UPDATE of the log stores the sid and segments and, when Twilio's status ranks higher,
--   moves the status (a sid stored changes an indexed expression, so each UPDATE of the row wrote
--   a new version and an entry in each of the table's six indexes);
-- * the api event is inserted directly, with what record_sms_status_event wrote for it;
-- * early callbacks (those that beat the sid) are linked and applied as before, highest rank last;
--   the log is read again only when one of them moved it.
--
-- pgbench of the three send-path statements, one client: this statement 2.0–2.5 ms → 1.4–1.6 ms.

create or replace function public.record_sms_send_result(
  p_send_log_id uuid,
  p_twilio_sid text,
  p_status text,
  p_segments integer default null,
  p_error_code integer default null,
  p_error text default null,
  p_payload jsonb default '{}'::jsonb
)
returns public.send_logs
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_log public.send_logs;
  v_sid text := nullif(p_twilio_sid, '');
  v_new_sid boolean := v_sid is not null;
  v_mapped text := public.sms_log_status_for(p_status);
  v_advance boolean;
  v_moved boolean := false;
  v_early record;
begin
  select l.* into v_log from public.send_logs l
   where l.id = p_send_log_id and l.channel = 'sms' for update;
  if not found then
    raise exception 'send_log_not_found' using errcode = 'P0002';
  end if;
  if v_new_sid then
    -- Serialises with a callback for this sid (record_sms_status_event): it either finds the log
    -- or is among the early callbacks linked below, never neither.
    perform pg_advisory_xact_lock(hashtextextended('sms_message_sid:' || v_sid, 0));
    if (v_log.provider_message_id ->> 'twilio_sid') is not null
       and (v_log.provider_message_id ->> 'twilio_sid') <> v_sid then
      raise exception 'send log % already has Twilio sid %', v_log.id,
        v_log.provider_message_id ->> 'twilio_sid' using errcode = '23505';
    end if;
    update public.sms_message_events e
       set send_log_id = v_log.id, business_id = v_log.business_id
     where e.source = 'callback' and e.message_sid = v_sid and e.send_log_id is null;
  elsif v_mapped is distinct from 'failed' then
    raise exception 'without a Twilio sid the only result is failed' using errcode = '22023';
  else
    v_sid := v_log.provider_message_id ->> 'twilio_sid';
  end if;
  if p_status is null or p_status = '' then
    raise exception 'a status is required' using errcode = '22023';
  end if;

  insert into public.sms_message_events
    (business_id, send_log_id, message_sid, source, provider_status, status, error_code,
     error_message, payload, occurred_at)
  values (v_log.business_id, v_log.id, v_sid, 'api', p_status, v_mapped, p_error_code, p_error,
          coalesce(p_payload, '{}'::jsonb), now());

  -- advance_sms_status's rule, on the row locked above: only to a strictly higher rank.
  v_advance := coalesce(public.sms_status_rank(v_log.status) < public.sms_status_rank(v_mapped),
                        false);
  if v_advance then
    update public.send_logs l
       set provider_message_id =
             case when v_new_sid
                  then coalesce(l.provider_message_id, '{}'::jsonb)
                       || jsonb_build_object('twilio_sid', v_sid)
                  else l.provider_message_id end,
           segments = case when v_new_sid then coalesce(p_segments, l.segments) else l.segments end,
           status = v_mapped,
           status_at = now(),
           sent_at = case when v_mapped in ('sent', 'delivered', 'undelivered', 'read')
                          then coalesce(l.sent_at, now()) else l.sent_at end,
           error_code = coalesce(p_error_code, l.error_code),
           error = coalesce(p_error, l.error),
           updated_at = now()
     where l.id = v_log.id
    returning l.* into v_log;
  elsif v_new_sid then
    update public.send_logs l
       set provider_message_id = coalesce(l.provider_message_id, '{}'::jsonb)
                                 || jsonb_build_object('twilio_sid', v_sid),
           segments = coalesce(p_segments, l.segments),
           updated_at = now()
     where l.id = v_log.id
    returning l.* into v_log;
  end if;

  -- Early callbacks, highest rank last so the log ends at the furthest status reported.
  for v_early in
    select e.status, e.occurred_at, e.error_code, e.error_message
      from public.sms_message_events e
     where e.send_log_id = v_log.id and e.source = 'callback' and e.status is not null
     order by public.sms_status_rank(e.status), e.id
  loop
    v_moved := public.advance_sms_status(v_log.id, v_early.status, v_early.occurred_at,
                                         v_early.error_code, v_early.error_message)
               or v_moved;
  end loop;
  if v_moved then
    select l.* into v_log from public.send_logs l where l.id = v_log.id;
  end if;
  return v_log;
end
$$;
comment on function
  public.record_sms_send_result(uuid, text, text, integer, integer, text, jsonb) is
  'Stores Twilio''s answer to a send (sid, status, segments, or the error) with its api event; applies callbacks that came first.';

-- create or replace keeps the grants; stated again so this file shows them.
revoke execute on function
  public.record_sms_send_result(uuid, text, text, integer, integer, text, jsonb)
  from public, anon, authenticated;
grant execute on function
  public.record_sms_send_result(uuid, text, text, integer, integer, text, jsonb)
  to service_role;
