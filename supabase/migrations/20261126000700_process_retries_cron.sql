-- pg_cron calls the process-retries Edge Function every minute through pg_net.
--
-- The project URL and the function's shared secret live in Vault (never in this file):
--   select vault.create_secret('https://<ref>.supabase.co', 'project_url');
--   select vault.create_secret('<PROCESS_RETRIES_SECRET>', 'process_retries_secret');
-- (docs/operations.md). Until both exist, each run fails with a message saying so, visible in
-- cron.job_run_details, and nothing is sent.

create extension if not exists pg_cron;

-- pg_net: a Supabase project enables it here when it is not enabled yet. Where schema net already
-- provides http_post (pg_net enabled from the dashboard, or the local stack's stand-in) this is
-- skipped, so the same migration runs in both places.
do $$
begin
  if to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)') is null then
    create extension if not exists pg_net;
  end if;
end
$$;

-- Queues POST <project_url>/functions/v1/process-retries with the cron secret as bearer token;
-- pg_net sends it after commit. Returns the pg_net request id.
create function public.invoke_process_retries()
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_url text;
  v_secret text;
begin
  select s.decrypted_secret into v_url
    from vault.decrypted_secrets s where s.name = 'project_url'
   order by s.created_at desc limit 1;
  select s.decrypted_secret into v_secret
    from vault.decrypted_secrets s where s.name = 'process_retries_secret'
   order by s.created_at desc limit 1;
  if coalesce(v_url, '') = '' then
    raise exception 'invoke_process_retries: Vault secret "project_url" is missing'
      using errcode = 'P0002',
            hint = 'select vault.create_secret(''https://<ref>.supabase.co'', ''project_url''); see docs/operations.md';
  end if;
  if coalesce(v_secret, '') = '' then
    raise exception 'invoke_process_retries: Vault secret "process_retries_secret" is missing'
      using errcode = 'P0002',
            hint = 'select vault.create_secret(''<PROCESS_RETRIES_SECRET>'', ''process_retries_secret''); see docs/operations.md';
  end if;
  return net.http_post(
    url := rtrim(v_url, '/') || '/functions/v1/process-retries',
    body := '{}'::jsonb,
    params := '{}'::jsonb,
    headers := jsonb_build_object('Content-Type', 'application/json',
                                  'Authorization', 'Bearer ' || v_secret),
    timeout_milliseconds := 55000
  );
end
$$;

revoke execute on function public.invoke_process_retries() from public, anon, authenticated;
grant execute on function public.invoke_process_retries() to service_role;

-- cron.schedule replaces the job of the same name, so re-running this never adds a second one.
select cron.schedule('process-sms-retries', '* * * * *', 'select public.invoke_process_retries()');
