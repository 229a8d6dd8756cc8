-- The cron wiring: one job every minute, never duplicated; sms.invoke_process_retries reads the Vault
-- secrets and queues the right pg_net request, or says what is missing.
begin;
select plan(16);

select has_extension('pg_cron', 'pg_cron is installed');
select has_function('net', 'http_post', array['text', 'jsonb', 'jsonb', 'jsonb', 'integer'],
  'net.http_post is there (pg_net, or the local stand-in)');
select is(
  (select count(*)::int from cron.job where jobname = 'process-sms-retries'), 1,
  'one process-sms-retries job');
select is(
  (select row(schedule, command, active)::text from cron.job
    where jobname = 'process-sms-retries'),
  '("* * * * *","select sms.invoke_process_retries()",t)',
  'every minute, calling invoke_process_retries()');

-- Re-running the migration's statement replaces the job instead of adding one.
create temp table job_before as select jobid from cron.job where jobname = 'process-sms-retries';
select cron.schedule('process-sms-retries', '* * * * *', 'select sms.invoke_process_retries()');
select cron.schedule('process-sms-retries', '* * * * *', 'select sms.invoke_process_retries()');
select is(
  (select count(*)::int from cron.job where jobname = 'process-sms-retries'), 1,
  're-running the schedule never duplicates the job');
select is((select jobid from cron.job where jobname = 'process-sms-retries'),
  (select jobid from job_before), 'it keeps its id');

-- Secrets present ------------------------------------------------------------------------------------
delete from vault.secrets where name in ('project_url', 'process_retries_secret');
select vault.create_secret('http://api.example.test:54321/', 'project_url');
select vault.create_secret('s3cret-value', 'process_retries_secret');

create temp table req as select sms.invoke_process_retries() as id;
select ok((select id from req) is not null, 'invoke_process_retries returns the request id');
create temp table queued as select * from net.http_request_queue where id = (select id from req);
select is((select method from queued), 'POST', 'it is a POST');
select is((select url from queued), 'http://api.example.test:54321/functions/v1/process-retries',
  'to <project_url>/functions/v1/process-retries');
select is((select headers ->> 'Authorization' from queued), 'Bearer s3cret-value',
  'with the cron secret as bearer token');
select is((select headers ->> 'Content-Type' from queued), 'application/json', 'as JSON');
select is((select convert_from(body, 'UTF8')::jsonb from queued), '{"chain": true}'::jsonb,
  'asking the run to chain');

-- As the cron job runs it: the job's owner.
select is((select username from cron.job where jobname = 'process-sms-retries'), current_user::text,
  'the job runs as the migration''s role, which owns the function');

-- Secrets missing ------------------------------------------------------------------------------------
delete from vault.secrets where name = 'process_retries_secret';
select throws_ok($$select sms.invoke_process_retries()$$, 'P0002',
  'invoke_process_retries: Vault secret "process_retries_secret" is missing',
  'a missing secret is a clear error');
delete from vault.secrets where name = 'project_url';
select throws_ok($$select sms.invoke_process_retries()$$, 'P0002',
  'invoke_process_retries: Vault secret "project_url" is missing',
  'a missing URL is a clear error');
select is(
  (select count(*)::int from net.http_request_queue where id > (select id from req)), 0,
  'and nothing is queued');

select * from finish();
rollback;
