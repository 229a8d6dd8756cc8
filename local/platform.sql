-- Local stand-in for what a Supabase project provides before any migration runs.
-- Applied by the local stack only, as the cluster's bootstrap superuser `supabase_admin` (the
-- platform's own role); never part of supabase/migrations. Idempotent: runs on every start.
--
-- The role layout and grants follow supabase/postgres's own migrations (paths below are in that
-- repository; docs/decisions.md has the full list and what is deliberately left out):
--   migrations/db/init-scripts/00000000000000-initial-schema.sql  roles, public defaults
--   migrations/db/init-scripts/00000000000001-auth-schema.sql     auth schema, supabase_auth_admin
--   migrations/db/init-scripts/00000000000003-post-setup.sql      dashboard_user, search_path
--   migrations/db/migrations/10000000000000_demote-postgres.sql   postgres is not a superuser
--   migrations/db/migrations/20211115181400_update-auth-permissions.sql
--   migrations/db/migrations/20230201083204_grant_auth_roles_to_postgres.sql
--   migrations/db/migrations/20230224042246_grant_extensions_perms_for_postgres.sql
--   migrations/db/migrations/20230306081037_grant_pg_monitor_to_postgres.sql
--   migrations/db/migrations/20230529180330_alter_api_roles_for_inherit.sql
--   migrations/db/migrations/20240606060239_grant_predefined_roles_to_postgres.sql
--   migrations/db/migrations/20250421084701_revoke_admin_roles_from_postgres.sql
--   migrations/db/migrations/20260730000000_revoke_trigger_on_cron_tables_from_postgres.sql
--   ansible/files/postgresql_config/supautils.conf.j2             privileged extensions, settings
--   ansible/files/postgresql_extension_custom_scripts/pg_cron/after-create.sql
--   ansible/files/postgresql_extension_custom_scripts/supabase_vault/after-create.sql

do $$
begin
  if current_setting('is_superuser') <> 'on' then
    raise exception 'local/platform.sql must run as the platform''s superuser (supabase_admin), not as %',
      current_user;
  end if;
end
$$;

-- Roles ----------------------------------------------------------------------------------------------
do $$
declare
  r record;
begin
  for r in
    select * from (values
      -- name, attributes
      ('postgres', 'login nosuperuser createdb createrole replication bypassrls'),
      ('authenticator', 'login noinherit nosuperuser'),
      ('anon', 'nologin inherit'),
      ('authenticated', 'nologin inherit'),
      ('service_role', 'nologin inherit bypassrls'),
      ('supabase_auth_admin', 'login noinherit nocreaterole noreplication'),
      ('supabase_storage_admin', 'login noinherit createrole noreplication'),
      ('supabase_functions_admin', 'login noinherit createrole noreplication'),
      ('supabase_replication_admin', 'login replication'),
      ('supabase_read_only_user', 'login bypassrls'),
      ('dashboard_user', 'nologin nosuperuser createdb createrole replication'),
      ('pgbouncer', 'login'),
      ('supabase_superuser', 'nologin')
    ) as t(name, attrs)
  loop
    if not exists (select from pg_catalog.pg_roles where rolname = r.name) then
      execute format('create role %I %s', r.name, r.attrs);
    else
      execute format('alter role %I %s', r.name, r.attrs);
    end if;
  end loop;
end
$$;
-- The stack's users log in with password `postgres` (the Supabase CLI's local default).
alter role postgres password 'postgres';
alter role authenticator password 'postgres';
alter role supabase_admin password 'postgres';

grant anon, authenticated, service_role to authenticator;
grant anon, authenticated, service_role to postgres;
grant pg_monitor, pg_read_all_data, pg_signal_backend to postgres;
grant supabase_superuser to postgres;
grant pg_read_all_data to supabase_read_only_user;
-- Hosted Supabase no longer lets postgres act as the auth or storage admin.
do $$
begin
  if pg_catalog.pg_has_role('postgres', 'supabase_auth_admin', 'member')
     or pg_catalog.pg_has_role('postgres', 'supabase_storage_admin', 'member') then
    revoke supabase_auth_admin, supabase_storage_admin from postgres;
  end if;
end
$$;

alter role postgres set search_path = "$user", public, extensions;
alter role supabase_admin set search_path = "$user", public, auth, extensions;
alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';

-- Settings supautils lets postgres change although they are superuser-only in Postgres
-- (supautils.privileged_role_allowed_configs); PG 15's SET privilege does the same here.
grant set on parameter session_replication_role, log_lock_waits, log_min_messages,
  track_io_timing to postgres;

-- The database: owned by postgres, as hosted (migrate.sh: alter database postgres owner to postgres).
do $$
begin
  execute format('alter database %I owner to postgres', current_database());
  execute format('grant all on database %I to postgres, dashboard_user', current_database());
  execute format('alter database %I set search_path = "$user", public, extensions',
    current_database());
end
$$;

-- public: what postgres or the platform creates there is granted to the API roles; RLS decides.
grant usage on schema public to postgres, anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on functions to postgres, anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on sequences to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public
  grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public
  grant all on functions to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public
  grant all on sequences to postgres, anon, authenticated, service_role;

-- extensions: created by supabase_admin (supautils.privileged_extensions_superuser), usable by all.
create schema if not exists extensions authorization supabase_admin;
create extension if not exists "uuid-ossp" with schema extensions;
create extension if not exists pgcrypto with schema extensions;
create extension if not exists pgtap with schema extensions;
-- `supabase db lint` creates plpgsql_check as postgres; hosted allows that through supautils
-- (a privileged extension, created as supabase_admin). Without supautils it exists beforehand.
create extension if not exists plpgsql_check with schema extensions;
grant usage on schema extensions to postgres, anon, authenticated, service_role;
grant all on schema extensions to postgres, dashboard_user;
grant all privileges on all tables in schema extensions to postgres with grant option;
grant all privileges on all routines in schema extensions to postgres with grant option;
grant all privileges on all sequences in schema extensions to postgres with grant option;
alter default privileges for role supabase_admin in schema extensions
  grant all on tables to postgres with grant option;
alter default privileges for role supabase_admin in schema extensions
  grant all on routines to postgres with grant option;
alter default privileges for role supabase_admin in schema extensions
  grant all on sequences to postgres with grant option;

-- pg_cron: on hosted, `create extension pg_cron` by postgres runs as supabase_admin through
-- supautils, in schema pg_catalog, then the after-create script grants postgres its share. Here it
-- exists before the migrations, so their `create extension if not exists pg_cron` is a no-op.
-- pg_cron can only live in the database `cron.database_name` names (scratch databases made by
-- tests have none, as on a hosted project's other databases).
do $$
begin
  if current_database() <> coalesce(current_setting('cron.database_name', true), 'postgres') then
    return;
  end if;
  create extension if not exists pg_cron with schema pg_catalog;
  grant usage on schema cron to postgres with grant option;
  grant all on all functions in schema cron to postgres with grant option;
  alter default privileges for role supabase_admin in schema cron
    grant all on sequences to postgres with grant option;
  alter default privileges for role supabase_admin in schema cron
    grant all on tables to postgres with grant option;
  alter default privileges for role supabase_admin in schema cron
    grant all on functions to postgres with grant option;
  grant all privileges on all tables in schema cron to postgres with grant option;
  revoke all on table cron.job from postgres;
  grant select on table cron.job to postgres with grant option;
  revoke trigger on cron.job_run_details from postgres;
end
$$;

-- auth: the parts of GoTrue's schema that application SQL touches ---------------------------------
create schema if not exists auth authorization supabase_admin;
grant usage on schema auth to anon, authenticated, service_role, postgres;
grant all on schema auth to supabase_auth_admin, dashboard_user;

create table if not exists auth.users (
  instance_id uuid,
  id uuid primary key,
  aud varchar(255) default 'authenticated',
  role varchar(255) default 'authenticated',
  email varchar(255) unique,
  encrypted_password varchar(255),
  email_confirmed_at timestamptz,
  phone text unique,
  raw_app_meta_data jsonb default '{}'::jsonb,
  raw_user_meta_data jsonb default '{}'::jsonb,
  is_super_admin boolean,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  last_sign_in_at timestamptz,
  is_anonymous boolean not null default false
);
alter table auth.users owner to supabase_auth_admin;
grant select on auth.users to service_role;

create or replace function auth.uid() returns uuid
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;

create or replace function auth.role() returns text
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;

create or replace function auth.jwt() returns jsonb
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;

alter function auth.uid() owner to supabase_auth_admin;
alter function auth.role() owner to supabase_auth_admin;
alter function auth.jwt() owner to supabase_auth_admin;
grant execute on function auth.uid(), auth.role(), auth.jwt() to anon, authenticated, service_role;

-- postgres may read and write auth's tables and call its functions, but not create objects there.
grant all on all tables in schema auth to postgres, dashboard_user;
grant all on all sequences in schema auth to postgres, dashboard_user;
grant all on all routines in schema auth to postgres, dashboard_user;
alter default privileges for role supabase_auth_admin in schema auth
  grant all on tables to postgres, dashboard_user;
alter default privileges for role supabase_auth_admin in schema auth
  grant all on sequences to postgres, dashboard_user;
alter default privileges for role supabase_auth_admin in schema auth
  grant all on routines to postgres, dashboard_user;
revoke create on schema auth from postgres;

-- vault: supabase_vault's interface and grants. Not encrypted here: `secret` holds base64 of the
-- plain text and the "decrypt" function decodes it; what matches the real extension is the shape
-- and the privilege path (the view calls a function its reader must be allowed to execute).
create schema if not exists vault authorization supabase_admin;

create or replace function vault._crypto_aead_det_noncegen() returns bytea
language sql volatile
set search_path = ''
as $$ select pg_catalog.uuid_send(pg_catalog.gen_random_uuid()) $$;

create or replace function vault._crypto_aead_det_encrypt(
  message bytea, additional bytea, key_id bigint, context bytea = 'pgsodium', nonce bytea = null
) returns bytea
language sql immutable
set search_path = ''
as $$ select message $$;

create or replace function vault._crypto_aead_det_decrypt(
  message bytea, additional bytea, key_id bigint, context bytea = 'pgsodium', nonce bytea = null
) returns bytea
language sql immutable
set search_path = ''
as $$ select message $$;

create table if not exists vault.secrets (
  id uuid primary key default pg_catalog.gen_random_uuid(),
  name text,
  description text not null default '',
  secret text not null,
  key_id uuid,
  nonce bytea default vault._crypto_aead_det_noncegen(),
  created_at timestamptz not null default current_timestamp,
  updated_at timestamptz not null default current_timestamp
);
create unique index if not exists secrets_name_idx on vault.secrets (name) where name is not null;

create or replace view vault.decrypted_secrets as
  select s.id, s.name, s.description, s.secret,
         pg_catalog.convert_from(
           vault._crypto_aead_det_decrypt(
             pg_catalog.decode(s.secret, 'base64'),
             pg_catalog.convert_to(s.id::text, 'utf8'),
             0, 'pgsodium'::bytea, s.nonce),
           'utf8') as decrypted_secret,
         s.key_id, s.nonce, s.created_at, s.updated_at
    from vault.secrets s;

create or replace function vault.create_secret(
  new_secret text,
  new_name text default null,
  new_description text default '',
  new_key_id uuid default null
) returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_id uuid := pg_catalog.gen_random_uuid();
  v_nonce bytea := vault._crypto_aead_det_noncegen();
begin
  insert into vault.secrets (id, secret, name, description, nonce)
  values (
    v_id,
    pg_catalog.encode(vault._crypto_aead_det_encrypt(
      pg_catalog.convert_to(new_secret, 'utf8'), pg_catalog.convert_to(v_id::text, 'utf8'),
      0, 'pgsodium'::bytea, v_nonce), 'base64'),
    new_name,
    new_description,
    v_nonce
  );
  return v_id;
end
$$;

create or replace function vault.update_secret(
  secret_id uuid,
  new_secret text default null,
  new_name text default null,
  new_description text default null,
  new_key_id uuid default null
) returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  update vault.secrets s set
    secret = case when new_secret is null then s.secret
                  else pg_catalog.encode(vault._crypto_aead_det_encrypt(
                    pg_catalog.convert_to(new_secret, 'utf8'),
                    pg_catalog.convert_to(s.id::text, 'utf8'), 0, 'pgsodium'::bytea, s.nonce),
                    'base64') end,
    name = coalesce(new_name, s.name),
    description = coalesce(new_description, s.description),
    updated_at = now()
  where s.id = secret_id;
end
$$;

revoke all on schema vault from public;
revoke all on all tables in schema vault from public, anon, authenticated, service_role, postgres;
revoke all on function vault._crypto_aead_det_encrypt(bytea, bytea, bigint, bytea, bytea),
  vault._crypto_aead_det_decrypt(bytea, bytea, bigint, bytea, bytea),
  vault._crypto_aead_det_noncegen(),
  vault.create_secret(text, text, text, uuid),
  vault.update_secret(uuid, text, text, text, uuid)
  from public;
-- Hosted grants (supabase_vault/after-create.sql): postgres with grant option, service_role without.
grant usage on schema vault to postgres with grant option;
grant select, delete on vault.secrets, vault.decrypted_secrets to postgres with grant option;
grant execute on function vault.create_secret(text, text, text, uuid),
  vault.update_secret(uuid, text, text, text, uuid),
  vault._crypto_aead_det_decrypt(bytea, bytea, bigint, bytea, bytea)
  to postgres with grant option;
grant usage on schema vault to service_role;
grant select, delete on vault.secrets, vault.decrypted_secrets to service_role;
grant execute on function vault.create_secret(text, text, text, uuid),
  vault.update_secret(uuid, text, text, text, uuid),
  vault._crypto_aead_det_decrypt(bytea, bytea, bigint, bytea, bytea)
  to service_role;

-- net: pg_net's interface (sql/pg_net.sql in supabase/pg_net). Requests are queued here and sent
-- after commit by the stack's worker (local/net-worker.ts), as pg_net's background worker does.
create schema if not exists net authorization supabase_admin;

do $$
begin
  if to_regtype('net.http_method') is null then
    create domain net.http_method as text
      check (value ilike 'get' or value ilike 'post' or value ilike 'delete');
  end if;
end
$$;

create unlogged table if not exists net.http_request_queue (
  id bigserial,
  method net.http_method not null,
  url text not null,
  headers jsonb,
  body bytea,
  timeout_milliseconds integer not null
);
create unlogged table if not exists net._http_response (
  id bigint,
  status_code integer,
  content_type text,
  headers jsonb,
  content text,
  timed_out boolean,
  error_msg text,
  created timestamptz not null default now()
);
create index if not exists _http_response_created_idx on net._http_response (created);

-- pg_net wakes its worker; here the worker listens on this channel. Delivered only on commit.
create or replace function net.wake() returns void
language sql
set search_path = ''
as $$ select pg_catalog.pg_notify('net_http_request', '') $$;

-- What pg_net's C helpers do with libcurl (curl_easy_escape, then curl_url with APPENDQUERY):
-- percent-encode all but unreserved characters; refuse what curl's URL parser refuses (no scheme,
-- no host, blanks); lower-case the scheme, give an empty path "/", append params before the
-- fragment with lower-case escapes. curl's "../" resolution is not reproduced.
create or replace function net._urlencode_string(string varchar) returns text
language sql immutable
set search_path = ''
as $$
  select coalesce(pg_catalog.string_agg(
    case when b.byte between 48 and 57 or b.byte between 65 and 90 or b.byte between 97 and 122
              or b.byte in (45, 46, 95, 126)
         then pg_catalog.chr(b.byte)
         else '%' || pg_catalog.upper(pg_catalog.lpad(pg_catalog.to_hex(b.byte), 2, '0')) end,
    '' order by b.i), '')
  from (select i, pg_catalog.get_byte(pg_catalog.convert_to(string, 'UTF8'), i) as byte
          from pg_catalog.generate_series(0, pg_catalog.octet_length(string) - 1) as i) as b
$$;

create or replace function net._encode_url_with_params_array(url text, params_array text[])
returns text
language plpgsql immutable
set search_path = ''
as $$
declare
  v_parts text[];
  v_scheme text;
  v_path text;
  v_query text;
  v_added text;
begin
  if url is null or params_array is null then
    return null;
  end if;
  -- scheme :// authority path ?query #fragment
  v_parts := pg_catalog.regexp_match(url, '^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$');
  if v_parts is null then
    if url ~ '^[A-Za-z][A-Za-z0-9+.-]*:' then
      raise exception 'invalid URL "%": Unsupported URL scheme', url;
    end if;
    raise exception 'invalid URL "%": Bad scheme', url;
  end if;
  v_scheme := pg_catalog.lower(v_parts[1]);
  if v_scheme not in ('http', 'https', 'ftp', 'ftps', 'ws', 'wss') then
    raise exception 'invalid URL "%": Unsupported URL scheme', url;
  end if;
  if v_parts[2] = '' or v_parts[2] ~ '^[^@]*@$' then
    raise exception 'invalid URL "%": No host part in the URL', url;
  end if;
  if url ~ '[[:space:][:cntrl:]]' then
    raise exception 'invalid URL "%": Bad path', url;
  end if;
  v_path := case when v_parts[3] = '' then '/' else v_parts[3] end;
  v_query := pg_catalog.ltrim(coalesce(v_parts[4], ''), '?');
  select pg_catalog.string_agg(p, '&') into v_added
    from pg_catalog.unnest(params_array) as p
   where p is not null;
  -- curl writes the escapes of what it appends in lower case
  select pg_catalog.string_agg(
           case when x.n = 1 then x.t
                when x.t ~ '^[0-9A-Fa-f]{2}'
                  then '%' || pg_catalog.lower(pg_catalog.left(x.t, 2)) || pg_catalog.substr(x.t, 3)
                else '%' || x.t end, '' order by x.n)
    into v_added
    from pg_catalog.regexp_split_to_table(v_added, '%') with ordinality as x(t, n);
  if coalesce(v_added, '') <> '' then
    v_query := case when v_query = '' then v_added else v_query || '&' || v_added end;
  end if;
  return v_scheme || '://' || v_parts[2] || v_path
         || case when v_query = '' then '' else '?' || v_query end
         || coalesce(v_parts[5], '');
end
$$;

-- What the three request functions share (the stand-in's own helper): the params appended to the
-- URL as curl does, the request queued, the worker woken after commit.
create or replace function net._enqueue(
  p_method text,
  p_url text,
  p_params jsonb,
  p_headers jsonb,
  p_body bytea,
  p_timeout_milliseconds integer
) returns bigint
language plpgsql
set search_path = ''
as $$
declare
  v_params text[];
  v_id bigint;
begin
  select coalesce(pg_catalog.array_agg(net._urlencode_string(p.key) || '='
                                       || net._urlencode_string(p.value)), '{}')
    into v_params
    from pg_catalog.jsonb_each_text(p_params) as p;
  insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
  values (p_method, net._encode_url_with_params_array(p_url, v_params), p_headers, p_body,
          p_timeout_milliseconds)
  returning id into v_id;
  perform net.wake();
  return v_id;
end
$$;

create or replace function net.http_get(
  url text,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{}'::jsonb,
  timeout_milliseconds integer default 5000
) returns bigint
language sql
set search_path = ''
as $$
  select net._enqueue('GET', url, params, headers, null, timeout_milliseconds)
$$;

create or replace function net.http_post(
  url text,
  body jsonb default '{}'::jsonb,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{"Content-Type": "application/json"}'::jsonb,
  timeout_milliseconds integer default 5000
) returns bigint
language plpgsql
set search_path = ''
as $$
declare
  v_content_type text;
begin
  -- pg_net: a missing Content-Type becomes application/json; any other value is refused.
  select h.value into v_content_type
    from pg_catalog.jsonb_each_text(coalesce(headers, '{}'::jsonb)) as h
   where pg_catalog.lower(h.key) = 'content-type'
   limit 1;
  if v_content_type is null then
    headers := headers || '{"Content-Type": "application/json"}'::jsonb;
  elsif v_content_type <> 'application/json' then
    raise exception 'Content-Type header must be "application/json"';
  end if;
  return net._enqueue('POST', url, params, headers, pg_catalog.convert_to(body::text, 'UTF8'),
                      timeout_milliseconds);
end
$$;

create or replace function net.http_delete(
  url text,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{}'::jsonb,
  timeout_milliseconds integer default 5000,
  body jsonb default null
) returns bigint
language sql
set search_path = ''
as $$
  select net._enqueue('DELETE', url, params, headers, pg_catalog.convert_to(body::text, 'UTF8'),
                      timeout_milliseconds)
$$;

-- pg_net's grants (0.12 and later: invoker's rights, open to PUBLIC), plus hosted's event trigger
-- (extensions.grant_pg_net_access: usage on net for the API roles and postgres).
grant usage on schema net to public;
grant all on all sequences in schema net to public;
grant all on all tables in schema net to public;
grant usage on schema net to supabase_functions_admin, postgres, anon, authenticated, service_role;
