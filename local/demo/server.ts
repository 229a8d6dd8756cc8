/**
 * The demo page's server in the local stack (port 54323 by default, the port Supabase's local
 * Studio uses): the pages (`/`, one send; `/campaign`, the campaign composer), their browser
 * bundle, and small JSON endpoints a real app would not need, because there it has Supabase Auth
 * and PostgREST:
 *
 * - `GET /api/session`: the API URL, the anon key and the seeded users with their access tokens
 *   (local only: it hands out tokens, so it listens on the loopback interface only);
 * - `GET /api/customers?user=<email>`: that user's customers, read fresh from Postgres as the
 *   user (role `authenticated` with their JWT claims), so RLS decides what the page lists;
 * - `GET /api/campaigns?user=<email>`: the user's businesses (with their campaign disclosure
 *   settings) and their latest campaigns with the progress views' figures, read the same way.
 *
 * Never logs tokens or message bodies (the pages talk to the functions directly).
 * @module
 */
import { decodeJwt } from "jose";
import postgres from "postgres";
import { asUser } from "@shared/runtime/db.ts";
import { buildDemoBundle, bundleKey, type DemoBundle } from "./bundle.ts";
import { campaignPage, demoPage, STYLE } from "./page.ts";

/** How to start the demo server. */
export interface DemoOptions {
  /** Port to listen on; 0 picks a free one. */
  port: number;
  /** When `port` is taken by the time the server binds, listen on any free port instead. */
  anyPortIfBusy?: boolean;
  /** The API gateway (`SUPABASE_URL` of the page's supabase-js client). */
  apiUrl: string;
  /** The anon key the page's client sends as `apikey`. */
  anonKey: string;
  /** The SMS inbox the page links to. */
  inboxUrl: string;
  /** Postgres, to list users and (as the user) customers. */
  dbUrl: string;
  /** Seeded users' access tokens by email. */
  users: Record<string, string>;
  /** Where the browser bundle is cached. */
  cacheDir: string;
  log?: (line: string) => void;
}

/** A running demo server. */
export interface DemoServer {
  url: string;
  port: number;
  /** Resolves once the browser bundle is built (or failed to build: see the log). */
  ready: Promise<void>;
  close(): Promise<void>;
}

async function sha256Base64(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });

const error = (status: number, code: string, message: string) =>
  json({ error: { code, message } }, status);

interface UserRow {
  email: string;
  name: string | null;
  businesses: string[];
}

/** Starts the demo server and begins building the bundle in the background. */
export async function startDemo(options: DemoOptions): Promise<DemoServer> {
  const log = options.log ?? (() => {});
  const sql = postgres(options.dbUrl, { max: 2, prepare: false, onnotice: () => {} });
  const csp = [
    "default-src 'none'",
    "script-src 'self'",
    `style-src 'sha256-${await sha256Base64(STYLE)}'`,
    `connect-src 'self' ${new URL(options.apiUrl).origin}`,
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");

  const pageHeaders = {
    "content-type": "text/html; charset=utf-8",
    "content-security-policy": csp,
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
  };

  // The bundle is rebuilt when its inputs change (an edit to shared/ shows up on reload).
  let cache: { key: string; build: Promise<DemoBundle> } | null = null;
  const inFlight = new Set<Promise<unknown>>();
  async function currentBundle(): Promise<DemoBundle> {
    const key = await bundleKey();
    if (!cache || cache.key !== key) {
      const started = performance.now();
      const build = buildDemoBundle(options.cacheDir, key);
      const entry = { key, build };
      cache = entry;
      const settled = build.then((b) => {
        if (!b.cached) log(`  demo bundle built in ${Math.round(performance.now() - started)} ms`);
      }, (e) => {
        log(`  demo bundle failed: ${(e as Error).message}`);
        if (cache === entry) cache = null;
      }).finally(() => inFlight.delete(settled));
      inFlight.add(settled);
    }
    return await cache.build;
  }
  const ready = currentBundle().then(() => {}, () => {});

  async function appJs(): Promise<Response> {
    try {
      const b = await currentBundle();
      return new Response(b.code, {
        headers: {
          "content-type": "text/javascript; charset=utf-8",
          "cache-control": "no-cache",
          etag: `"${b.key}"`,
        },
      });
    } catch (e) {
      const message = `The demo bundle failed to build; see the stack's console. ${
        (e as Error).message.split("\n").slice(0, 6).join(" ")
      }`;
      return new Response(
        `document.getElementById("result").textContent = ${JSON.stringify(message)};\n`,
        { status: 500, headers: { "content-type": "text/javascript; charset=utf-8" } },
      );
    }
  }

  async function session(): Promise<Response> {
    const emails = Object.keys(options.users);
    const rows = emails.length === 0 ? [] : await sql<UserRow[]>`
      select u.email, u.raw_user_meta_data ->> 'name' as name,
             coalesce(array_agg(b.name order by b.name) filter (where b.id is not null), '{}')
               as businesses
        from auth.users u
        left join public.business_members m on m.user_id = u.id
        left join public.businesses b on b.id = m.business_id
       where u.email = any(${emails})
       group by u.email, u.raw_user_meta_data
       order by u.email`;
    return json({
      apiUrl: options.apiUrl,
      anonKey: options.anonKey,
      inboxUrl: options.inboxUrl,
      users: rows.map((r) => ({ ...r, accessToken: options.users[r.email] })),
    });
  }

  /** The claims of a seeded user's token, or `null` for anyone else. */
  function claimsOf(url: URL): Record<string, unknown> | null {
    const token = options.users[url.searchParams.get("user") ?? ""];
    return token ? decodeJwt(token) as Record<string, unknown> : null;
  }

  async function customers(url: URL): Promise<Response> {
    const claims = claimsOf(url);
    if (!claims) return error(404, "unknown_user", "not a seeded user of this stack");
    // `texted`: the business has had a message to this number accepted by Twilio, so a campaign's
    // message to it carries no first-message disclosure (as sms.plan_campaign decides).
    const rows = await asUser(sql, claims, (tx) =>
      tx`
      select c.id, c.name, c.phone, c.phone_status as "phoneStatus",
             c.sms_consent_status as consent, c.time_zone as "timeZone", c.us_state as state,
             exists (select 1 from public.send_logs l
                      where l.business_id = c.business_id and l.channel = 'sms'
                        and l.to_phone = c.phone
                        and (l.provider_message_id ->> 'twilio_sid') is not null) as texted
        from public.customers c
       order by c.name, c.id`);
    return json(rows);
  }

  /** How many campaigns `/api/campaigns` lists, newest first. */
  const CAMPAIGN_LIMIT = 20;

  async function campaignList(url: URL): Promise<Response> {
    const claims = claimsOf(url);
    if (!claims) return error(404, "unknown_user", "not a seeded user of this stack");
    const result = await asUser(sql, claims, async (tx) => ({
      businesses: await tx`
        select id, name, coalesce(sms_campaign_brand, name) as brand,
               sms_campaign_disclosure as disclosure
          from public.businesses
         order by name, id`,
      campaigns: await tx`
        select c.id, c.business_id as "businessId", c.name, c.status, c.created_at as "createdAt",
               c.starts_at as "startsAt", c.ends_at as "endsAt", c.segments as "segmentsPlanned",
               p.recipients, p.skipped, p.queued, p.sending, p.sent, p.delivered, p.undelivered,
               p.failed, p.canceled, p.segments_billed as "segmentsBilled",
               p.estimated_cost::float8 as "estimatedCost", p.currency,
               p.actual_cost::float8 as "actualCost", p.actual_currency as "actualCurrency",
               p.priced,
               coalesce(o.opt_outs, 0) as "optOuts",
               coalesce((select json_agg(json_build_object('status', e.status,
                                                           'errorCode', e.error_code,
                                                           'messages', e.messages)
                                         order by e.messages desc, e.error_code)
                           from public.sms_campaign_errors e
                          where e.campaign_id = c.id), '[]'::json) as errors
          from public.sms_campaigns c
          join public.sms_campaign_progress p on p.campaign_id = c.id
          left join public.sms_campaign_opt_outs o on o.campaign_id = c.id
         order by c.created_at desc, c.id
         limit ${CAMPAIGN_LIMIT}`,
    }));
    return json(result);
  }

  const handler = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    if (req.method !== "GET" && req.method !== "HEAD") {
      return error(405, "method_not_allowed", "GET only");
    }
    try {
      switch (url.pathname) {
        case "/":
        case "/index.html":
          return new Response(demoPage(options.inboxUrl), { headers: pageHeaders });
        case "/campaign":
          return new Response(campaignPage(options.inboxUrl), { headers: pageHeaders });
        case "/app.js":
          return await appJs();
        case "/api/session":
          return await session();
        case "/api/customers":
          return await customers(url);
        case "/api/campaigns":
          return await campaignList(url);
        case "/health":
          return json({ ok: true });
        default:
          return error(404, "not_found", "no such page");
      }
    } catch (e) {
      log(`demo: ${url.pathname} failed: ${(e as Error).name}`);
      return error(500, "internal", "the demo server failed; see the stack's console");
    }
  };
  const listen = (port: number) =>
    Deno.serve({ port, hostname: "127.0.0.1", onListen: () => {} }, handler);
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = listen(options.port);
  } catch (e) {
    if (!(e instanceof Deno.errors.AddrInUse && options.anyPortIfBusy)) {
      await sql.end({ timeout: 1 });
      throw e;
    }
    server = listen(0);
  }
  const url = `http://127.0.0.1:${server.addr.port}`;
  return {
    url,
    port: server.addr.port,
    ready,
    async close() {
      await server.shutdown();
      await Promise.all([...inFlight]);
      await sql.end({ timeout: 5 });
    },
  };
}
