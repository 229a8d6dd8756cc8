-- Worker heartbeats: one row per process-retries run (start, end, counts, error), and a view of
-- how long ago the last successful run finished, so a cron that silently stopped is visible
-- (worker_health.stale). Written only through the RPCs below (service_role); clients see nothing.

create table public.worker_heartbeats (
  id bigint generated always as identity primary key,
  worker text not null default 'process-retries' check (char_length(worker) between 1 and 100),
  -- The run's own id (request id, isolate...), for matching logs.
  worker_id text check (char_length(worker_id) <= 200),
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  status text not null default 'running' check (status in ('running', 'succeeded', 'failed')),
  claimed integer not null default 0 check (claimed >= 0),
  sent integer not null default 0 check (sent >= 0),
  deferred integer not null default 0 check (deferred >= 0),
  failed integer not null default 0 check (failed >= 0),
  skipped integer not null default 0 check (skipped >= 0),
  error text,
  constraint worker_heartbeats_finished_check check ((status = 'running') = (finished_at is null))
);
comment on table public.worker_heartbeats is
  'One row per worker run (process-retries); kept 14 days.';

create index worker_heartbeats_worker_started_idx
  on public.worker_heartbeats (worker, started_at desc);
create index worker_heartbeats_last_success_idx
  on public.worker_heartbeats (worker, finished_at desc) where status = 'succeeded';

alter table public.worker_heartbeats enable row level security;
revoke all on public.worker_heartbeats from anon, authenticated;
revoke all on sequence public.worker_heartbeats_id_seq from anon, authenticated;

-- Known workers appear even before their first run, so "never ran" is visible too.
create view public.worker_health with (security_invoker = true) as
  select w.worker,
         s.finished_at as last_success_at,
         now() - s.finished_at as last_success_age,
         floor(extract(epoch from now() - s.finished_at))::integer as last_success_age_seconds,
         r.started_at as last_run_started_at,
         r.finished_at as last_run_finished_at,
         r.status as last_run_status,
         r.error as last_run_error,
         (s.finished_at is null or now() - s.finished_at > interval '5 minutes') as stale
    from (values ('process-retries'::text)) as w (worker)
    left join lateral (
      select h.finished_at from public.worker_heartbeats h
       where h.worker = w.worker and h.status = 'succeeded'
       order by h.finished_at desc, h.id desc limit 1) s on true
    left join lateral (
      select h.started_at, h.finished_at, h.status, h.error from public.worker_heartbeats h
       where h.worker = w.worker
       order by h.started_at desc, h.id desc limit 1) r on true;
comment on view public.worker_health is
  'Per worker: age of the last successful run; stale when none finished in the last 5 minutes (cron runs every minute).';
revoke all on public.worker_health from anon, authenticated;

-- A run starts: returns its heartbeat id.
create function public.start_worker_heartbeat(
  p_worker text default 'process-retries',
  p_worker_id text default null
)
returns bigint
language sql
security definer
set search_path = ''
as $$
  insert into public.worker_heartbeats (worker, worker_id)
  values (coalesce(p_worker, 'process-retries'), p_worker_id)
  returning id
$$;

-- A run ends: its counts, and the error when it failed (status 'failed'; else 'succeeded').
-- Also drops this worker's rows older than 14 days. Raises when the heartbeat is unknown or
-- already finished.
create function public.finish_worker_heartbeat(
  p_heartbeat_id bigint,
  p_claimed integer default 0,
  p_sent integer default 0,
  p_deferred integer default 0,
  p_failed integer default 0,
  p_skipped integer default 0,
  p_error text default null
)
returns public.worker_heartbeats
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row public.worker_heartbeats;
begin
  update public.worker_heartbeats h
     set finished_at = now(),
         status = case when p_error is null then 'succeeded' else 'failed' end,
         claimed = coalesce(p_claimed, 0),
         sent = coalesce(p_sent, 0),
         deferred = coalesce(p_deferred, 0),
         failed = coalesce(p_failed, 0),
         skipped = coalesce(p_skipped, 0),
         error = p_error
   where h.id = p_heartbeat_id and h.status = 'running'
  returning h.* into v_row;
  if not found then
    raise exception 'heartbeat % is unknown or already finished', p_heartbeat_id
      using errcode = 'P0002';
  end if;
  delete from public.worker_heartbeats h
   where h.worker = v_row.worker and h.started_at < now() - interval '14 days';
  return v_row;
end
$$;

revoke execute on function public.start_worker_heartbeat(text, text),
  public.finish_worker_heartbeat(bigint, integer, integer, integer, integer, integer, text)
  from public, anon, authenticated;
grant execute on function public.start_worker_heartbeat(text, text),
  public.finish_worker_heartbeat(bigint, integer, integer, integer, integer, integer, text)
  to service_role;
