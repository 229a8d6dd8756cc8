-- Idempotency for send-sms: one row per (business, idempotency key) holding the first answer.
--
-- send-sms claims the key before doing anything that could send (claim_sms_idempotency_key):
-- the first request gets claimed = true and goes on; a repeat gets the stored answer
-- (state 'completed') or sees the first request still running (state 'in_progress') and never
-- sends a second SMS. The first request stores its answer with complete_sms_idempotency_key, or
-- gives the key back with release_sms_idempotency_key when it failed before anything was sent.

create table public.sms_idempotency_keys (
  business_id uuid not null references public.businesses (id) on delete cascade,
  idempotency_key text not null check (char_length(idempotency_key) between 1 and 255),
  -- Hash of the request (e.g. sha256 of customerId + body): a repeat with another request under
  -- the same key can be refused.
  request_hash text check (char_length(request_hash) <= 200),
  state text not null default 'in_progress' check (state in ('in_progress', 'completed')),
  response_status integer check (response_status between 100 and 599),
  response_body jsonb,
  send_log_id uuid references public.send_logs (id) on delete set null,
  -- The user who sent the first request (no foreign key: the record outlives the account).
  created_by uuid,
  created_at timestamptz not null default now(),
  completed_at timestamptz,
  primary key (business_id, idempotency_key),
  constraint sms_idempotency_keys_answer_check
    check ((state = 'completed')
           = (response_status is not null and response_body is not null
              and completed_at is not null))
);
comment on table public.sms_idempotency_keys is
  'send-sms idempotency keys per business and the first answer given under each.';

create index sms_idempotency_keys_send_log_id_idx on public.sms_idempotency_keys (send_log_id);
-- For pruning old keys.
create index sms_idempotency_keys_created_at_idx on public.sms_idempotency_keys (created_at);

alter table public.sms_idempotency_keys enable row level security;
revoke all on public.sms_idempotency_keys from anon, authenticated;
grant select on public.sms_idempotency_keys to authenticated;

create policy "members read sms idempotency keys" on public.sms_idempotency_keys
  for select to authenticated
  using (business_id in (select bm.business_id from public.business_members bm
                         where bm.user_id = (select auth.uid())));

-- Claims the key, or returns what is stored under it. claimed = true: this request is the first
-- and must finish with complete_ or release_sms_idempotency_key. claimed = false: state
-- 'completed' carries the first answer (response_status, response_body); 'in_progress' means the
-- first request has not answered yet (or died after possibly sending: never send again).
create function public.claim_sms_idempotency_key(
  p_business_id uuid,
  p_idempotency_key text,
  p_request_hash text default null,
  p_acting_user uuid default null
)
returns table (
  claimed boolean,
  state text,
  request_hash text,
  response_status integer,
  response_body jsonb,
  send_log_id uuid,
  created_at timestamptz
)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_row public.sms_idempotency_keys;
  v_claimed boolean := false;
begin
  perform public.sms_assert_member(p_business_id, p_acting_user);
  insert into public.sms_idempotency_keys as k
    (business_id, idempotency_key, request_hash, created_by)
  values (p_business_id, p_idempotency_key, p_request_hash, p_acting_user)
  on conflict (business_id, idempotency_key) do nothing
  returning k.* into v_row;
  if v_row.business_id is not null then
    v_claimed := true;
  else
    select k.* into v_row from public.sms_idempotency_keys k
     where k.business_id = p_business_id and k.idempotency_key = p_idempotency_key;
  end if;
  claimed := v_claimed;
  state := v_row.state;
  request_hash := v_row.request_hash;
  response_status := v_row.response_status;
  response_body := v_row.response_body;
  send_log_id := v_row.send_log_id;
  created_at := v_row.created_at;
  return next;
end
$$;

-- Stores the first answer under a claimed key. False when the key is not in progress.
create function public.complete_sms_idempotency_key(
  p_business_id uuid,
  p_idempotency_key text,
  p_response_status integer,
  p_response_body jsonb,
  p_send_log_id uuid default null
)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_changed integer;
begin
  update public.sms_idempotency_keys k
     set state = 'completed', response_status = p_response_status,
         response_body = p_response_body, send_log_id = p_send_log_id, completed_at = now()
   where k.business_id = p_business_id and k.idempotency_key = p_idempotency_key
     and k.state = 'in_progress';
  get diagnostics v_changed = row_count;
  return v_changed > 0;
end
$$;

-- Gives an in-progress key back (the request failed before anything could be sent), so the
-- client may retry under the same key. False when there was nothing in progress.
create function public.release_sms_idempotency_key(p_business_id uuid, p_idempotency_key text)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_changed integer;
begin
  delete from public.sms_idempotency_keys k
   where k.business_id = p_business_id and k.idempotency_key = p_idempotency_key
     and k.state = 'in_progress';
  get diagnostics v_changed = row_count;
  return v_changed > 0;
end
$$;

revoke execute on function
  public.claim_sms_idempotency_key(uuid, text, text, uuid),
  public.complete_sms_idempotency_key(uuid, text, integer, jsonb, uuid),
  public.release_sms_idempotency_key(uuid, text)
  from public, anon, authenticated;
grant execute on function
  public.claim_sms_idempotency_key(uuid, text, text, uuid),
  public.complete_sms_idempotency_key(uuid, text, integer, jsonb, uuid),
  public.release_sms_idempotency_key(uuid, text)
  to service_role;
