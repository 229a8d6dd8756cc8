-- The layout: what lives in public (what members read) and in sms (internals), columns, indexes,
-- policies, grants and who may execute what.
begin;
select plan(123);

-- Tables and the view ---------------------------------------------------------------------------
select has_schema('sms', 'the private schema sms exists');
select has_table('public', 'sms_message_events', 'sms_message_events exists');
select has_table('public', 'sms_consent_events', 'sms_consent_events exists');
select has_table('sms', 'retry_queue', 'retry_queue exists');
select has_table('sms', 'idempotency_keys', 'idempotency_keys exists');
select has_table('sms', 'worker_heartbeats', 'worker_heartbeats exists');
select has_view('sms', 'worker_health', 'worker_health view exists');

select is(
  (select count(*)::int from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname in ('public', 'sms') and c.relkind = 'r' and not c.relrowsecurity),
  0, 'every table in public and sms has RLS enabled');

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
select col_type_is('public', 'send_logs', 'status_checked_at', 'timestamp with time zone',
  'send_logs.status_checked_at');
select has_index('public', 'send_logs', 'send_logs_sms_awaiting_status_idx',
  'send_logs has a partial index on the logs awaiting a status callback');
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
  'id', 'business_id', 'customer_id', 'phone', 'from_status', 'to_status', 'source', 'method',
  'consent_language', 'source_url', 'ip_address', 'user_agent', 'message_sid', 'keyword',
  'acting_user_id', 'error_code', 'details', 'occurred_at', 'created_at'],
  'sms_consent_events columns');
select has_index('public', 'sms_consent_events', 'sms_consent_events_number_idx',
  'consent events: (business, number) indexed');
select is_empty($$
  select c.conname from pg_constraint c
   where c.conrelid = 'public.sms_consent_events'::regclass and c.contype = 'f'
$$, 'consent events have no foreign key: they outlive customers and businesses');
select has_index('public', 'sms_consent_events', 'sms_consent_events_customer_id_idx',
  'consent events: customer_id indexed');
select has_index('public', 'sms_consent_events', 'sms_consent_events_business_id_idx',
  'consent events: business_id indexed');

-- retry_queue -------------------------------------------------------------------------------
select columns_are('sms', 'retry_queue', array[
  'id', 'business_id', 'customer_id', 'send_log_id', 'body', 'reason', 'status', 'attempts',
  'max_attempts', 'scheduled_for', 'lease_expires_at', 'locked_by', 'locked_at', 'last_error',
  'last_error_code', 'outcome_uncertain', 'campaign_id', 'expires_at', 'finished_at',
  'created_at', 'updated_at'],
  'retry_queue columns');
select has_index('sms', 'retry_queue', 'retry_queue_due_idx', 'queue: due index');
select is(
  (select pg_get_expr(i.indpred, i.indrelid) from pg_index i
    where i.indexrelid = 'sms.retry_queue_due_idx'::regclass),
  '(status = ''pending''::text)', 'the due index is partial on pending rows');
select has_index('sms', 'retry_queue', 'retry_queue_lease_idx', 'queue: lease index');
select is(
  (select pg_get_expr(i.indpred, i.indrelid) from pg_index i
    where i.indexrelid = 'sms.retry_queue_lease_idx'::regclass),
  '(status = ''processing''::text)', 'the lease index is partial on processing rows');
select has_index('sms', 'retry_queue', 'retry_queue_business_id_idx',
  'queue: business_id indexed');
select has_index('sms', 'retry_queue', 'retry_queue_customer_id_idx',
  'queue: customer_id indexed');
select has_index('sms', 'retry_queue', 'retry_queue_send_log_id_key',
  'queue: send_log_id indexed (unique)');

-- idempotency_keys, worker_heartbeats ------------------------------------------------------
select col_is_pk('sms', 'idempotency_keys', array['business_id', 'idempotency_key'],
  'idempotency keys are unique per business');
select has_index('sms', 'idempotency_keys', 'idempotency_keys_send_log_id_idx',
  'idempotency: send_log_id indexed');
select columns_are('sms', 'worker_heartbeats', array[
  'id', 'worker', 'worker_id', 'started_at', 'finished_at', 'status', 'claimed', 'sent',
  'deferred', 'failed', 'skipped', 'error'], 'worker_heartbeats columns');

-- Every foreign key of the new tables has an index whose leading column is the key -------------
select is_empty($$
  select c.conrelid::regclass::text || '.' || a.attname
    from pg_constraint c
    join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
   where c.contype = 'f' and array_length(c.conkey, 1) = 1
     and c.conrelid in ('public.send_logs'::regclass, 'public.sms_message_events'::regclass,
                        'public.sms_consent_events'::regclass, 'sms.retry_queue'::regclass,
                        'sms.idempotency_keys'::regclass)
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
select policies_are('sms', 'retry_queue', array[]::name[],
  'retry_queue: no policy (internal: members see a deferred send log, not the queue)');
select policies_are('sms', 'idempotency_keys', array[]::name[],
  'idempotency_keys: no policy (internal to send-sms)');
select policies_are('sms', 'worker_heartbeats', array[]::name[],
  'worker_heartbeats: no policy (clients see nothing)');
select ok(not has_schema_privilege('anon', 'sms', 'usage'), 'anon cannot even look into sms');
select ok(has_schema_privilege('authenticated', 'sms', 'usage')
          and has_schema_privilege('service_role', 'sms', 'usage'),
  'authenticated (for sms.is_member in policies) and service_role use sms');

-- Table grants ----------------------------------------------------------------------------------
select table_privs_are('public', 'sms_message_events', 'anon', array[]::text[],
  'anon: nothing on sms_message_events');
select table_privs_are('public', 'sms_consent_events', 'anon', array[]::text[],
  'anon: nothing on sms_consent_events');
select table_privs_are('sms', 'retry_queue', 'anon', array[]::text[],
  'anon: nothing on retry_queue');
select table_privs_are('sms', 'idempotency_keys', 'anon', array[]::text[],
  'anon: nothing on idempotency_keys');
select table_privs_are('sms', 'worker_heartbeats', 'anon', array[]::text[],
  'anon: nothing on worker_heartbeats');
select table_privs_are('sms', 'worker_health', 'anon', array[]::text[],
  'anon: nothing on worker_health');
select table_privs_are('public', 'sms_message_events', 'authenticated', array['SELECT'],
  'authenticated: read-only on sms_message_events');
select table_privs_are('public', 'sms_consent_events', 'authenticated', array['SELECT'],
  'authenticated: read-only on sms_consent_events');
select table_privs_are('sms', 'retry_queue', 'authenticated', array[]::text[],
  'authenticated: nothing on retry_queue');
select table_privs_are('sms', 'idempotency_keys', 'authenticated', array[]::text[],
  'authenticated: nothing on idempotency_keys');
select table_privs_are('sms', 'worker_heartbeats', 'authenticated', array[]::text[],
  'authenticated: nothing on worker_heartbeats');
select table_privs_are('sms', 'worker_health', 'authenticated', array[]::text[],
  'authenticated: nothing on worker_health');
select table_privs_are('public', 'sms_message_events', 'service_role', array['SELECT'],
  'service_role: events are append-only through the RPCs');
select table_privs_are('public', 'sms_consent_events', 'service_role', array['SELECT'],
  'service_role: consent events are append-only through the RPCs');
select table_privs_are('sms', 'retry_queue', 'service_role', array['SELECT'],
  'service_role: reads the queue, writes it only through the RPCs');
select table_privs_are('sms', 'idempotency_keys', 'service_role', array['SELECT'],
  'service_role: reads idempotency keys, writes them only through the RPCs');
select is_empty($$
  select c.oid::regclass::text || ' ' || r
    from pg_class c join pg_namespace n on n.oid = c.relnamespace,
         unnest(array['anon', 'authenticated']) r
   where n.nspname = 'sms' and c.relkind in ('r', 'v', 'm', 'p', 'f')
     and (has_table_privilege(r, c.oid, 'select') or has_table_privilege(r, c.oid, 'insert')
          or has_table_privilege(r, c.oid, 'update') or has_table_privilege(r, c.oid, 'delete'))
$$, 'clients have no privilege on any relation in sms');

select is_empty($$
  select c.oid::regclass::text || ' ' || r
    from pg_class c join pg_namespace n on n.oid = c.relnamespace,
         unnest(array['anon', 'authenticated']) r
   where n.nspname in ('public', 'sms') and c.relkind = 'S'
     and c.relname in ('sms_message_events_id_seq', 'sms_consent_events_id_seq',
                       'sms_inbound_messages_id_seq', 'worker_heartbeats_id_seq')
     and (has_sequence_privilege(r, c.oid, 'usage') or has_sequence_privilege(r, c.oid, 'update'))
$$, 'clients have no use of the new tables'' sequences');

-- Functions: security definer ones set search_path = '' and nobody but service_role runs them ----
select is_empty($$
  select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
   where n.nspname in ('public', 'sms') and p.prosecdef
     and not coalesce('search_path=""' = any (p.proconfig), false)
$$, 'every security definer function in public and sms sets search_path = ''''');
select is_empty($$
  select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
   where n.nspname in ('public', 'sms') and p.prosecdef
     and (has_function_privilege('anon', p.oid, 'execute')
          or (has_function_privilege('authenticated', p.oid, 'execute')
              and p.oid not in ('sms.is_member(uuid, uuid, text[])'::regprocedure,
                                'public.export_sms_consent_history(uuid, text)'::regprocedure)))
$$, 'anon and authenticated cannot execute any security definer function but sms.is_member and the consent export');
select is_empty($$
  select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
   where n.nspname = 'public'
     and (has_function_privilege('anon', p.oid, 'execute')
          or (has_function_privilege('authenticated', p.oid, 'execute')
              and p.oid <> 'public.export_sms_consent_history(uuid, text)'::regprocedure))
     and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
$$, 'nothing in public is executable by anon, nor by authenticated but the consent export');
select ok(has_function_privilege('authenticated', 'public.export_sms_consent_history(uuid, text)',
                                 'execute')
          and not has_function_privilege('anon', 'public.export_sms_consent_history(uuid, text)',
                                         'execute'),
  'a signed-in member may export consent history; anon may not');
select ok(has_function_privilege('authenticated', 'sms.is_member(uuid, uuid, text[])', 'execute')
          and not has_function_privilege('anon', 'sms.is_member(uuid, uuid, text[])', 'execute'),
  'policies can call sms.is_member as the signed-in user');

select ok(has_function_privilege('service_role', p, 'execute'), 'service_role may execute ' || p)
  from unnest(array[
    'sms.claim_due_retries(integer, integer, text)',
    'sms.complete_retry(uuid, text)',
    'sms.fail_retry(uuid, text, text, timestamptz, integer, boolean, boolean)',
    'sms.reschedule_retry(uuid, text, timestamptz, text)',
    'sms.cancel_retry(uuid, text, text)',
    'sms.enqueue_retry(uuid, text, text, timestamptz, uuid, integer, text, uuid, integer, text, integer, boolean)',
    'sms.advance_status(uuid, text, timestamptz, integer, text)',
    'sms.record_status_event(text, text, integer, text, jsonb, timestamptz, text, uuid)',
    'sms.claim_status_lookups(integer, integer, integer, integer, integer)',
    'sms.record_status_lookup(uuid, text, integer, text, jsonb)',
    'sms.release_status_lookup(uuid)',
    'sms.create_send_log(uuid, integer, text, uuid, text, jsonb)',
    'sms.record_send_result(uuid, text, text, integer, integer, text, jsonb)',
    'sms.record_send_receipt(uuid, jsonb)',
    'sms.apply_consent_change(uuid, text, text, text, text, uuid, integer, jsonb, timestamptz)',
    'sms.record_opt_in(uuid, text, text, text, text, text, inet, text, uuid, uuid, timestamptz, jsonb)',
    'sms.prune_consent_events(timestamptz)',
    'sms.claim_idempotency_key(uuid, text, text, uuid)',
    'sms.complete_idempotency_key(uuid, text, integer, jsonb, uuid)',
    'sms.release_idempotency_key(uuid, text)',
    'sms.release_send_guard(uuid)',
    'sms.finish_send(uuid, text, text, integer, uuid, text, integer, jsonb)',
    'sms.start_worker_heartbeat(text, text)',
    'sms.finish_worker_heartbeat(bigint, integer, integer, integer, integer, integer, text)',
    'sms.invoke_process_retries()',
    'sms.reserve_send_slot(text, integer, numeric, integer, integer, text, integer)',
    'sms.retry_send_context(uuid, text, integer, timestamptz)',
    'sms.start_retry_send(uuid, text, integer, timestamptz, text, jsonb)',
    'sms.finish_retry_send(uuid, text, text, text, integer)',
    'sms.reserve_quota(uuid, integer, integer)',
    'sms.send_context(uuid, uuid, timestamptz)',
    'sms.start_send(uuid, uuid, text, timestamptz, integer, text, integer, text, text, timestamptz, integer, jsonb)',
    'sms.apply_provider_error(uuid, integer, text, text, text)',
    'sms.record_inbound_message(text, text, text, text, text, text, integer, jsonb, timestamptz)',
    'sms.record_inbound_answer(text, text, text, boolean, boolean, boolean, interval, timestamptz)'
  ]) as p;

select ok(not has_function_privilege('service_role', p, 'execute'),
          'internal helper is for the owner only: ' || p)
  from unnest(array[
    'sms.lock_sendable_customer(uuid, uuid)',
    'sms.defer_send_log(uuid)',
    'sms.end_send_log(uuid, text, text, integer)',
    'sms.cancel_pending_retries(uuid, text, uuid, text)',
    'sms.recent_sends(uuid, text, timestamptz, uuid)',
    'sms.lock_number_send(uuid, text, uuid)',
    'sms.number_consent(uuid, text)',
    'sms.apply_number_consent(uuid, text, uuid, text, text, text, timestamptz, text, text, uuid, integer, jsonb, text, text, text, inet, text, boolean)',
    'sms.send_fingerprint(text, text, text, timestamptz[])'
  ]) as p;

-- The campaigns function stages its id list in a temporary table as service_role; the hosted
-- image leaves PostgreSQL's default TEMPORARY grant to PUBLIC in place (docs/decisions.md).
select ok(has_database_privilege('service_role', current_database(), 'TEMPORARY'),
          'service_role may create temporary tables, as on the hosted image');

select * from finish();
rollback;
