/**
 * `npm test`: boots a throwaway stack (own state folder, free ports), runs the pgTAP suites, the
 * Deno tests and the static checks against it, always tears it down, and ends with one line
 * `N passed, N failed`.
 *
 * Flags: --only=<pgtap|deno|static> (repeatable) to run a part; extra args after `--` go to
 * `deno test` (e.g. a file filter).
 */
import { startStack } from "./stack.ts";
import { ensureChromium } from "./demo/chromium.ts";
import { join, PROJECT_ROOT } from "./paths.ts";

const DENO = Deno.execPath();
const SUPABASE = join(PROJECT_ROOT, "node_modules", ".bin", "supabase");

interface Tally {
  passed: number;
  failed: number;
  failures: string[];
}
const tally: Tally = { passed: 0, failed: 0, failures: [] };

const sep = Deno.args.indexOf("--");
const flags = sep >= 0 ? Deno.args.slice(0, sep) : Deno.args;
const denoTestArgs = sep >= 0 ? Deno.args.slice(sep + 1) : [];
const only = flags.filter((a) => a.startsWith("--only=")).map((a) => a.slice(7));
const wants = (part: string) => only.length === 0 || only.includes(part);

async function run(
  label: string,
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; output: string }> {
  console.log(`\n── ${label}`);
  const child = new Deno.Command(cmd, {
    args,
    cwd: PROJECT_ROOT,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Stream to the console and keep a copy to count results.
  let output = "";
  const dec = new TextDecoder();
  const pump = async (stream: ReadableStream<Uint8Array>, sink: typeof Deno.stdout) => {
    for await (const chunk of stream) {
      output += dec.decode(chunk, { stream: true });
      await sink.write(chunk);
    }
  };
  const [status] = await Promise.all([
    child.status,
    pump(child.stdout, Deno.stdout),
    pump(child.stderr, Deno.stderr),
  ]);
  return { code: status.code, output };
}

function count(label: string, passed: number, failed: number) {
  tally.passed += passed;
  tally.failed += failed;
  if (failed > 0) tally.failures.push(`${label}: ${failed} failed`);
}

// deno-lint-ignore no-control-regex
const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "");

async function staticCheck(label: string, cmd: string, args: string[]) {
  const r = await run(label, cmd, args);
  count(label, r.code === 0 ? 1 : 0, r.code === 0 ? 0 : 1);
}

async function pgtap(dbUrl: string) {
  const dir = join(PROJECT_ROOT, "supabase", "tests", "database");
  const files: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.name.endsWith(".test.sql")) files.push(e.name);
  if (files.length === 0) return;
  files.sort();
  const url = new URL(dbUrl);
  const r = await run("pgTAP (pg_prove)", "pg_prove", [
    "--verbose",
    "--host",
    url.hostname,
    "--port",
    url.port,
    "--username",
    "postgres",
    "--dbname",
    "postgres",
    ...files.map((f) => join("supabase", "tests", "database", f)),
  ], { PGPASSWORD: "postgres" });
  const lines = stripAnsi(r.output).split("\n");
  const ok = lines.filter((l) => /^\s*ok \d+/.test(l)).length;
  let notOk = lines.filter((l) => /^\s*not ok \d+/.test(l)).length;
  // A suite that dies before its plan is met fails without printing `not ok`.
  if (r.code !== 0 && notOk === 0) notOk = 1;
  count("pgTAP", ok, notOk);
}

/** True when the `deno test` selection includes tests/browser/ (the default selection does). */
function selectsBrowserTests(): boolean {
  const paths = denoTestArgs.filter((a) => !a.startsWith("-"));
  if (paths.length === 0) return true;
  return paths.map((p) => p.replace(/^\.\//, "").replace(/\/+$/, "")).some((p) =>
    p === "" || p === "." || "tests/browser".startsWith(p) || p.startsWith("tests/browser")
  );
}

async function denoTests(stackJson: string) {
  if (selectsBrowserTests()) {
    // Browser tests drive Debian's Chromium; install it when we can, else they are skipped.
    const chromium = await ensureChromium((l) => console.log(l));
    if (!chromium.ok) console.log(`\n⚠ browser tests will be skipped: ${chromium.reason}`);
  }
  const r = await run("Deno tests", DENO, [
    "test",
    "-A",
    "--no-check",
    ...(denoTestArgs.length ? denoTestArgs : ["tests/"]),
  ], { STACK_JSON: stackJson });
  const m = /ok \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/.exec(stripAnsi(r.output)) ??
    /FAILED \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/.exec(stripAnsi(r.output));
  if (m) count("Deno tests", Number(m[1]), Number(m[2]));
  else count("Deno tests", 0, 1);
  if (m && r.code !== 0 && Number(m[2]) === 0) count("Deno tests (exit code)", 0, 1);
}

const stateDir = await Deno.makeTempDir({ prefix: "sms-test-" });
// Postgres (running as its own user) must traverse the folder.
await Deno.chmod(stateDir, 0o755);
let stack: Awaited<ReturnType<typeof startStack>> | null = null;
try {
  if (wants("static")) {
    await staticCheck("deno fmt --check", DENO, ["fmt", "--check"]);
    await staticCheck("deno lint", DENO, ["lint"]);
    await staticCheck("deno check", DENO, ["check", "."]);
  }
  if (wants("pgtap") || wants("deno") || wants("static")) {
    console.log("\n── starting a throwaway stack");
    stack = await startStack({
      stateDir,
      // Ports the OS picks: Supabase's defaults (54321-54324) belong to `npm start`, and a test
      // stack that took a default port freed by a developer's stack would race with it.
      ports: { api: 0, db: 0, demo: 0, sandbox: 0 },
      autoPorts: true,
      ephemeral: true,
      functionLogs: true,
      extraSupabaseDirs: [join(PROJECT_ROOT, "tests", "fixtures", "supabase")],
      log: (l) => console.log(l),
    });
  }
  if (stack && wants("static")) {
    await staticCheck("supabase db lint", SUPABASE, [
      "db",
      "lint",
      `--remote=${stack.info.dbUrl}`,
      "--schema",
      "public,sms",
      "--fail-on",
      "error",
    ]);
    // shared/database.types.ts must be what the migrations generate (local/gen-types.ts).
    await staticCheck("generated types match the migrations", DENO, [
      "run",
      "-A",
      "local/gen-types.ts",
      "--check",
      `--db-url=${stack.info.dbUrl}`,
    ]);
  }
  if (stack && wants("pgtap")) await pgtap(stack.info.dbUrl);
  if (stack && wants("deno")) await denoTests(join(stateDir, "stack.json"));
} catch (e) {
  console.error(`\ntest run aborted: ${(e as Error).stack ?? e}`);
  count("runner", 0, 1);
} finally {
  if (stack) {
    console.log("\n── stopping the stack");
    await stack.stop();
  }
  await Deno.remove(stateDir, { recursive: true }).catch(() => {});
  if (stack && stack.info.dataDir.startsWith("/tmp/sms-stack-")) {
    await Deno.remove(stack.info.dataDir.replace(/\/pg$/, ""), { recursive: true }).catch(() => {});
  }
}

if (tally.failures.length) console.log(`\nfailures:\n  ${tally.failures.join("\n  ")}`);
console.log(`\n${tally.passed} passed, ${tally.failed} failed`);
Deno.exit(tally.failed === 0 && tally.passed > 0 ? 0 : 1);
