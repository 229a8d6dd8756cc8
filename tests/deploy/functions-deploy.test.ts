/**
 * docs/operations.md's `supabase secrets set` and `supabase functions deploy` lines, run as
 * written (bash, the project's own Supabase CLI from node_modules) against a local stand-in of the
 * Management API: what each function's deploy carries, which secrets are sent.
 *
 * No network: the CLI's API host comes from a profile file (`SUPABASE_PROFILE=<path>`, as
 * `--profile`; a profile holds `api_url`, `dashboard_url`, `project_host`:
 * apps/cli-go/internal/utils/profile.go in github.com/supabase/cli), the access token from
 * `SUPABASE_ACCESS_TOKEN` (`sbp_` + 40 hex, internal/utils/access_token.go), any other HTTP(S)
 * request goes to a dead proxy, and the CLI's release check is skipped by a fresh
 * `supabase/.temp/cli-latest` (cmd/root.go `shouldFetchRelease`). The CLI runs in a copy of the
 * project (it writes `supabase/.temp/`) that keeps local/, tests/, bench/ and docs/, so that
 * uploading them would show.
 */
import assert from "node:assert/strict";
import { parse as parseToml } from "smol-toml";
import { join, PROJECT_ROOT } from "@local/paths.ts";
import { type CapturedUpload, type ManagementApi, startManagementApi } from "./management-api.ts";

const DENO = Deno.execPath();
/** A project ref is 20 lowercase letters. */
const PROJECT_REF = "smsdeploytestproject";
const ACCESS_TOKEN = `sbp_${"0123456789abcdef".repeat(3).slice(0, 40)}`;
const CRON_SECRET = "cron-secret-from-the-operators-shell";

/** verify_jwt per function, as the contract in DESIGN.md has it. */
const EXPECTED: Record<string, boolean> = {
  campaigns: true,
  "process-retries": false,
  "send-sms": true,
  "twilio-webhook": false,
};

/** Folders of the project no deploy may upload. */
const NEVER_UPLOADED = [
  "local/",
  "tests/",
  "bench/",
  "docs/",
  "node_modules/",
  "supabase/migrations/",
];

/** Copies the project (without its dependencies, state and git data) into `dest`. */
async function copyProject(src: string, dest: string): Promise<void> {
  const skip = (name: string) =>
    name === "node_modules" || name === ".git" || name.startsWith(".local") ||
    name === "test-artifacts" || name === ".temp";
  await Deno.mkdir(dest, { recursive: true });
  for await (const e of Deno.readDir(src)) {
    if (skip(e.name)) continue;
    const from = join(src, e.name);
    const to = join(dest, e.name);
    if (e.isDirectory) await copyProject(from, to);
    else if (e.isFile) await Deno.copyFile(from, to);
  }
}

interface CliSession {
  api: ManagementApi;
  /** Runs a bash command line (the CLI as `supabase` on PATH) in the project copy. */
  sh(line: string): Promise<{ code: number; output: string }>;
  close(): Promise<void>;
}

/** A copy of the project, a Management API stand-in and the environment the CLI gets. */
async function cliSession(): Promise<CliSession> {
  const work = await Deno.makeTempDir({ prefix: "sms-deploy-" });
  const api = await startManagementApi();
  const project = join(work, "project");
  await copyProject(PROJECT_ROOT, project);
  await Deno.mkdir(join(project, "supabase", ".temp"), { recursive: true });
  await Deno.writeTextFile(join(project, "supabase", ".temp", "cli-latest"), "");
  const home = join(work, "home");
  await Deno.mkdir(home);
  const profile = join(work, "profile.json");
  await Deno.writeTextFile(
    profile,
    JSON.stringify({
      name: "capture",
      api_url: api.url,
      dashboard_url: `${api.url}/dashboard`,
      project_host: "supabase.co",
    }),
  );
  const env: Record<string, string> = {
    HOME: home,
    PATH: `${join(PROJECT_ROOT, "node_modules", ".bin")}:${
      Deno.env.get("PATH") ?? "/usr/bin:/bin"
    }`,
    SUPABASE_ACCESS_TOKEN: ACCESS_TOKEN,
    // Same as `--profile <path>`.
    SUPABASE_PROFILE: profile,
    DO_NOT_TRACK: "1",
    SUPABASE_TELEMETRY_DISABLED: "1",
    HTTP_PROXY: "http://127.0.0.1:9",
    HTTPS_PROXY: "http://127.0.0.1:9",
    NO_PROXY: "127.0.0.1,localhost",
    // What the runbook's shell holds.
    REF: PROJECT_REF,
    SMS_PROJECT_URL: `https://${PROJECT_REF}.supabase.co`,
    PROCESS_RETRIES_SECRET: CRON_SECRET,
  };
  return {
    api,
    async sh(line) {
      const out = await new Deno.Command("bash", {
        args: ["-c", line],
        cwd: project,
        clearEnv: true,
        env,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      return { code: out.code, output: dec.decode(out.stdout) + dec.decode(out.stderr) };
    },
    async close() {
      await api.close();
      await Deno.remove(work, { recursive: true }).catch(() => {});
    },
  };
}

/** The runbook's `supabase secrets set` and `supabase functions deploy` lines, as written. */
async function runbook(): Promise<{ secrets: string; deploy: string }> {
  const doc = await Deno.readTextFile(join(PROJECT_ROOT, "docs", "operations.md"));
  const section = doc.slice(doc.indexOf("## Deploy\n"));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? "";
  const lines = block.replace(/\\\n\s*/g, "").split("\n").map((l) => l.trim());
  const secrets = lines.filter((l) => l.startsWith("supabase secrets set "));
  const deploy = lines.filter((l) => l.startsWith("supabase functions deploy "));
  assert.equal(secrets.length, 1, `one secrets set line in:\n${block}`);
  assert.equal(deploy.length, 1, `one functions deploy line in:\n${block}`);
  return { secrets: secrets[0], deploy: deploy[0] };
}

/** Project-relative paths of the local modules in `entry`'s graph under `config`. */
async function moduleGraph(entry: string, config: string): Promise<string[]> {
  const out = await new Deno.Command(DENO, {
    args: ["info", "--json", "--no-lock", `--config=${config}`, entry],
    cwd: PROJECT_ROOT,
    env: { DENO_NO_PACKAGE_JSON: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const graph = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    modules: { specifier: string }[];
  };
  const root = `file://${PROJECT_ROOT}/`;
  return graph.modules.map((m) => m.specifier).filter((s) => s.startsWith(root))
    .map((s) => decodeURIComponent(s.slice(root.length))).sort();
}

function describe(upload: CapturedUpload): string {
  const files = [...upload.files.keys()].sort();
  return `${upload.slug}: ${files.length} files\n${files.map((f) => `  ${f}`).join("\n")}`;
}

Deno.test("the runbook's functions deploy uploads each function with its own import map and the common module only", async () => {
  const config = parseToml(
    await Deno.readTextFile(join(PROJECT_ROOT, "supabase", "config.toml")),
  ) as { functions: Record<string, { verify_jwt?: boolean; import_map?: string }> };
  const slugs = Object.keys(EXPECTED).sort();
  assert.deepEqual(Object.keys(config.functions).sort(), slugs);

  const { deploy } = await runbook();
  const session = await cliSession();
  try {
    const run = await session.sh(deploy);
    assert.equal(run.code, 0, `${deploy}\n${run.output}`);
    const { api } = session;

    // Only the deploy endpoints, and the CLI's own project lookup (cmd/root.go
    // ensureProjectGroupsCached, answered 404 here): nothing else was asked of the API.
    for (const r of api.requests) {
      assert.equal(r.authorization, `Bearer ${ACCESS_TOKEN}`);
      const known =
        (r.method === "POST" && r.path === `/v1/projects/${PROJECT_REF}/functions/deploy`) ||
        (r.method === "PUT" && r.path === `/v1/projects/${PROJECT_REF}/functions`) ||
        (r.method === "GET" && r.path === `/v1/projects/${PROJECT_REF}`);
      assert.ok(known, `unexpected request ${r.method} ${r.path}${r.query}`);
    }
    assert.deepEqual(api.uploads.map((u) => u.slug).sort(), slugs);
    // Several functions: each is bundled on its own, then one bulk update makes them live.
    assert.ok(api.uploads.every((u) => u.bundleOnly));
    assert.equal(api.bulkUpdates.length, 1);
    assert.deepEqual((api.bulkUpdates[0] as { slug: string }[]).map((f) => f.slug).sort(), slugs);

    for (const upload of [...api.uploads].sort((a, b) => a.slug.localeCompare(b.slug))) {
      const slug = upload.slug;
      const dir = `supabase/functions/${slug}/`;
      console.log(describe(upload));

      assert.equal(upload.metadata.name, slug);
      assert.equal(upload.metadata.entrypoint_path, `${dir}index.ts`);
      assert.equal(upload.metadata.verify_jwt, EXPECTED[slug], `${slug}: verify_jwt`);
      assert.equal(upload.metadata.verify_jwt, config.functions[slug].verify_jwt ?? true);
      assert.equal(upload.metadata.import_map_path, `${dir}deno.json`);

      const files = [...upload.files.keys()];
      for (const f of files) {
        assert.ok(f.startsWith(dir) || f.startsWith("shared/"), `${slug} uploaded ${f}`);
        for (const never of NEVER_UPLOADED) assert.ok(!f.startsWith(never), `${slug}: ${f}`);
        // What was sent is the file in the repository, byte for byte.
        assert.equal(upload.files.get(f), await Deno.readTextFile(join(PROJECT_ROOT, f)), f);
      }
      // The import map itself travels with the function, and maps the common module.
      const map = JSON.parse(upload.files.get(`${dir}deno.json`) ?? "null") as {
        imports: Record<string, string>;
      };
      assert.equal(map.imports["@shared/"], "../../../shared/");

      // Nothing the function loads is left behind: its whole local module graph is uploaded.
      const graph = await moduleGraph(`${dir}index.ts`, `${dir}deno.json`);
      assert.ok(graph.length > 5, `${slug}: graph ${graph}`);
      const missing = graph.filter((m) => !upload.files.has(m));
      assert.deepEqual(missing, [], `${slug}: modules not uploaded`);
    }
  } finally {
    await session.close();
  }
});

Deno.test("the runbook's secrets set sends its names; the CLI drops SUPABASE_ names", async () => {
  const { secrets } = await runbook();
  const session = await cliSession();
  try {
    const run = await session.sh(secrets);
    assert.equal(run.code, 0, `${secrets}\n${run.output}`);
    assert.equal(session.api.secrets.length, 1);
    const sent = Object.fromEntries(session.api.secrets[0].map((s) => [s.name, s.value]));
    assert.deepEqual(Object.keys(sent).sort(), [
      "PROCESS_RETRIES_SECRET",
      "TWILIO_ACCOUNT_SID",
      "TWILIO_AUTH_TOKEN",
      "TWILIO_MESSAGING_SERVICE_SID",
      "TWILIO_WEBHOOK_URL",
    ]);
    assert.equal(sent.PROCESS_RETRIES_SECRET, CRON_SECRET);
    assert.equal(
      sent.TWILIO_WEBHOOK_URL,
      `https://${PROJECT_REF}.supabase.co/functions/v1/twilio-webhook`,
    );

    // Why operators are never asked for a SUPABASE_* secret (internal/secrets/set/set.go).
    const refused = await session.sh(
      `supabase secrets set --remote="$REF" --yes SUPABASE_JWT_SECRET=x SMS_DAILY_QUOTA=500`,
    );
    assert.equal(refused.code, 0, refused.output);
    assert.match(refused.output, /cannot start with SUPABASE_/);
    assert.deepEqual(session.api.secrets[1], [{ name: "SMS_DAILY_QUOTA", value: "500" }]);
  } finally {
    await session.close();
  }
});

Deno.test("the root deno.json as import map would upload the local stack (the check above can fail)", async () => {
  // The layout before the functions-only maps: the CLI follows every `@local/…` it can match.
  const session = await cliSession();
  try {
    const run = await session.sh(
      `supabase functions deploy --use-api --remote="$REF" --yes --import-map=deno.json send-sms`,
    );
    assert.equal(run.code, 0, run.output);
    assert.equal(session.api.uploads.length, 1);
    const [upload] = session.api.uploads;
    const files = [...upload.files.keys()];
    assert.equal(upload.metadata.import_map_path, "deno.json");
    assert.ok(
      files.some((f) => f.startsWith("local/")),
      `expected local/ files among ${files.length}: ${files.join(" ")}`,
    );
  } finally {
    await session.close();
  }
});
