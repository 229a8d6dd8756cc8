-- SMS data layer, structure: tables, columns, indexes, policies, grants and who may execute what.
begin;
select plan(89);

-- Tables and the view ---------------------------------------------------------------------------
select has_table('public', 'sms_message_events', 'sms_message_events exists');
select has_table('public', 'sms_consent_events', 'sms_consent_events exists');
select has_table('public', 'sms_retry_queue', 'sms_retry_queue exists');
select has_table('public', 'sms_idempotency_keys', 'sms_idempotency_keys exists');
select has_table('public', 'worker_heartbeats', 'worker_heartbeats exists');
select has_view('public', 'worker_health', 'worker_health view exists');

select is(
  (select count(*)::int from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind = 'r' and not c.relrowsecurity),
  0, 'every public table has RLS enabled');

-- send_logs: two channels ----------------------------------------------------------------------
select col_type_is('public', 'send_logs', 'channel', 'text', 'send_logs.channel is text');
select col_not_null('public', 'send_logs', 'channel', 'send_logs.channel is not null');
select col_default_is('public', 'send_logs', 'channel', 'email', 'send_logs.channel defaults to email');
select col_type_is('public', 'send_logs', 'provider_message_id', 'jsonb',
  'send_logs.provider_message_id is jsonb');
select col_type_is('public', 'send_logs', 'customer_id', 'uuid', 'send_logs.customer_id is uuid');
select has_column('public', 'send_logs', 'contact_id', 'send_logs.contact_id is kept');
select fk_ok('public', 'send_logs', 'customer_id', 'public', 'customers', 'id',
  'send_logs.customer_id references customers');
select col_type_is('public', 'send_logs', 'to_phone', 'text', 'send_logs.to_phone is text');
select col_type_is('public', 'send_logs', 'segments', 'smallint', 'send_logs.segments');
select col_type_is('public', 'send_logs', 'encoding', 'text', 'send_logs.encoding');
select col_type_is('public', 'send_logs', 'error_code', 'integer', 'send_logs.error_code');
select col_type_is('public', 'send_logs', 'status_at', 'timestamp with time zone',
  'send_logs.status_at');
select has_index('public', 'send_logs', 'send_logs_twilio_sid_key',
  'send_logs has an index on the Twilio sid');
select index_is_unique('public', 'send_logs', 'send_logs_twilio_sid_key',
  'the Twilio sid index is unique');
select has_index('public', 'send_logs', 'send_logs_customer_id_idx', 'customer_id is indexed');

-- sms_message_events ----------------------------------------------------------------------------
select columns_are('public', 'sms_message_events', array[
  'id', 'business_id', 'send_log_id', 'message_sid', 'source', 'provider_status', 'status',
  'error_code', 'error_message', 'payload', 'occurred_at', 'received_at'],
  'sms_message_events columns');
select has_index('public', 'sms_message_events', 'sms_message_events_callback_key',
  'callbacks have an identity index');
select index_is_unique('public', 'sms_message_events', 'sms_message_events_callback_key',
  'the callback identity is unique');
select has_index('public', 'sms_message_events', 'sms_message_events_send_log_id_idx',
  'events: send_log_id indexed');
select has_index('public', 'sms_message_events', 'sms_message_events_business_id_idx',
  'events: business_id indexed');

-- sms_consent_events ----------------------------------------------------------------------------
select columns_are('public', 'sms_consent_events', array[
  'id', 'business_id', 'customer_id', 'from_status', 'to_status', 'source', 'message_sid',
  'keyword', 'acting_user_id', 'error_code', 'details', 'occurred_at', 'created_at'],
  'sms_consent_events columns');
select has_index('public', 'sms_consent_events', 'sms_consent_events_customer_id_idx',
  'consent events: customer_id indexed');
select has_index('public', 'sms_consent_events', 'sms_consent_events_business_id_idx',
  'consent events: business_id indexed');

-- sms_retry_queue -------------------------------------------------------------------------------
select columns_are('public', 'sms_retry_queue', array[
  'id', 'business_id', 'customer_id', 'send_log_id', 'body', 'reason', 'status', 'attempts',
  'max_attempts', 'scheduled_for', 'lease_expires_at', 'locked_by', 'locked_at', 'last_error',
  'last_error_code', 'outcome_uncertain', 'finished_at', 'created_at', 'updated_at'],
  'sms_retry_queue columns');
select has_index('public', 'sms_retry_queue', 'sms_retry_queue_due_idx', 'queue: due index');
select is(
  (select pg_get_expr(i.indpred, i.indrelid) from pg_index i
    where i.indexrelid = 'public.sms_retry_queue_due_idx'::regclass),
  '(status = ''pending''::text)', 'the due index is partial on pending rows');
select has_index('public', 'sms_retry_queue', 'sms_retry_queue_lease_idx', 'queue: lease index');
select is(
  (select pg_get_expr(i.indpred, i.indrelid) from pg_index i
    where i.indexrelid = 'public.sms_retry_queue_lease_idx'::regclass),
  '(status = ''processing''::text)', 'the lease index is partial on processing rows');
select has_index('public', 'sms_retry_queue', 'sms_retry_queue_business_id_idx',
  'queue: business_id indexed');
select has_index('public', 'sms_retry_queue', 'sms_retry_queue_customer_id_idx',
  'queue: customer_id indexed');
select has_index('public', 'sms_retry_queue', 'sms_retry_queue_send_log_id_key',
  'queue: send_log_id indexed (unique)');

-- sms_idempotency_keys, worker_heartbeats ------------------------------------------------------
select col_is_pk('public', 'sms_idempotency_keys', array['business_id', 'idempotency_key'],
  'idempotency keys are unique per business');
select has_index('public', 'sms_idempotency_keys', 'sms_idempotency_keys_send_log_id_idx',
  'idempotency: send_log_id indexed');
select columns_are('public', 'worker_heartbeats', array[
  'id', 'worker', 'worker_id', 'started_at', 'finished_at', 'status', 'claimed', 'sent',
  'deferred', 'failed', 'skipped', 'error'], 'worker_heartbeats columns');

-- Every foreign key of the new tables has an index whose leading column is the key -------------
select is_empty($$
  select c.conrelid::regclass::text || '.' || a.attname
    from pg_constraint c
    join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
   where c.contype = 'f' and array_length(c.conkey, 1) = 1
     and c.conrelid in ('public.send_logs'::regclass, 'public.sms_message_events'::regclass,
                        'public.sms_consent_events'::regclass, 'public.sms_retry_queue'::regclass,
                        'public.sms_idempotency_keys'::regclass)
     and not exists (select 1 from pg_index i
                      where i.indrelid = c.conrelid and i.indkey[0] = c.conkey[1])
$$, 'every foreign key is indexed');

-- Policies --------------------------------------------------------------------------------------
select policies_are('public', 'send_logs', array[
  'members read send logs', 'members add email send logs', 'members change email send logs'],
  'send_logs policies: members write email logs only');
select policies_are('public', 'sms_message_events', array['members read sms message events'],
  'sms_message_events: a read policy only');
select policies_are('public', 'sms_consent_events', array['members read sms consent events'],
  'sms_consent_events: a read policy only');
select policies_are('public', 'sms_retry_queue', array['members read sms retries'],
  'sms_retry_queue: a read policy only');
select policies_are('public', 'sms_idempotency_keys', array['members read sms idempotency keys'],
  'sms_idempotency_keys: a read policy only');
select policies_are('public', 'worker_heartbeats', array[]::name[],
  'worker_heartbeats: no policy (clients see nothing)');
select policy_cmd_is('public', 'sms_retry_queue', 'members read sms retries', 'select',
  'the queue policy is for select');
select policy_roles_are('public', 'sms_retry_queue', 'members read sms retries',
  array['authenticated'], 'the queue policy is for authenticated');

-- Table grants ----------------------------------------------------------------------------------
select table_privs_are('public', 'sms_message_events', 'anon', array[]::text[],
  'anon: nothing on sms_message_events');
select table_privs_are('public', 'sms_consent_events', 'anon', array[]::text[],
  'anon: nothing on sms_consent_events');
select table_privs_are('public', 'sms_retry_queue', 'anon', array[]::text[],
  'anon: nothing on sms_retry_queue');
select table_privs_are('public', 'sms_idempotency_keys', 'anon', array[]::text[],
  'anon: nothing on sms_idempotency_keys');
select table_privs_are('public', 'worker_heartbeats', 'anon', array[]::text[],
  'anon: nothing on worker_heartbeats');
select table_privs_are('public', 'worker_health', 'anon', array[]::text[],
  'anon: nothing on worker_health');
select table_privs_are('public', 'sms_message_events', 'authenticated', array['SELECT'],
  'authenticated: read-only on sms_message_events');
select table_privs_are('public', 'sms_consent_events', 'authenticated', array['SELECT'],
  'authenticated: read-only on sms_consent_events');
select table_privs_are('public', 'sms_retry_queue', 'authenticated', array['SELECT'],
  'authenticated: read-only on sms_retry_queue');
select table_privs_are('public', 'sms_idempotency_keys', 'authenticated', array['SELECT'],
  'authenticated: read-only on sms_idempotency_keys');
select table_privs_are('public', 'worker_heartbeats', 'authenticated', array[]::text[],
  'authenticated: nothing on worker_heartbeats');
select table_privs_are('public', 'worker_health', 'authenticated', array[]::text[],
  'authenticated: nothing on worker_health');
select table_privs_are('public', 'sms_message_events', 'service_role', array['SELECT'],
  'service_role: events are append-only through the RPCs');
select table_privs_are('public', 'sms_consent_events', 'service_role', array['SELECT'],
  'service_role: consent events are append-only through the RPCs');

select is_empty($$
  select c.oid::regclass::text || ' ' || r
    from pg_class c join pg_namespace n on n.oid = c.relnamespace,
         unnest(array['anon', 'authenticated']) r
   where n.nspname = 'public' and c.relkind = 'S'
     and c.relname in ('sms_message_events_id_seq', 'sms_consent_events_id_seq',
                       'worker_heartbeats_id_seq')
     and (has_sequence_privilege(r, c.oid, 'usage') or has_sequence_privilege(r, c.oid, 'update'))
$$, 'clients have no use of the new tables'' sequences');

-- Functions: security definer ones set search_path = '' and nobody but service_role runs them ----
select is_empty($$
  select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
   where n.nspname = 'public' and p.prosecdef
     and not coalesce('search_path=""' = any (p.proconfig), false)
$$, 'every security definer function in public sets search_path = ''''');
select is_empty($$
  select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
   where n.nspname = 'public' and p.prosecdef
     and (has_function_privilege('anon', p.oid, 'execute')
          or has_function_privilege('authenticated', p.oid, 'execute'))
$$, 'anon and authenticated cannot execute any security definer function in public');

select ok(has_function_privilege('service_role', p, 'execute'), 'service_role may execute ' || p)
  from unnest(array[
    'public.claim_due_sms_retries(integer, integer, text)',
    'public.complete_sms_retry(uuid, text)',
    'public.fail_sms_retry(uuid, text, text, timestamptz, integer, boolean, boolean)',
    'public.reschedule_sms_retry(uuid, text, timestamptz, text)',
    'public.cancel_sms_retry(uuid, text, text)',
    'public.enqueue_sms_retry(uuid, text, text, timestamptz, uuid, integer, text, uuid, integer, text, integer, boolean)',
    'public.advance_sms_status(uuid, text, timestamptz, integer, text)',
    'public.record_sms_status_event(text, text, integer, text, jsonb, timestamptz, text, uuid)',
    'public.create_sms_send_log(uuid, integer, text, uuid, text)',
    'public.record_sms_send_result(uuid, text, text, integer, integer, text, jsonb)',
    'public.apply_sms_consent_change(uuid, text, text, text, text, uuid, integer, jsonb, timestamptz)',
    'public.claim_sms_idempotency_key(uuid, text, text, uuid)',
    'public.complete_sms_idempotency_key(uuid, text, integer, jsonb, uuid)',
    'public.release_sms_idempotency_key(uuid, text)',
    'public.start_worker_heartbeat(text, text)',
    'public.finish_worker_heartbeat(bigint, integer, integer, integer, integer, integer, text)',
    'public.invoke_process_retries()'
  ]) as p;

select ok(not has_function_privilege('service_role', p, 'execute'),
          'internal helper is for the owner only: ' || p)
  from unnest(array[
    'public.sms_assert_member(uuid, uuid)',
    'public.sms_lock_sendable_customer(uuid, uuid)',
    'public.sms_defer_send_log(uuid)',
    'public.sms_end_send_log(uuid, text, text, integer)',
    'public.sms_cancel_pending_retries(uuid, text)'
  ]) as p;

select * from finish();
rollback;
