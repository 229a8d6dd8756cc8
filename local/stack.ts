/**
 * The whole local stack: Postgres with the platform stand-ins and migrations, the functions
 * behind the gateway, the pg_net worker and the Twilio sandbox. Used by `npm start` and by the
 * test runner, which gives it a throwaway state folder and free ports.
 */
import postgres from "postgres";
import {
  clusterRunning,
  ensureDebianPackages,
  initCluster,
  PLATFORM_SUPERUSER,
  reachableByPostgres,
  startCluster,
  stopCluster,
} from "./postgres.ts";
import {
  type AuthMode,
  functionJwks,
  loadOrCreateKeys,
  mintRoleToken,
  publicJwks,
  randomHex,
  type StackKeys,
} from "./keys.ts";
import type { FunctionLimits } from "./limits.ts";
import { discoverFunctions, FunctionProcess, type FunctionSpec, withTimeout } from "./functions.ts";
import { startGateway } from "./gateway.ts";
import { type NetWorker, startNetWorker } from "./net-worker.ts";
import { type Sandbox, startSandbox } from "./sandbox/server.ts";
import { type DemoServer, startDemo } from "./demo/server.ts";
import { hex } from "@shared/text/hex.ts";
import { join, PROJECT_ROOT } from "./paths.ts";
import { UserTokens } from "./user-tokens.ts";
import { changedMigrations, migrationDigests, recordMigrations } from "./migration-record.ts";
import { assertPortsFree, freePort, PortsBusyError } from "./ports.ts";

/** How long stopping an in-process server may take before the shutdown moves on. */
const IN_PROCESS_STOP_MS = 5_000;
/** Same for the steps that own processes (they escalate to SIGKILL / immediate mode within it). */
const PROCESS_STOP_MS = 60_000;

/** Supabase's local ports. */
export const DEFAULT_PORTS = { api: 54321, db: 54322, demo: 54323, sandbox: 54324 };

/** How to run the stack. */
export interface StackOptions {
  /** Folder for the cluster, keys and stack.json (`.local` for `npm start`). */
  stateDir: string;
  /** Fixed ports; with `autoPorts`, these are preferences and busy ones are replaced. */
  ports?: Partial<typeof DEFAULT_PORTS>;
  autoPorts?: boolean;
  /** Extra Supabase-shaped folders (config.toml + functions/) served beside the project's. */
  extraSupabaseDirs?: string[];
  /** Throwaway cluster: durability off (tests only). */
  ephemeral?: boolean;
  /** Also write each function's stdout/stderr to `<stateDir>/logs/<name>.log`. */
  functionLogs?: boolean;
  /** Drop the functions' stdout (their info logs) when there is no log file; stderr stays. */
  quietFunctions?: boolean;
  /** How the project signs user tokens (default asymmetric keys, as new projects do). */
  authMode?: AuthMode;
  /** The functions' per-worker limits (default the hosted free plan). */
  limits?: FunctionLimits;
  /**
   * Aborted when the stack must stop while it is still starting (`npm start` on a signal): the
   * workers' exits are no longer reported or replaced, and start-up stops at the next step.
   */
  signal?: AbortSignal;
  /** The seeded users' tokens: lifetime and refresh period (default 24 h, refreshed hourly). */
  userTokens?: { ttlSeconds?: number; refreshMs?: number };
  log?: (line: string) => void;
}

/** What a client needs to use the stack; written to `<stateDir>/stack.json`. */
export interface StackInfo {
  apiUrl: string;
  functionsUrl: string;
  jwksUrl: string;
  /** As `postgres`: not a superuser, hosted Supabase's grants (migrations, seed, functions). */
  dbUrl: string;
  /** As `supabase_admin`, the platform's superuser: only for what the platform itself does. */
  adminDbUrl: string;
  sandboxUrl: string;
  /** The send-sms demo page (local/demo/). */
  demoUrl: string;
  stateDir: string;
  dataDir: string;
  /** Where each function's output is kept (`<name>.log`), when `functionLogs` is on. */
  functionLogDir?: string;
  /** How tokens are signed; `supabaseJwks` is what functions get as `SUPABASE_JWKS`. */
  authMode: AuthMode;
  supabaseJwks: string;
  /** Legacy JWT API keys (`SUPABASE_ANON_KEY`, `SUPABASE_SERVICE_ROLE_KEY`) and user tokens. */
  tokens: { anon: string; serviceRole: string; users: Record<string, string> };
  /** The new API keys (`sb_publishable_…`, `sb_secret_…`). */
  apiKeys: { publishable: string; secret: string };
  twilio: {
    accountSid: string;
    authToken: string;
    phoneNumber: string;
    messagingServiceSid: string;
    webhookUrl: string;
  };
  processRetriesSecret: string;
  functions: { name: string; verifyJwt: boolean; port: number }[];
  seed: {
    businesses: { id: string; name: string; users: { id: string; email: string }[] }[];
    customers: {
      id: string;
      businessId: string;
      name: string;
      phone: string | null;
      phoneStatus: string;
      smsConsentStatus: string;
    }[];
  };
  pids: { stack: number };
}

/** A running stack. */
export interface RunningStack {
  info: StackInfo;
  keys: StackKeys;
  functions: FunctionProcess[];
  netWorker: NetWorker;
  sandbox: Sandbox;
  demo: DemoServer;
  stop(): Promise<void>;
}

interface Secrets {
  publishableKey: string;
  secretKey: string;
  twilioAccountSid: string;
  twilioAuthToken: string;
  messagingServiceSid: string;
  processRetriesSecret: string;
}

async function loadOrCreateSecrets(path: string): Promise<Secrets> {
  try {
    const saved = JSON.parse(await Deno.readTextFile(path)) as Secrets;
    if (saved.publishableKey) return saved;
  } catch {
    // first start: create below
  }
  const s: Secrets = {
    publishableKey: `sb_publishable_${randomHex(16)}`,
    secretKey: `sb_secret_${randomHex(16)}`,
    twilioAccountSid: `AC${randomHex(16)}`,
    twilioAuthToken: randomHex(16),
    messagingServiceSid: `MG${randomHex(16)}`,
    processRetriesSecret: randomHex(24),
  };
  await Deno.writeTextFile(path, JSON.stringify(s), { mode: 0o600 });
  return s;
}

/** Twilio's test "From" number that always succeeds. */
const SANDBOX_PHONE_NUMBER = "+15005550006";

/** Keeps the cluster where the postgres user can reach it, even when the checkout is not. */
async function clusterDir(stateDir: string): Promise<string> {
  if (await reachableByPostgres(stateDir)) return join(stateDir, "pg");
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(stateDir));
  return `/tmp/sms-stack-${hex(new Uint8Array(digest).slice(0, 6))}/pg`;
}

/** A local cluster's database URL for `user` (every local role's password is `postgres`). */
export function dbUrl(port: number, user = "postgres"): string {
  return `postgresql://${user}:postgres@localhost:${port}/postgres?sslmode=disable`;
}

async function supabaseCli(args: string[], log: (l: string) => void): Promise<void> {
  const out = await new Deno.Command(join(PROJECT_ROOT, "node_modules", ".bin", "supabase"), {
    args,
    cwd: PROJECT_ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (out.code !== 0) throw new Error(`supabase ${args[0]} ${args[1]} failed:\n${text}`);
  for (const line of text.split("\n")) {
    if (/^(Applying|Seeding|Remote database is up to date)/.test(line)) log(`  ${line}`);
  }
}

/**
 * The environment a function gets, in the platform's names and formats (supabase.com/docs/guides/
 * functions/secrets; supabase/cli `internal/functions/serve`): the project's URL, database URL,
 * JWKS, both forms of API keys, plus the project's own secrets. Nothing else is inherited: the
 * CLI also drops HOME and PATH from a worker's environment.
 */
export function functionEnv(
  info: Omit<StackInfo, "functions" | "seed" | "pids">,
): Record<string, string> {
  const env: Record<string, string> = {
    SUPABASE_URL: info.apiUrl,
    SUPABASE_DB_URL: info.dbUrl,
    SUPABASE_JWKS: info.supabaseJwks,
    SUPABASE_ANON_KEY: info.tokens.anon,
    SUPABASE_SERVICE_ROLE_KEY: info.tokens.serviceRole,
    SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: info.apiKeys.publishable }),
    SUPABASE_SECRET_KEYS: JSON.stringify({ default: info.apiKeys.secret }),
    TWILIO_ACCOUNT_SID: info.twilio.accountSid,
    TWILIO_AUTH_TOKEN: info.twilio.authToken,
    TWILIO_PHONE_NUMBER: info.twilio.phoneNumber,
    TWILIO_API_BASE_URL: info.sandboxUrl,
    TWILIO_WEBHOOK_URL: info.twilio.webhookUrl,
    // The sandbox does not answer STOP/START/HELP itself (Twilio's default handling); its
    // Advanced Opt-Out simulation sends OptOutType, which the webhook honours either way.
    TWILIO_OPT_OUT_HANDLING: "off",
    PROCESS_RETRIES_SECRET: info.processRetriesSecret,
  };
  // Deno itself must find its module cache (it would look under HOME), and must not install
  // package.json's tools for a function; these are the runtime's settings, not the app's.
  env.DENO_NO_PACKAGE_JSON = "1";
  env.DENO_DIR = Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME") ?? "/root"}/.cache/deno`;
  const tz = Deno.env.get("TZ");
  if (tz !== undefined) env.TZ = tz;
  return env;
}

async function readSeed(sql: postgres.Sql): Promise<StackInfo["seed"]> {
  const businesses = await sql<
    { id: string; name: string; users: { id: string; email: string }[] }[]
  >`
    select b.id, b.name,
           coalesce(jsonb_agg(jsonb_build_object('id', u.id, 'email', u.email) order by u.email)
                    filter (where u.id is not null), '[]') as users
      from public.businesses b
      left join public.business_members m on m.business_id = b.id
      left join auth.users u on u.id = m.user_id
     group by b.id, b.name order by b.name`;
  const customers = await sql<StackInfo["seed"]["customers"]>`
    select id, business_id as "businessId", name, phone, phone_status as "phoneStatus",
           sms_consent_status as "smsConsentStatus"
      from public.customers order by business_id, id`;
  return { businesses: [...businesses], customers: [...customers] };
}

/** A local Postgres with the platform stand-ins, the migrations and the seed applied. */
export interface LocalDatabase {
  dataDir: string;
  /** As `postgres`, the role migrations run as. */
  url: string;
  /** As `supabase_admin`, the platform's superuser. */
  adminUrl: string;
  stop(): Promise<void>;
}

/**
 * The database part of the stack on its own: Postgres in `<stateDir>/pg` (or under /tmp when
 * the postgres user cannot reach it), the platform stand-ins, then `supabase db push`. Used by
 * `startStack` and by `npm run gen:types`, which needs nothing else.
 */
export async function startDatabase(options: {
  stateDir: string;
  port: number;
  /** Throwaway cluster: durability off. */
  ephemeral?: boolean;
  log: (line: string) => void;
}): Promise<LocalDatabase> {
  const { port, log } = options;
  log("• Debian packages");
  await ensureDebianPackages(log);

  const dataDir = await clusterDir(options.stateDir);
  log(`• Postgres 15 on port ${port} (${dataDir})`);
  const created = await initCluster({ dataDir, port, log });
  if (await clusterRunning(dataDir)) await stopCluster(dataDir);
  await startCluster({
    dataDir,
    port,
    log,
    extraConfig: options.ephemeral
      ? { fsync: "off", synchronous_commit: "off", full_page_writes: "off" }
      : {},
  }).catch((e) => {
    // Taken between the check and the bind: the same clear message as the check's.
    if (/could not bind|Address already in use/.test((e as Error).message)) {
      throw new PortsBusyError([{ service: "Postgres", port }]);
    }
    throw e;
  });
  const stop = () => stopCluster(dataDir);
  try {
    log(created ? "  new cluster" : "  reusing existing data");
    const url = dbUrl(port);
    const adminUrl = dbUrl(port, PLATFORM_SUPERUSER);
    log("• platform stand-ins as supabase_admin (roles, auth, extensions, cron, vault, net)");
    const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
    await admin.file(join(PROJECT_ROOT, "local", "platform.sql")).finally(() => admin.end());
    log("• migrations and seed (supabase db push)");
    const digests = await migrationDigests();
    const changed = created ? [] : await changedMigrations(options.stateDir, digests);
    if (changed.length > 0) {
      throw new Error(
        `the database in ${dataDir} was built from an earlier version of ${changed.join(", ")} ` +
          `(migrations are edited in place until the first release); delete ` +
          `${options.stateDir} for a fresh database (or start with another --state-dir)`,
      );
    }
    await supabaseCli(
      ["db", "push", `--remote=${url}`, "--include-all", "--include-seed", "--yes"],
      log,
    ).catch((e: Error) => {
      // Until the first release, migrations are edited in place: a kept database may hold
      // versions the repository no longer has, and the CLI's advice (repair the history) is not
      // what a developer here wants.
      if (!created && /migration versions not found in local/i.test(e.message)) {
        throw new Error(
          `the database in ${dataDir} was built from migrations this checkout no longer has; ` +
            `delete ${options.stateDir} for a fresh database (or start with another --state-dir)`,
        );
      }
      throw e;
    });
    await recordMigrations(options.stateDir, digests);
    return { dataDir, url, adminUrl, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * Writes stack.json whole or not at all (a rename), so a reader never sees half a file while
 * the tokens are refreshed.
 */
async function writeStackJson(path: string, info: StackInfo): Promise<void> {
  const temporary = `${path}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(temporary, JSON.stringify(info, null, 2) + "\n", { mode: 0o600 });
  await Deno.rename(temporary, path);
}

/** Brings the stack up; every step logs a line. Stops what it started when a step fails. */
export async function startStack(options: StackOptions): Promise<RunningStack> {
  const log = options.log ?? ((l: string) => console.log(l));
  const pick = (name: keyof typeof DEFAULT_PORTS) => {
    const want = options.ports?.[name] ?? DEFAULT_PORTS[name];
    return options.autoPorts ? freePort(want) : want;
  };
  const ports = { api: pick("api"), db: pick("db"), demo: pick("demo"), sandbox: pick("sandbox") };
  // Before anything starts: a busy port would otherwise surface as Postgres's "could not bind"
  // after the cluster was touched, naming neither the service nor the way out.
  if (!options.autoPorts) assertPortsFree(ports);
  await Deno.mkdir(options.stateDir, { recursive: true });
  const cleanups: { what: string; run: () => Promise<void>; ms: number }[] = [];
  const cleanup = (what: string, run: () => Promise<void>, ms = IN_PROCESS_STOP_MS) =>
    cleanups.push({ what, run, ms });
  const halts: (() => void)[] = [];
  const halt = () => halts.forEach((h) => h());
  options.signal?.addEventListener("abort", halt, { once: true });
  const stopped = () => {
    if (options.signal?.aborted) throw new Error("stopped by a signal while starting");
  };
  const stop = async () => {
    halt();
    // Every step is bounded, so a server waiting on a client (an open inbox page's live
    // updates) cannot hold the rest: the steps that own processes come last and escalate.
    for (const c of cleanups.reverse()) {
      await withTimeout(c.run(), c.ms).catch((e) => log(`stop: ${c.what}: ${e.message}`));
    }
    cleanups.length = 0;
  };

  try {
    const database = await startDatabase({
      stateDir: options.stateDir,
      port: ports.db,
      ephemeral: options.ephemeral,
      log,
    });
    cleanup("Postgres", () => database.stop(), PROCESS_STOP_MS);
    stopped();
    const { dataDir, url, adminUrl } = database;
    const sql = postgres(url, { max: 4, onnotice: () => {} });
    cleanup("database pool", () => sql.end({ timeout: 5 }));

    const keys = await loadOrCreateKeys(join(options.stateDir, "jwt-keys.json"));
    const secrets = await loadOrCreateSecrets(join(options.stateDir, "secrets.json"));
    const apiUrl = `http://127.0.0.1:${ports.api}`;
    const authMode = options.authMode ?? "asymmetric";
    const tokenOpts = {
      issuer: `${apiUrl}/auth/v1`,
      expiresIn: 10 * 365 * 24 * 3600,
      mode: authMode,
    };
    const seed = await readSeed(sql);
    const stackJson = join(options.stateDir, "stack.json");
    let info: StackInfo | null = null;
    const userTokens = new UserTokens(keys, seed.businesses.flatMap((b) => b.users), {
      issuer: tokenOpts.issuer,
      mode: authMode,
      ...options.userTokens,
      // info.tokens.users is userTokens.byEmail: stack.json gets the new set as it is minted.
      onRefresh: async () => {
        if (info) await writeStackJson(stackJson, info);
      },
      log,
    });
    await userTokens.mint();
    const users = userTokens.byEmail;

    const base = {
      apiUrl,
      functionsUrl: `${apiUrl}/functions/v1`,
      jwksUrl: `${apiUrl}/auth/v1/.well-known/jwks.json`,
      dbUrl: url,
      adminDbUrl: adminUrl,
      sandboxUrl: `http://127.0.0.1:${ports.sandbox}`,
      demoUrl: `http://127.0.0.1:${ports.demo}`,
      stateDir: options.stateDir,
      dataDir,
      authMode,
      supabaseJwks: functionJwks(keys, authMode),
      tokens: {
        anon: await mintRoleToken(keys, "anon", tokenOpts),
        serviceRole: await mintRoleToken(keys, "service_role", tokenOpts),
        users,
      },
      apiKeys: { publishable: secrets.publishableKey, secret: secrets.secretKey },
      twilio: {
        accountSid: secrets.twilioAccountSid,
        authToken: secrets.twilioAuthToken,
        phoneNumber: SANDBOX_PHONE_NUMBER,
        messagingServiceSid: secrets.messagingServiceSid,
        webhookUrl: `${apiUrl}/functions/v1/twilio-webhook`,
      },
      processRetriesSecret: secrets.processRetriesSecret,
    };

    // The cron job reads these, as it reads the vault on a real project (docs/operations.md).
    await sql.begin(async (tx) => {
      await tx`delete from vault.secrets where name in ('project_url', 'process_retries_secret')`;
      await tx`select vault.create_secret(${apiUrl}, 'project_url'),
                      vault.create_secret(${secrets.processRetriesSecret}, 'process_retries_secret')`;
    });

    log(`• Twilio sandbox on port ${ports.sandbox}`);
    const sandbox = await startSandbox({
      port: ports.sandbox,
      accountSid: secrets.twilioAccountSid,
      authToken: secrets.twilioAuthToken,
      phoneNumbers: [SANDBOX_PHONE_NUMBER],
      messagingServiceSid: secrets.messagingServiceSid,
      inboundWebhookUrl: base.twilio.webhookUrl,
      log,
    });
    cleanup("Twilio sandbox", () => sandbox.close());
    stopped();

    const specs: FunctionSpec[] = [];
    for (const dir of [join(PROJECT_ROOT, "supabase"), ...(options.extraSupabaseDirs ?? [])]) {
      specs.push(...await discoverFunctions(dir));
    }
    log(`• functions: ${specs.map((s) => s.name).join(", ") || "(none yet)"}`);
    const env = functionEnv(base);
    const logDir = options.functionLogs ? join(options.stateDir, "logs") : undefined;
    if (logDir) await Deno.mkdir(logDir, { recursive: true });
    const functions = specs.map((spec) =>
      new FunctionProcess(spec, {
        port: 0,
        env,
        tag: options.stateDir,
        log,
        logFile: logDir ? join(logDir, `${spec.name}.log`) : undefined,
        quiet: options.quietFunctions,
        limits: options.limits,
      })
    );
    halts.push(() => functions.forEach((f) => f.halt()));
    if (options.signal?.aborted) halt();
    cleanup("functions", async () => {
      await Promise.all(functions.map((f) => f.stop()));
    }, PROCESS_STOP_MS);
    await Promise.all(functions.map((f) => f.start()));
    stopped();

    log(`• gateway on port ${ports.api}`);
    const gateway = startGateway({
      port: ports.api,
      jwks: publicJwks(keys, authMode),
      jwtSecret: authMode === "legacy" ? keys.jwtSecret : undefined,
      functions,
    });
    cleanup("gateway", () => gateway.shutdown());

    log(`• demo page on port ${ports.demo}`);
    const demo = await startDemo({
      port: ports.demo,
      anyPortIfBusy: options.autoPorts,
      apiUrl,
      anonKey: base.tokens.anon,
      inboxUrl: base.sandboxUrl,
      dbUrl: url,
      users,
      cacheDir: join(options.stateDir, "demo"),
      log,
    });
    cleanup("demo page", () => demo.close());
    base.demoUrl = demo.url;

    log("• pg_net worker");
    // pg_net's worker is the platform's: it connects as the superuser, not as postgres.
    const workerSql = postgres(adminUrl, { max: 4, onnotice: () => {} });
    cleanup("pg_net worker pool", () => workerSql.end({ timeout: 5 }));
    const netWorker = await startNetWorker(workerSql, { log });
    cleanup("pg_net worker", () => netWorker.stop());

    info = {
      ...base,
      ...(logDir ? { functionLogDir: logDir } : {}),
      functions: functions.map((f) => ({
        name: f.spec.name,
        verifyJwt: f.spec.verifyJwt,
        port: f.port,
      })),
      seed,
      pids: { stack: Deno.pid },
    };
    await writeStackJson(stackJson, info);
    userTokens.start();
    cleanup("user token refresh", () => userTokens.stop());
    return { info, keys, functions, netWorker, sandbox, demo, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
