/**
 * The local Postgres 15 cluster: Debian packages, initdb, start and stop.
 *
 * Postgres refuses to run as root, so when we are root every server command runs through
 * `runuser -u postgres`, and the data directory lives where that user can reach it.
 */

/** Debian packages the stack needs on top of the PostgreSQL 15 server. */
export const DEBIAN_PACKAGES = [
  "postgresql-15-cron",
  "postgresql-15-pgtap",
  "postgresql-15-plpgsql-check",
  "postgresql-15-pgaudit",
];

const PG_BIN = "/usr/lib/postgresql/15/bin";

/** Where a cluster lives and how it listens. */
export interface ClusterOptions {
  /** Data directory (created when missing). */
  dataDir: string;
  /** TCP port on localhost. */
  port: number;
  /** Extra `postgresql.conf` settings, e.g. `fsync = off` for throwaway test clusters. */
  extraConfig?: Record<string, string>;
  /** Progress lines. */
  log?: (line: string) => void;
}

const isRoot = () => Deno.uid() === 0;

async function run(
  cmd: string,
  args: string[],
  opts: { asPostgres?: boolean; env?: Record<string, string> } = {},
): Promise<{ code: number; output: string }> {
  const [bin, argv] = opts.asPostgres && isRoot()
    ? ["runuser", ["-u", "postgres", "--", cmd, ...args]]
    : [cmd, args];
  const out = await new Deno.Command(bin, {
    args: argv,
    env: opts.env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, output: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

async function installed(pkg: string): Promise<boolean> {
  const r = await run("dpkg-query", ["-W", "-f=${Status}", pkg]).catch(() => null);
  return r !== null && r.code === 0 && r.output.includes("install ok installed");
}

/**
 * Installs the missing Debian packages when root; otherwise fails with the command to run.
 */
export async function ensureDebianPackages(log: (line: string) => void): Promise<void> {
  const missing: string[] = [];
  for (const pkg of ["postgresql-15", ...DEBIAN_PACKAGES]) {
    if (!(await installed(pkg))) missing.push(pkg);
  }
  if (missing.length === 0) return;
  if (!isRoot()) {
    throw new Error(
      `missing Debian packages: ${missing.join(" ")}\n` +
        `install them with: sudo apt-get update && sudo apt-get install -y ${missing.join(" ")}`,
    );
  }
  log(`installing Debian packages: ${missing.join(" ")}`);
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  const update = await run("apt-get", ["update", "-qq"], { env });
  if (update.code !== 0) throw new Error(`apt-get update failed:\n${update.output}`);
  const inst = await run("apt-get", ["install", "-y", "-qq", ...missing], { env });
  if (inst.code !== 0) throw new Error(`apt-get install failed:\n${inst.output}`);
}

/** True when the `postgres` user can reach `dir` (every parent traversable). */
export async function reachableByPostgres(dir: string): Promise<boolean> {
  if (!isRoot()) return true;
  const r = await run("runuser", ["-u", "postgres", "--", "test", "-x", dir]);
  return r.code === 0;
}

/**
 * The cluster's bootstrap superuser: the platform's role, as on hosted Supabase. `postgres` (the
 * role migrations and functions use) is created by local/platform.sql without superuser.
 */
export const PLATFORM_SUPERUSER = "supabase_admin";

/** Written into the data directory of clusters whose bootstrap superuser is PLATFORM_SUPERUSER. */
const LAYOUT_MARKER = "sms-stack-bootstrap-supabase_admin";

/**
 * Creates the cluster on first use; returns true when it was created now. A cluster from before
 * the hosted role layout (bootstrap superuser `postgres`, which Postgres cannot demote) is moved
 * aside to `<dataDir>.pre-supabase-admin-<time>` and a new one is created.
 */
export async function initCluster(opts: ClusterOptions): Promise<boolean> {
  const log = opts.log ?? (() => {});
  const exists = await Deno.stat(`${opts.dataDir}/PG_VERSION`).then(() => true, () => false);
  if (exists) {
    const current = await Deno.stat(`${opts.dataDir}/${LAYOUT_MARKER}`).then(
      () => true,
      () => false,
    );
    if (current) return false;
    const aside = `${opts.dataDir}.pre-supabase-admin-${Date.now()}`;
    log(`cluster in ${opts.dataDir} has postgres as superuser; moving it to ${aside}`);
    await stopCluster(opts.dataDir);
    await Deno.rename(opts.dataDir, aside);
  }
  log(`initialising Postgres cluster in ${opts.dataDir}`);
  const parent = opts.dataDir.replace(/\/[^/]+\/?$/, "") || "/";
  await Deno.mkdir(parent, { recursive: true, mode: 0o755 });
  await Deno.mkdir(opts.dataDir, { mode: 0o700 });
  if (isRoot()) await run("chown", ["-R", "postgres:postgres", opts.dataDir]);
  const pwfile = `${opts.dataDir}.pw`;
  await Deno.writeTextFile(pwfile, "postgres\n");
  if (isRoot()) await run("chown", ["postgres:postgres", pwfile]);
  const init = await run(`${PG_BIN}/initdb`, [
    "-D",
    opts.dataDir,
    "-U",
    PLATFORM_SUPERUSER,
    "--auth-local=trust",
    "--auth-host=scram-sha-256",
    `--pwfile=${pwfile}`,
    "--encoding=UTF8",
    "--locale=C.UTF-8",
  ], { asPostgres: true });
  await Deno.remove(pwfile).catch(() => {});
  if (init.code !== 0) throw new Error(`initdb failed:\n${init.output}`);
  await Deno.writeTextFile(`${opts.dataDir}/${LAYOUT_MARKER}`, `${PLATFORM_SUPERUSER}\n`);
  return true;
}

function configLines(opts: ClusterOptions): string {
  const settings: Record<string, string> = {
    port: String(opts.port),
    listen_addresses: "'localhost'",
    // Socket paths are limited to ~100 bytes; a deep data folder would not fit.
    unix_socket_directories: "'/tmp'",
    // The hosted list (supabase/postgres ansible/files/postgresql_config/postgresql.conf.j2:
    // pg_stat_statements, pg_stat_monitor, pgaudit, plpgsql, plpgsql_check, pg_cron, pg_net,
    // pgsodium, timescaledb, auto_explain, in that order) less what Debian has no package for
    // and pg_net, whose stand-in is local/net-worker.ts. pgaudit logs nothing until a project
    // sets `pgaudit.log` (Supabase's pgaudit guide), so none is set here. A backend then starts
    // with plpgsql loaded, as there, instead of loading it at its first function call.
    shared_preload_libraries:
      "'pg_stat_statements, pgaudit, plpgsql, plpgsql_check, pg_cron, auto_explain'",
    // conf.d/autoexplain.conf of the same repository.
    "auto_explain.log_min_duration": "'10s'",
    "cron.database_name": "'postgres'",
    // Jobs run in background workers, so pg_cron needs no password to reach the database.
    "cron.use_background_workers": "on",
    max_worker_processes: "32",
    max_connections: "200",
    ...opts.extraConfig,
  };
  return Object.entries(settings).map(([k, v]) => `${k} = ${v}`).join("\n") + "\n";
}

/** Starts the server (rewriting the stack's settings each time) and waits until it accepts. */
export async function startCluster(opts: ClusterOptions): Promise<void> {
  // A separate include file keeps initdb's postgresql.conf untouched and lets ports change.
  const conf = `${opts.dataDir}/postgresql.conf`;
  const text = await Deno.readTextFile(conf);
  if (!text.includes("include_if_exists = 'stack.conf'")) {
    await Deno.writeTextFile(conf, text + "\ninclude_if_exists = 'stack.conf'\n");
  }
  await Deno.writeTextFile(`${opts.dataDir}/stack.conf`, configLines(opts));
  if (isRoot()) await run("chown", ["postgres:postgres", `${opts.dataDir}/stack.conf`]);
  const r = await run(`${PG_BIN}/pg_ctl`, [
    "-D",
    opts.dataDir,
    "-l",
    `${opts.dataDir}/server.log`,
    "-w",
    "-t",
    "60",
    "start",
  ], { asPostgres: true });
  if (r.code !== 0) {
    const logText = await Deno.readTextFile(`${opts.dataDir}/server.log`).catch(() => "");
    throw new Error(
      `pg_ctl start failed:\n${r.output}\n${logText.split("\n").slice(-20).join("\n")}`,
    );
  }
}

/**
 * Stops the server if it runs: fast mode (active sessions are ended, a clean checkpoint), then
 * immediate mode if that has not finished within 30 s (a busy machine; crash recovery on the
 * next start, as after a power cut, loses nothing committed). pg_ctl puts the server in its own
 * session, so a signal to `npm start`'s process group never reaches it: this is what stops it.
 */
export async function stopCluster(dataDir: string): Promise<void> {
  const fast = await run(`${PG_BIN}/pg_ctl`, [
    "-D",
    dataDir,
    "-m",
    "fast",
    "-w",
    "-t",
    "30",
    "stop",
  ], {
    asPostgres: true,
  });
  if (fast.code === 0 || !(await clusterRunning(dataDir))) return;
  await run(`${PG_BIN}/pg_ctl`, ["-D", dataDir, "-m", "immediate", "-w", "-t", "20", "stop"], {
    asPostgres: true,
  });
}

/** True when a server is running on this data directory. */
export async function clusterRunning(dataDir: string): Promise<boolean> {
  const r = await run(`${PG_BIN}/pg_ctl`, ["-D", dataDir, "status"], { asPostgres: true });
  return r.code === 0;
}
