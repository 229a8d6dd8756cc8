-- Campaigns: one template sent to many customers of a business, each recipient checked and timed
-- on their own, queued in one set-based statement and drained by process-retries with the single
-- sends, fairly (sms.fair_due_retries), at the sender's pace.
--
-- The `campaigns` Edge Function does the part that needs the compliance rules in TypeScript once
-- per group of recipients who share a zone, a state and an area code (a few hundred groups for
-- 100,000 customers): their release instant inside the legal window, their country, their
-- frequency cap. Everything per recipient happens here, set-based: consent, phone, the cap's
-- count, rendering, measuring, and, on create, the send logs ('deferred', with campaign_id) and
-- their retry rows (reason 'campaign', expires_at the campaign's expiry), in one transaction.
-- What a recipient cannot get is recorded in sms_campaign_skips with the reason.
--
-- A queued campaign message is a retry row like any other: process-retries re-checks consent,
-- opt-out, phone, country and the window at send time (consent can change after enqueue), and an
-- opt-out cancels it (consent migration). Pause moves the campaign's pending rows to 'paused'
-- (the claim never sees them), resume moves them back; cancel ends them and their logs at once.

-- =================================================================================================
-- The business's disclosure settings (CTIA: identify the program, say how to opt out)
-- =================================================================================================

alter table public.businesses
  -- The name a campaign message starts with when it must identify the sender (null: the
  -- business's name).
  add column sms_campaign_brand text
    constraint businesses_sms_campaign_brand_check
      check (char_length(sms_campaign_brand) between 1 and 60),
  -- When a campaign message carries the identification and "Reply STOP to opt out.": only on the
  -- first message the business sends to a number (CTIA's minimum), or on every one.
  add column sms_campaign_disclosure text not null default 'first_message'
    constraint businesses_sms_campaign_disclosure_check
      check (sms_campaign_disclosure in ('first_message', 'every_message'));
comment on column public.businesses.sms_campaign_brand is
  'Campaigns: the sender''s name a message starts with when it must identify it (null: name)';
comment on column public.businesses.sms_campaign_disclosure is
  'Campaigns: identification and opt-out text on the first message to a number, or on every one';

-- =================================================================================================
-- Campaigns and their skipped recipients
-- =================================================================================================

create table public.sms_campaigns (
  id uuid primary key default gen_random_uuid(),
  business_id uuid not null references public.businesses (id) on delete cascade,
  name text not null check (char_length(name) between 1 and 200),
  template text not null check (char_length(template) between 1 and 1600),
  status text not null default 'scheduled'
    check (status in ('scheduled', 'running', 'paused', 'cancelled', 'done')),
  -- The schedule as requested ({"kind": "now" | "at" | "local", …}).
  schedule jsonb not null check (jsonb_typeof(schedule) = 'object'),
  -- The first and last release instants of its recipients; nothing is sent after expires_at.
  starts_at timestamptz not null,
  ends_at timestamptz not null,
  expires_at timestamptz not null,
  recipients integer not null default 0 check (recipients >= 0),
  skipped integer not null default 0 check (skipped >= 0),
  segments integer not null default 0 check (segments >= 0),
  estimated_cost numeric(14, 4),
  currency text check (currency ~ '^[A-Z]{3}$'),
  -- An opt-out within this many hours of a campaign message to the number is attributed to it.
  attribution_hours integer not null default 72 check (attribution_hours between 1 and 720),
  created_by uuid references auth.users (id) on delete set null,
  idempotency_key text check (char_length(idempotency_key) between 1 and 200),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  paused_at timestamptz,
  cancelled_at timestamptz,
  finished_at timestamptz,
  constraint sms_campaigns_idempotency_key unique (business_id, idempotency_key),
  constraint sms_campaigns_window_check check (starts_at <= ends_at and ends_at <= expires_at),
  constraint sms_campaigns_finished_check
    check ((status in ('cancelled', 'done')) = (finished_at is not null))
);
comment on table public.sms_campaigns is
  'SMS campaigns: written by the campaigns function (sms.create_campaign, sms.control_campaign); '
  'members read them.';
create index sms_campaigns_business_id_idx on public.sms_campaigns (business_id, created_at desc);
create index sms_campaigns_created_by_idx on public.sms_campaigns (created_by);
-- The campaigns still draining, for sms.finish_campaigns.
create index sms_campaigns_open_idx on public.sms_campaigns (starts_at)
  where status in ('scheduled', 'running');

create table public.sms_campaign_skips (
  id bigint generated always as identity primary key,
  campaign_id uuid not null references public.sms_campaigns (id) on delete cascade,
  business_id uuid not null references public.businesses (id) on delete cascade,
  customer_id uuid references public.customers (id) on delete set null,
  reason text not null
    check (reason in ('no_consent', 'opted_out', 'invalid_phone', 'country_not_permitted',
                      'frequency_cap', 'too_long', 'no_window_before_expiry')),
  created_at timestamptz not null default now()
);
comment on table public.sms_campaign_skips is
  'The customers a campaign did not queue, and why; written with the campaign.';
create index sms_campaign_skips_campaign_id_idx on public.sms_campaign_skips (campaign_id, reason);
create index sms_campaign_skips_business_id_idx on public.sms_campaign_skips (business_id);
create index sms_campaign_skips_customer_id_idx on public.sms_campaign_skips (customer_id);

alter table public.send_logs
  add column campaign_id uuid references public.sms_campaigns (id) on delete set null;
comment on column public.send_logs.campaign_id is 'SMS: the campaign this message belongs to';
create index send_logs_campaign_id_idx on public.send_logs (campaign_id, status)
  where campaign_id is not null;
-- The campaign messages Twilio has billed and whose price is not stored yet
-- (sms.claim_price_lookups): small however many priced logs accumulate.
create index send_logs_campaign_unpriced_idx on public.send_logs (sent_at, id)
  where campaign_id is not null and price is null
    and status in ('sent', 'delivered', 'undelivered', 'read')
    and (provider_message_id ->> 'twilio_sid') is not null;

alter table sms.retry_queue
  add constraint retry_queue_campaign_id_fkey
    foreign key (campaign_id) references public.sms_campaigns (id) on delete cascade;

alter table public.sms_campaigns enable row level security;
alter table public.sms_campaign_skips enable row level security;
revoke all on public.sms_campaigns, public.sms_campaign_skips from anon;

create policy "members read campaigns" on public.sms_campaigns
  for select to authenticated
  using (sms.is_member(business_id, (select auth.uid())));
create policy "members read campaign skips" on public.sms_campaign_skips
  for select to authenticated
  using (sms.is_member(business_id, (select auth.uid())));

-- =================================================================================================
-- Progress and results, under the reader's RLS
-- =================================================================================================

-- Counts by status as the drain goes, and the segments billed so far.
create view public.sms_campaign_progress with (security_invoker = true) as
  select c.id as campaign_id, c.business_id, c.status, c.recipients, c.skipped,
         count(l.id) filter (where l.status = 'deferred')::integer as queued,
         count(l.id) filter (where l.status in ('queued', 'sending'))::integer as sending,
         count(l.id) filter (where l.status = 'sent')::integer as sent,
         count(l.id) filter (where l.status in ('delivered', 'read'))::integer as delivered,
         count(l.id) filter (where l.status = 'undelivered')::integer as undelivered,
         count(l.id) filter (where l.status = 'failed')::integer as failed,
         count(l.id) filter (where l.status = 'canceled')::integer as canceled,
         coalesce(sum(l.segments) filter (
           where l.status in ('sent', 'delivered', 'undelivered', 'read')), 0)::integer
           as segments_billed,
         c.estimated_cost, c.currency,
         -- What Twilio reported so far: messages it has priced, and the sum of their prices. An
         -- account bills in one currency; were two ever mixed, no sum is made of them.
         count(l.price)::integer as priced,
         case when count(distinct l.price_unit) <= 1 then coalesce(sum(l.price), 0) end
           as actual_cost,
         case when count(distinct l.price_unit) <= 1
              then coalesce(min(l.price_unit), c.currency) end as actual_currency
    from public.sms_campaigns c
    left join public.send_logs l on l.campaign_id = c.id
   group by c.id;
comment on view public.sms_campaign_progress is
  'Per campaign: its messages by status, the segments billed so far, the estimate, and the actual '
  'cost of the messages Twilio has priced (reader''s RLS).';

-- Undelivered and failed messages by Twilio error code.
create view public.sms_campaign_errors with (security_invoker = true) as
  select l.campaign_id, l.business_id, l.status, l.error_code, count(*)::integer as messages
    from public.send_logs l
   where l.campaign_id is not null and l.status in ('undelivered', 'failed')
   group by l.campaign_id, l.business_id, l.status, l.error_code;
comment on view public.sms_campaign_errors is
  'Per campaign: undelivered and failed messages by error code (reader''s RLS).';

-- Opt-outs that followed a campaign message to the number within the campaign's attribution
-- window (an opt-out after two campaigns' messages counts for each).
create view public.sms_campaign_opt_outs with (security_invoker = true) as
  select c.id as campaign_id, c.business_id, count(distinct e.id)::integer as opt_outs
    from public.sms_campaigns c
    join public.send_logs l on l.campaign_id = c.id and l.sent_at is not null
    join public.sms_consent_events e
      on e.business_id = c.business_id and e.phone = l.to_phone and e.to_status = 'opted_out'
     and e.occurred_at >= l.sent_at
     and e.occurred_at < l.sent_at + make_interval(hours => c.attribution_hours)
   group by c.id, c.business_id;
comment on view public.sms_campaign_opt_outs is
  'Per campaign: opt-outs within attribution_hours after one of its messages (reader''s RLS).';

-- Read-only for everyone (the default privileges grant every right on a new relation in public).
revoke all on public.sms_campaign_progress, public.sms_campaign_errors,
  public.sms_campaign_opt_outs from anon, authenticated, service_role;
grant select on public.sms_campaign_progress, public.sms_campaign_errors,
  public.sms_campaign_opt_outs to authenticated, service_role;

-- =================================================================================================
-- Rendering and measuring, per recipient
-- =================================================================================================

-- The same rules as shared/campaign/template.ts, whose module comment specifies them (a
-- property test checks the two agree): a placeholder is `{{ name }}` or `{{ name | fallback }}`,
-- rendered in one pass as the value, or the fallback when the value is empty; unknown or
-- unparsable placeholders render as ''. Whitespace is ECMAScript's `\s`, spelled out (the
-- locale's [[:space:]] is not the same). The template is compiled once per campaign: literal
-- pieces (one more than the placeholders), and each placeholder's name ('' when unknown) and
-- fallback.
create function sms.compile_campaign_template(
  p_template text,
  out literals text[],
  out names text[],
  out fallbacks text[]
)
language plpgsql
immutable
set search_path = ''
as $$
declare
  -- ECMAScript's \s.
  c_ws constant text := '[\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]';
  v_rest text := p_template;
  v_match text[];
  v_parts text[];
  v_known boolean;
begin
  literals := '{}';
  names := '{}';
  fallbacks := '{}';
  loop
    v_match := regexp_match(v_rest, '^(.*?)\{\{([^{}]*)\}\}(.*)$', 's');
    if v_match is null then
      literals := literals || v_rest;
      return;
    end if;
    v_parts := regexp_match(v_match[2],
      '^' || c_ws || '*([A-Za-z0-9_]+)' || c_ws || '*(\|[^|{}]*)?$');
    v_known := coalesce(v_parts[1] in ('first_name', 'last_name', 'full_name', 'business_name'),
                        false);
    literals := literals || v_match[1];
    names := names || case when v_known then v_parts[1] else '' end;
    fallbacks := fallbacks || case when v_known then coalesce(
      regexp_replace(substr(v_parts[2], 2), '^' || c_ws || '+|' || c_ws || '+$', '', 'g'), '')
      else '' end;
    v_rest := v_match[3];
  end loop;
end
$$;

-- collapse() of template.ts: each run of whitespace (ECMAScript's \s) one space, none at the ends
-- (after the first replacement the only whitespace left is single spaces, so btrim of ' ' is
-- the trim). No `set search_path`: with it a function is never inlined and every call saves and
-- restores the setting, which tripled the cost of a call (2.6 µs) in a plan of 100,000 rows;
-- the body names pg_catalog's functions, and only sms.plan_campaign (search_path '') and the
-- owner run it.
create function sms.collapse_spaces(p_text text)
returns text
language sql
immutable
parallel safe
as $$
  select pg_catalog.btrim(pg_catalog.regexp_replace(coalesce(p_text, ''),
    '[\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+', ' ', 'g'), ' ')
$$;

-- One recipient's message from the parts that are the same for every recipient of a plan
-- (sms.plan_campaign computes them once; sms.render_campaign_message below from its raw
-- arguments): the compiled template, p_business the business's name collapsed, and p_brand the
-- sender's name to put in front when disclosing, collapsed, or '' when it is never put there
-- (no brand, or the template names the business). Per recipient: the customer's values, the
-- template, and, when p_disclose, the brand in front unless the text already has it and
-- " Reply STOP to opt out." at the end unless it says STOP. No `set search_path`, as
-- sms.collapse_spaces (called once per recipient; only the owner and plan_campaign run it).
create function sms.render_campaign_text(
  p_literals text[],
  p_names text[],
  p_fallbacks text[],
  p_customer_name text,
  p_business text,
  p_brand text,
  p_disclose boolean
)
returns text
language plpgsql
immutable
parallel safe
as $$
declare
  v_full text := sms.collapse_spaces(p_customer_name);
  v_value text;
  v_out text := p_literals[1];
begin
  for i in 1 .. coalesce(cardinality(p_names), 0) loop
    v_value := case p_names[i]
                 when 'first_name' then pg_catalog.split_part(v_full, ' ', 1)
                 when 'last_name' then
                   case when pg_catalog.strpos(v_full, ' ') > 0
                        then pg_catalog.split_part(v_full, ' ', -1) else '' end
                 when 'full_name' then v_full
                 when 'business_name' then p_business
                 else '' end;
    v_out := v_out || case when v_value = '' then p_fallbacks[i] else v_value end
                   || p_literals[i + 1];
  end loop;
  -- ECMAScript's \s at either end (the locale's [[:space:]] is not the same).
  v_out := pg_catalog.regexp_replace(v_out,
    '^[\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+'
    '|[\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+$',
    '', 'g');
  if not p_disclose then
    return v_out;
  end if;
  -- Both checks read the rendered text alone: a brand that says "stop" tells nobody how to opt
  -- out, and the suffix does not name the sender. Case is ignored for A-Z only, as in the
  -- TypeScript: lower() under the "C" collation changes A-Z and nothing else (under the
  -- database's locale it would fold other letters too).
  -- The result needs no second trim: v_out is trimmed, the brand starts with a non-space, and
  -- only an empty v_out (which always gets the suffix) leaves the suffix's space in front.
  return pg_catalog.ltrim(
    case when p_brand <> ''
              and pg_catalog.strpos(pg_catalog.lower(v_out collate "C"),
                                    pg_catalog.lower(p_brand collate "C")) = 0
         then p_brand || ': ' else '' end
    || v_out
    || case when v_out !~ '(^|[^A-Za-z0-9_])[Ss][Tt][Oo][Pp]([^A-Za-z0-9_]|$)'
            then ' Reply STOP to opt out.' else '' end,
    ' ');
end
$$;

-- One recipient's message: the compiled template with the customer's values, and, when
-- p_disclose, the sender's name in front (unless the template names the business or the text
-- already has the brand) and " Reply STOP to opt out." at the end (unless it says STOP).
create function sms.render_campaign_message(
  p_literals text[],
  p_names text[],
  p_fallbacks text[],
  p_customer_name text,
  p_business_name text,
  p_brand text,
  p_disclose boolean
)
returns text
language sql
immutable
set search_path = ''
as $$
  select sms.render_campaign_text(p_literals, p_names, p_fallbacks, p_customer_name,
           sms.collapse_spaces(p_business_name),
           case when 'business_name' = any (p_names) then '' else sms.collapse_spaces(p_brand) end,
           p_disclose)
$$;

-- Encoding and segments of a text, as shared/text/segments.ts counts them (without Smart
-- Encoding): GSM-7 when every character is in the GSM 03.38 tables (extension characters take
-- two septets), else UCS-2 in UTF-16 units; 160/153 septets or 70/67 units per segment. Exact
-- unless a two-septet character or a character of several units straddles a segment boundary,
-- where segments.ts moves it whole to the next segment: then this is one less. process-retries
-- measures each message exactly again before it sends it (tests/db/campaign-render-agreement.test.ts).
--
-- A set of one row, and no `set search_path`: so the planner inlines it where a query reads it
-- in FROM (the plan's lateral join), and each row costs its regular expressions only; called
-- as a function it cost 6 µs a row (600 ms for 100,000 recipients), inlined 1.3 µs.
create function sms.measure_sms(p_body text, out encoding text, out segments integer)
returns setof record
rows 1
language sql
immutable
parallel safe
as $$
  select case when m.gsm then 'GSM-7' else 'UCS-2' end,
         -- Only the count the encoding needs: each is a pass of a regular expression.
         case when m.gsm
              then (select case when x.septets <= 160 then 1
                                else ceil(x.septets / 153.0)::integer end
                      from (select pg_catalog.char_length(p_body)
                                     + pg_catalog.regexp_count(p_body, E'[\f\\^{}\\\\\\[~\\]|€]')
                                     as septets) x)
              else (select case when x.units <= 70 then 1 else ceil(x.units / 67.0)::integer end
                      from (select pg_catalog.char_length(p_body)
                                     + pg_catalog.regexp_count(p_body, E'[\\U00010000-\\U0010FFFF]')
                                     as units) x) end
    -- Regular expressions, not translate(): translate() looks each character up in its list
    -- one by one, 0.1 ms for a message, 10 s for 100,000 recipients (bench/campaign.ts).
    from (select p_body ~ (E'^[@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&''()*+,\\-./0123456789:;<=>?¡'
                   || E'ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà'
                   || E'\f\\^{}\\\\\\[~\\]|€]*$') as gsm) m
$$;

-- Twilio's Smart Encoding table (character → replacement, passed by the campaigns function from
-- shared/text/segments.ts: one copy of the table, in TypeScript) as sms.smart_encode takes it: one
-- translate() for the one-to-one and one-to-none replacements (the deleted ones last), replace()
-- for the few that give several characters, and a bracket expression of every key: translate()
-- reads its list once per character of the text (about 0.1 ms a message), so only a text the
-- expression matches is encoded.
create function sms.smart_encoding_parts(
  p_map jsonb,
  out from_chars text,
  out to_chars text,
  out keys text[],
  out replacements text[],
  out pattern text
)
language sql
immutable
parallel safe
set search_path = ''
as $$
  select coalesce(string_agg(e.key, '' order by e.value = '', e.key)
                    filter (where char_length(e.value) <= 1), ''),
         coalesce(string_agg(e.value, '' order by e.key)
                    filter (where char_length(e.value) = 1), ''),
         coalesce(array_agg(e.key order by e.key) filter (where char_length(e.value) > 1), '{}'),
         coalesce(array_agg(e.value order by e.key) filter (where char_length(e.value) > 1), '{}'),
         '[' || string_agg(case when e.key in (']', '[', '\', '^', '-') then '\' || e.key
                                else e.key end, '') || ']'
    from pg_catalog.jsonb_each_text(p_map) e
$$;

-- Twilio's Smart Encoding (SmartEncoded=true) of a text, with sms.smart_encoding_parts' pieces:
-- p_from's characters become p_to's, those past p_to's length are dropped, then each of p_keys
-- becomes its p_values entry. Every key is one character, so the result is the same as replacing
-- code point by code point.
create function sms.smart_encode(
  p_text text,
  p_from text,
  p_to text,
  p_keys text[],
  p_values text[]
)
returns text
language plpgsql
immutable
parallel safe
set search_path = ''
as $$
declare
  v_out text := pg_catalog.translate(p_text, p_from, p_to);
begin
  for i in 1 .. coalesce(cardinality(p_keys), 0) loop
    v_out := pg_catalog.replace(v_out, p_keys[i], p_values[i]);
  end loop;
  return v_out;
end
$$;

-- =================================================================================================
-- Audience, preview and create
-- =================================================================================================

-- The groups of a campaign's audience for the campaigns function: customers who share a zone, a
-- state and the first five characters of their number (+1 and the area code) get the same
-- release instant, country and frequency cap, which the function computes once per group
-- (`phone`: one number of the group). The audience: p_customer_ids, or every customer of the
-- business in p_states and p_time_zones (null: any). Errors: business_not_found (not a member),
-- customer_not_found (an id that is not the business's customer).
create function sms.campaign_audience_groups(
  p_business_id uuid,
  p_acting_user uuid,
  p_customer_ids uuid[] default null,
  p_states text[] default null,
  p_time_zones text[] default null
)
returns table (time_zone text, us_state text, prefix text, phone text, recipients integer)
language plpgsql
stable
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_asked integer;
  v_found integer;
begin
  if p_acting_user is null or not sms.is_member(p_business_id, p_acting_user) then
    raise exception 'business_not_found' using errcode = 'P0002';
  end if;
  if p_customer_ids is not null then
    select count(distinct x) into v_asked from unnest(p_customer_ids) x;
    select count(*) into v_found from public.customers c
     where c.business_id = p_business_id and c.id = any (p_customer_ids);
    if v_found < v_asked then
      raise exception 'customer_not_found' using errcode = 'P0002',
        detail = format('%s of the %s customers are not this business''s', v_asked - v_found,
                        v_asked);
    end if;
  end if;
  return query
    select c.time_zone, c.us_state, left(c.phone, 5), min(c.phone), count(*)::integer
      from public.customers c
     where c.business_id = p_business_id
       and (p_customer_ids is null or c.id = any (p_customer_ids))
       and (p_states is null or c.us_state = any (p_states))
       and (p_time_zones is null or c.time_zone = any (p_time_zones))
     group by 1, 2, 3;
end
$$;
comment on function sms.campaign_audience_groups(uuid, uuid, uuid[], text[], text[]) is
  'campaigns: the audience by zone, state and number prefix, for the per-group rules.';

-- sms.plan_campaign's working set: one row per recipient of the plan being made, read by the
-- figures and the inserts and deleted before the function returns (so never seen committed).
-- Unlogged: nothing in it survives a transaction, so it needs no WAL.
create unlogged table sms.campaign_plan_rows (
  plan_id uuid not null,
  customer_id uuid not null,
  phone text,
  reason text,
  release_at timestamptz,
  country text,
  body text,
  encoding text,
  segments integer
);
create index campaign_plan_rows_plan_id_idx on sms.campaign_plan_rows (plan_id, reason);
alter table sms.campaign_plan_rows enable row level security;

-- Plans a campaign (p_campaign null: a preview, nothing written) or creates it. p_groups is the
-- function's answer per group (sms.campaign_audience_groups): [{time_zone, us_state, prefix,
-- release_at, skip, country, cap_max, cap_window_seconds}], skip being country_not_permitted or
-- no_window_before_expiry. Per recipient, in this order: opted_out, no_consent, invalid_phone,
-- the group's skip, frequency_cap (the business's SMS to the number within the cap's window
-- already reach it), then the message is rendered (disclosed on the first message to the number,
-- or always) and measured, and too_long when it needs more than p_max_segments segments.
-- Creating writes the campaign, a 'deferred' send log and a retry row (reason 'campaign', due at
-- the release instant, expiring with the campaign) per eligible recipient and the skips, in this
-- transaction; the send logs count against the daily quota at once, so a campaign larger than
-- what is left of it is refused (quota_exceeded, with the numbers). p_campaign: {name, schedule,
-- expires_at, idempotency_key, attribution_hours}. p_smart_encoding: Twilio's Smart Encoding
-- table (character → replacement) when the sends ask for it; the messages are measured as Twilio
-- will count them after it. Returns the figures (see the campaigns
-- function's contract). Errors: business_not_found, customer_not_found, empty_audience,
-- quota_exceeded. The caller claims the idempotency key (sms.claim_idempotency_key) in the same
-- transaction first.
create function sms.plan_campaign(
  p_business_id uuid,
  p_acting_user uuid,
  p_template text,
  p_groups jsonb,
  p_max_segments integer,
  p_default_quota integer default null,
  p_customer_ids uuid[] default null,
  p_states text[] default null,
  p_time_zones text[] default null,
  p_campaign jsonb default null,
  p_smart_encoding jsonb default null
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_business public.businesses;
  v_template record;
  v_campaign_id uuid;
  v_figures jsonb;
  v_eligible integer;
  v_total integer;
  v_limit integer;
  v_used integer;
  v_starts timestamptz;
  v_ends timestamptz;
  v_lookback interval;
  v_plan uuid := gen_random_uuid();
  v_smart_from text;
  v_smart_to text;
  v_smart_keys text[];
  v_smart_values text[];
  v_smart_pattern text;
  v_business_text text;
  v_brand_text text;
begin
  if p_acting_user is null or not sms.is_member(p_business_id, p_acting_user) then
    raise exception 'business_not_found' using errcode = 'P0002';
  end if;
  if p_template is null or char_length(p_template) not between 1 and 1600 then
    raise exception 'the template must have 1 to 1600 characters' using errcode = '22023';
  end if;
  if p_max_segments is null or p_max_segments not between 1 and 10 then
    raise exception 'p_max_segments must be between 1 and 10' using errcode = '22023';
  end if;
  if p_groups is null or jsonb_typeof(p_groups) <> 'array' then
    raise exception 'p_groups must be an array' using errcode = '22023';
  end if;
  if p_smart_encoding is not null then
    if jsonb_typeof(p_smart_encoding) <> 'object' or exists (
         select from jsonb_each_text(p_smart_encoding) e where char_length(e.key) <> 1) then
      raise exception 'p_smart_encoding must map single characters to text' using errcode = '22023';
    end if;
    select p.from_chars, p.to_chars, p.keys, p.replacements, p.pattern
      into v_smart_from, v_smart_to, v_smart_keys, v_smart_values, v_smart_pattern
      from sms.smart_encoding_parts(p_smart_encoding) p;
  end if;
  select b.* into v_business from public.businesses b where b.id = p_business_id;
  select * into v_template from sms.compile_campaign_template(p_template);
  -- What every recipient's message shares (sms.render_campaign_message's rules), once.
  v_business_text := sms.collapse_spaces(v_business.name);
  v_brand_text := case when 'business_name' = any (v_template.names) then ''
                       else sms.collapse_spaces(coalesce(v_business.sms_campaign_brand,
                                                         v_business.name)) end;
  -- The longest cap window among the groups: the sends to count.
  select coalesce(max((g ->> 'cap_window_seconds')::integer), 0) * interval '1 second'
    into v_lookback from jsonb_array_elements(p_groups) g;

  insert into sms.campaign_plan_rows
    (plan_id, customer_id, phone, reason, release_at, country, body, encoding, segments)
  with groups as (
    select * from jsonb_to_recordset(p_groups) as x(
      time_zone text, us_state text, prefix text, release_at timestamptz, skip text,
      country text, cap_max integer, cap_window_seconds integer)
  ), audience as (
    select c.id, c.name, c.phone, c.phone_status, c.sms_consent_status, c.time_zone, c.us_state
      from public.customers c
     where c.business_id = p_business_id
       and (p_customer_ids is null or c.id = any (p_customer_ids))
       and (p_states is null or c.us_state = any (p_states))
       and (p_time_zones is null or c.time_zone = any (p_time_zones))
  ), recent as (
    -- The business's SMS that went to the carrier within the longest cap window, by number.
    select l.to_phone, array_agg(l.created_at) as sent
      from public.send_logs l
     where v_lookback > interval '0' and l.business_id = p_business_id and l.channel = 'sms'
       and l.created_at > now() - v_lookback
       and l.status in ('queued', 'sending', 'sent', 'delivered', 'undelivered', 'read')
     group by l.to_phone
  ), told as (
    -- Numbers this business has texted before (a message Twilio took): no first message.
    select distinct l.to_phone
      from public.send_logs l
     where l.business_id = p_business_id and l.channel = 'sms'
       and (l.provider_message_id ->> 'twilio_sid') is not null
  ), decided as (
    select a.id, a.name, a.phone, g.release_at, g.country,
           case
             when a.sms_consent_status = 'opted_out' then 'opted_out'
             when a.sms_consent_status <> 'opted_in' then 'no_consent'
             when a.phone is null or a.phone_status in ('invalid', 'landline') then 'invalid_phone'
             when g.prefix is null then 'no_window_before_expiry'
             when g.skip is not null then g.skip
             when g.cap_max is not null and (
                    select count(*) from unnest(r.sent) t
                     where t > now() - g.cap_window_seconds * interval '1 second')
                  >= g.cap_max then 'frequency_cap'
           end as reason,
           (v_business.sms_campaign_disclosure = 'every_message' or t.to_phone is null)
             as disclose
      from audience a
      left join groups g
        on g.time_zone is not distinct from a.time_zone
       and g.us_state is not distinct from a.us_state
       and g.prefix = left(a.phone, 5)
      left join recent r on r.to_phone = a.phone
      left join told t on t.to_phone = a.phone
  ), rendered as materialized (
    -- Materialized: inlined, the rendering ran three times a recipient (the measure's join
    -- condition, its argument and the body column).
    select d.*,
           case when d.reason is null then sms.render_campaign_text(
             v_template.literals, v_template.names, v_template.fallbacks, d.name,
             v_business_text, v_brand_text, d.disclose) end as body
      from decided d
  )
  select v_plan, r.id, r.phone,
         case when r.reason is null and m.segments > p_max_segments then 'too_long'
              else r.reason end,
         r.release_at, r.country, r.body, m.encoding, m.segments
    from rendered r
    -- The text Twilio will count, once a row (offset 0 keeps it a subquery): measure_sms is
    -- inlined, and would evaluate an expression passed to it once per use of its argument.
    cross join lateral (
      select case when v_smart_pattern is null or r.body !~ v_smart_pattern then r.body
                  else sms.smart_encode(r.body, v_smart_from, v_smart_to, v_smart_keys,
                                        v_smart_values) end as text
      offset 0) t
    left join lateral sms.measure_sms(t.text) m on r.body is not null;

  select count(*), count(*) filter (where p.reason is null),
         min(p.release_at) filter (where p.reason is null),
         max(p.release_at) filter (where p.reason is null)
    into v_total, v_eligible, v_starts, v_ends
    from sms.campaign_plan_rows p where p.plan_id = v_plan;
  if v_total = 0 then
    raise exception 'empty_audience' using errcode = 'P0001',
      detail = 'no customer matches the audience';
  end if;

  v_figures := jsonb_build_object(
    'audience', v_total,
    'eligible', v_eligible,
    'ineligible', coalesce((
      select jsonb_object_agg(x.reason, x.n)
        from (select p.reason, count(*) as n from sms.campaign_plan_rows p
               where p.plan_id = v_plan and p.reason is not null
               group by p.reason) x), '{}'::jsonb),
    'segments', coalesce((select sum(p.segments) from sms.campaign_plan_rows p
                           where p.plan_id = v_plan and p.reason is null), 0),
    'encodings', coalesce((
      select jsonb_object_agg(x.encoding, x.n)
        from (select p.encoding, count(*) as n from sms.campaign_plan_rows p
               where p.plan_id = v_plan and p.reason is null
               group by p.encoding) x), '{}'::jsonb),
    'by_country', coalesce((
      select jsonb_agg(jsonb_build_object('country', x.country, 'encoding', x.encoding,
                                          'segments', x.segments))
        from (select p.country, p.encoding, sum(p.segments) as segments
                from sms.campaign_plan_rows p where p.plan_id = v_plan and p.reason is null
               group by p.country, p.encoding) x), '[]'::jsonb),
    'releases', coalesce((
      select jsonb_agg(jsonb_build_object('release_at', x.release_at, 'recipients', x.n,
                                          'segments', x.segments) order by x.release_at)
        from (select p.release_at, count(*) as n, sum(p.segments) as segments
                from sms.campaign_plan_rows p where p.plan_id = v_plan and p.reason is null
               group by p.release_at) x), '[]'::jsonb),
    'samples', coalesce((
      select jsonb_agg(jsonb_build_object('customer_id', x.customer_id, 'body', x.body,
                                          'segments', x.segments, 'encoding', x.encoding))
        from (select p.customer_id, p.body, p.segments, p.encoding
                from sms.campaign_plan_rows p where p.plan_id = v_plan and p.reason is null
               order by p.release_at, p.customer_id limit 5) x), '[]'::jsonb),
    'starts_at', v_starts,
    'ends_at', v_ends);

  if p_campaign is null then
    delete from sms.campaign_plan_rows p where p.plan_id = v_plan;
    return v_figures;
  end if;

  -- Create.
  if v_eligible = 0 then
    raise exception 'empty_audience' using errcode = 'P0001',
      detail = 'no customer of the audience may receive this campaign';
  end if;
  -- The quota, as sms.reserve_quota counts it, under its lock: the whole campaign or nothing.
  perform pg_catalog.pg_advisory_xact_lock(
    pg_catalog.hashtextextended('sms_quota:' || p_business_id::text, 0));
  v_limit := coalesce(v_business.sms_daily_quota, p_default_quota);
  select coalesce(sum(u.sent), 0) into v_used from sms.quota_usage u
   where u.business_id = p_business_id and u.hour > now() - interval '25 hours';
  if v_limit is not null and v_eligible > v_limit - v_used then
    raise exception 'quota_exceeded' using errcode = 'P0001',
      detail = format('a campaign of %s messages; %s of the %s SMS of the last 24 hours are left',
                      v_eligible, greatest(v_limit - v_used, 0), v_limit);
  end if;

  insert into public.sms_campaigns as c
    (business_id, name, template, status, schedule, starts_at, ends_at, expires_at, recipients,
     skipped, segments, attribution_hours, created_by, idempotency_key)
  values (p_business_id, p_campaign ->> 'name', p_template,
          case when v_starts <= now() then 'running' else 'scheduled' end,
          coalesce(p_campaign -> 'schedule', '{}'::jsonb), v_starts, v_ends,
          (p_campaign ->> 'expires_at')::timestamptz, v_eligible, v_total - v_eligible,
          (v_figures ->> 'segments')::integer,
          coalesce((p_campaign ->> 'attribution_hours')::integer, 72), p_acting_user,
          nullif(p_campaign ->> 'idempotency_key', ''))
  returning c.id into v_campaign_id;

  with plan as (
    select p.*, gen_random_uuid() as log_id
      from sms.campaign_plan_rows p where p.plan_id = v_plan and p.reason is null
  ), logs as (
    insert into public.send_logs
      (id, business_id, channel, customer_id, contact_id, to_phone, segments, encoding, status,
       status_at, campaign_id)
    select p.log_id, p_business_id, 'sms', p.customer_id, p.customer_id, p.phone, p.segments,
           p.encoding, 'deferred', now(), v_campaign_id
      from plan p
  )
  insert into sms.retry_queue
    (business_id, customer_id, send_log_id, body, reason, scheduled_for, campaign_id, expires_at)
  select p_business_id, p.customer_id, p.log_id, p.body, 'campaign', p.release_at,
         v_campaign_id, (p_campaign ->> 'expires_at')::timestamptz
    from plan p;

  insert into public.sms_campaign_skips (campaign_id, business_id, customer_id, reason)
  select v_campaign_id, p_business_id, p.customer_id, p.reason
    from sms.campaign_plan_rows p where p.plan_id = v_plan and p.reason is not null;
  delete from sms.campaign_plan_rows p where p.plan_id = v_plan;

  return v_figures || jsonb_build_object('campaign_id', v_campaign_id,
    'status', case when v_starts <= now() then 'running' else 'scheduled' end);
end
$$;
comment on function sms.plan_campaign(uuid, uuid, text, jsonb, integer, integer, uuid[], text[],
  text[], jsonb, jsonb) is
  'campaigns: previews (p_campaign null) or creates a campaign, set-based, with its figures.';

-- =================================================================================================
-- Control: pause, resume, cancel; done
-- =================================================================================================

-- Pause: the campaign's pending rows become 'paused', which the claim never hands out, and so do
-- rows a worker holds that it has not marked 'sending' yet (their worker finds its lease gone).
-- Resume: back to pending, due when they were. Cancel: every row not yet at the sender ends
-- 'cancelled' with its send log 'canceled', at once; a message already marked 'sending' is at
-- the sender and is not recalled (in_flight). Nothing left in the queue is sent after cancel
-- returns. Errors: campaign_not_found (not a member's), campaign_state_conflict.
create function sms.control_campaign(p_campaign_id uuid, p_acting_user uuid, p_action text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_campaign public.sms_campaigns;
  v_status text;
  v_rows integer := 0;
  v_in_flight integer := 0;
begin
  if p_action is null or p_action not in ('pause', 'resume', 'cancel') then
    raise exception 'p_action must be pause, resume or cancel' using errcode = '22023';
  end if;
  select c.* into v_campaign from public.sms_campaigns c where c.id = p_campaign_id for update;
  if not found or p_acting_user is null
     or not sms.is_member(v_campaign.business_id, p_acting_user) then
    raise exception 'campaign_not_found' using errcode = 'P0002';
  end if;
  if (p_action = 'pause' and v_campaign.status not in ('scheduled', 'running'))
     or (p_action = 'resume' and v_campaign.status <> 'paused')
     or (p_action = 'cancel' and v_campaign.status not in ('scheduled', 'running', 'paused')) then
    raise exception 'campaign_state_conflict' using errcode = 'P0001',
      detail = format('the campaign is %s', v_campaign.status);
  end if;

  if p_action = 'pause' then
    with held as (
      select q.id from sms.retry_queue q
        join public.send_logs l on l.id = q.send_log_id
       where q.campaign_id = p_campaign_id
         and (q.status = 'pending'
              or (q.status = 'processing' and l.status = 'deferred'))
       for update of q
    )
    update sms.retry_queue q
       set status = 'paused', lease_expires_at = null, locked_by = null, locked_at = null,
           attempts = case when q.status = 'processing' then greatest(q.attempts - 1, 0)
                           else q.attempts end,
           updated_at = now()
      from held h where q.id = h.id;
    get diagnostics v_rows = row_count;
    v_status := 'paused';
  elsif p_action = 'resume' then
    update sms.retry_queue q set status = 'pending', updated_at = now()
     where q.campaign_id = p_campaign_id and q.status = 'paused';
    get diagnostics v_rows = row_count;
    v_status := case when v_campaign.starts_at > now() then 'scheduled' else 'running' end;
  else
    with ended as (
      select q.id, q.send_log_id from sms.retry_queue q
        join public.send_logs l on l.id = q.send_log_id
       where q.campaign_id = p_campaign_id
         and (q.status in ('pending', 'paused')
              or (q.status = 'processing' and l.status = 'deferred'))
       for update of q, l
    ), rows as (
      update sms.retry_queue q
         set status = 'cancelled', lease_expires_at = null, last_error = 'campaign_cancelled',
             finished_at = now(), updated_at = now()
        from ended e where q.id = e.id
      returning q.send_log_id
    ), logs as (
      update public.send_logs l
         set status = 'canceled', status_at = now(), error = 'campaign cancelled',
             updated_at = now()
        from rows r
       where l.id = r.send_log_id and (l.provider_message_id ->> 'twilio_sid') is null
      returning l.id
    )
    insert into public.sms_message_events
      (business_id, send_log_id, source, provider_status, status, error_message)
    select v_campaign.business_id, g.id, 'system', 'canceled', 'canceled', 'campaign cancelled'
      from logs g;
    get diagnostics v_rows = row_count;
    select count(*) into v_in_flight from sms.retry_queue q
     where q.campaign_id = p_campaign_id and q.status = 'processing';
    v_status := 'cancelled';
  end if;

  update public.sms_campaigns c
     set status = v_status,
         paused_at = case when v_status = 'paused' then now() else c.paused_at end,
         cancelled_at = case when v_status = 'cancelled' then now() else c.cancelled_at end,
         finished_at = case when v_status = 'cancelled' then now() else c.finished_at end,
         updated_at = now()
   where c.id = p_campaign_id;
  return jsonb_build_object('campaign_id', p_campaign_id, 'status', v_status, 'rows', v_rows,
                            'in_flight', v_in_flight);
end
$$;
comment on function sms.control_campaign(uuid, uuid, text) is
  'campaigns: pause, resume or cancel a campaign (its queued rows at once).';

-- Marks running campaigns whose every message is final 'done' (process-retries, after each run),
-- and scheduled ones whose first release has come 'running'. Returns how many changed.
create function sms.finish_campaigns()
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_changed integer;
  v_started integer;
begin
  update public.sms_campaigns c set status = 'running', updated_at = now()
   where c.status = 'scheduled' and c.starts_at <= now();
  get diagnostics v_started = row_count;
  update public.sms_campaigns c
     set status = 'done', finished_at = now(), updated_at = now()
   where c.status = 'running'
     and not exists (
       select 1 from public.send_logs l
        where l.campaign_id = c.id
          and l.status in ('deferred', 'queued', 'sending', 'sent'));
  get diagnostics v_changed = row_count;
  return v_changed + v_started;
end
$$;
comment on function sms.finish_campaigns() is
  'process-retries: scheduled campaigns whose time came run; running ones with every message final are done.';

-- Hands process-retries the campaign messages Twilio has billed whose price is not stored yet,
-- oldest first, and marks them looked for (price_checked_at) in the same statement, as
-- claim_status_lookups does: concurrent runs take different logs, and none is looked for again
-- within p_recheck_seconds. A message in sent may still be priced late; it is taken once its
-- status is p_settle_seconds old (final statuses at once). Logs sent more than p_max_age_seconds
-- ago are left unpriced: Twilio fills a price within hours (24 at most, it says), and looking
-- forever would only cost requests. Only logs sent within p_span_seconds of the oldest one are
-- taken: Twilio lists newest first, so the listing reaches the oldest log of the claim only
-- after every message the sender sent above it, and a claim spread over hours (logs looked for
-- again after the recheck) would put thousands of already priced messages on top of it.
create function sms.claim_price_lookups(
  p_limit integer,
  p_settle_seconds integer,
  p_recheck_seconds integer,
  p_max_age_seconds integer,
  p_span_seconds integer
)
returns table (send_log_id uuid, message_sid text, sent_at timestamptz)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
begin
  if p_limit is null or p_limit < 0 or p_limit > 10000 then
    raise exception 'p_limit must be between 0 and 10000' using errcode = '22023';
  end if;
  if p_settle_seconds is null or p_settle_seconds < 0 or p_recheck_seconds is null
     or p_recheck_seconds < 0 or p_max_age_seconds is null or p_max_age_seconds < 0
     or p_span_seconds is null or p_span_seconds < 0 then
    raise exception 'the thresholds are seconds, zero or more' using errcode = '22023';
  end if;
  return query
  with due as (
    select l.id, l.sent_at
      from public.send_logs l
     where l.campaign_id is not null and l.price is null
       and l.status in ('sent', 'delivered', 'undelivered', 'read')
       and (l.provider_message_id ->> 'twilio_sid') is not null
       and l.sent_at >= now() - make_interval(secs => p_max_age_seconds)
       and (l.status <> 'sent' or l.status_at < now() - make_interval(secs => p_settle_seconds))
       and (l.price_checked_at is null
            or l.price_checked_at < now() - make_interval(secs => p_recheck_seconds))
  ), picked as (
    select l.id
      from public.send_logs l
      join due d on d.id = l.id
     where d.sent_at <= (select min(f.sent_at) from due f) + make_interval(secs => p_span_seconds)
     order by d.sent_at, d.id
     limit p_limit
       for update of l skip locked
  ), marked as (
    update public.send_logs l
       set price_checked_at = now()
      from picked
     where l.id = picked.id
    returning l.id, l.provider_message_id ->> 'twilio_sid' as sid, l.sent_at
  )
  select m.id, m.sid, m.sent_at from marked m order by m.sent_at, m.id;
end
$$;
comment on function sms.claim_price_lookups(integer, integer, integer, integer, integer) is
  'process-retries: campaign messages billed but not priced yet, oldest first, marked looked for now.';

revoke all on function sms.compile_campaign_template(text), sms.collapse_spaces(text),
  sms.render_campaign_text(text[], text[], text[], text, text, text, boolean),
  sms.render_campaign_message(text[],
  text[], text[], text, text, text, boolean), sms.measure_sms(text),
  sms.smart_encode(text, text, text, text[], text[]), sms.smart_encoding_parts(jsonb),
  sms.campaign_audience_groups(uuid, uuid, uuid[], text[], text[]),
  sms.plan_campaign(uuid, uuid, text, jsonb, integer, integer, uuid[], text[], text[], jsonb, jsonb),
  sms.control_campaign(uuid, uuid, text), sms.finish_campaigns(),
  sms.claim_price_lookups(integer, integer, integer, integer, integer) from public;
grant execute on function sms.campaign_audience_groups(uuid, uuid, uuid[], text[], text[]),
  sms.plan_campaign(uuid, uuid, text, jsonb, integer, integer, uuid[], text[], text[], jsonb, jsonb),
  sms.control_campaign(uuid, uuid, text), sms.finish_campaigns(),
  sms.claim_price_lookups(integer, integer, integer, integer, integer) to service_role;
