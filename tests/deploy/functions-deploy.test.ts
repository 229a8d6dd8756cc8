/**
 * `supabase functions deploy --use-api`, run with the project's own Supabase CLI (node_modules)
 * against a local stand-in of the Management API: what each function's deploy carries.
 *
 * No network: the CLI's API host comes from a profile file (`--profile <path>`: a profile is a
 * file with `api_url`, `dashboard_url`, `project_host`; apps/cli-go/internal/utils/profile.go in
 * github.com/supabase/cli), the access token from `SUPABASE_ACCESS_TOKEN` (`sbp_` + 40 hex,
 * internal/utils/access_token.go), any other HTTP(S) request goes to a dead proxy, and the CLI's
 * daily release check is skipped by a fresh `supabase/.temp/cli-latest` (cmd/root.go
 * `shouldFetchRelease`). The CLI runs in a copy of the project (it writes `supabase/.temp/`), a
 * copy that keeps local/, tests/, bench/ and docs/ so that uploading them would show.
 */
import assert from "node:assert/strict";
import { parse as parseToml } from "smol-toml";
import { join, PROJECT_ROOT } from "@local/paths.ts";
import { type CapturedUpload, type ManagementApi, startManagementApi } from "./management-api.ts";

const CLI = join(PROJECT_ROOT, "node_modules", ".bin", "supabase");
const DENO = Deno.execPath();
/** A project ref is 20 lowercase letters. */
const PROJECT_REF = "smsdeploytestproject";
const ACCESS_TOKEN = `sbp_${"0123456789abcdef".repeat(3).slice(0, 40)}`;

/** verify_jwt per function, as the contract in DESIGN.md has it. */
const EXPECTED: Record<string, boolean> = {
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

interface DeployRun {
  code: number;
  output: string;
  api: ManagementApi;
}

/** Runs `supabase functions deploy --use-api` in a copy of the project; `args` are appended. */
async function deploy(args: string[]): Promise<DeployRun> {
  const work = await Deno.makeTempDir({ prefix: "sms-deploy-" });
  const api = await startManagementApi();
  try {
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
    const out = await new Deno.Command(CLI, {
      args: [
        "functions",
        "deploy",
        "--use-api",
        `--remote=${PROJECT_REF}`,
        `--profile=${profile}`,
        // CLI 3 asks before changing a hosted project, and refuses without a terminal.
        "--yes",
        ...args,
      ],
      cwd: project,
      clearEnv: true,
      env: {
        HOME: home,
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
        SUPABASE_ACCESS_TOKEN: ACCESS_TOKEN,
        DO_NOT_TRACK: "1",
        SUPABASE_TELEMETRY_DISABLED: "1",
        HTTP_PROXY: "http://127.0.0.1:9",
        HTTPS_PROXY: "http://127.0.0.1:9",
        NO_PROXY: "127.0.0.1,localhost",
      },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    return { code: out.code, output: dec.decode(out.stdout) + dec.decode(out.stderr), api };
  } finally {
    await api.close();
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
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

Deno.test("functions deploy uploads each function with its own import map and the common module only", async () => {
  const config = parseToml(
    await Deno.readTextFile(join(PROJECT_ROOT, "supabase", "config.toml")),
  ) as { functions: Record<string, { verify_jwt?: boolean; import_map?: string }> };
  const slugs = Object.keys(EXPECTED).sort();
  assert.deepEqual(Object.keys(config.functions).sort(), slugs);

  // The runbook's command (docs/operations.md), every function named.
  const run = await deploy(slugs);
  assert.equal(run.code, 0, run.output);
  const { api } = run;

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
  assert.deepEqual(
    (api.bulkUpdates[0] as { slug: string }[]).map((f) => f.slug).sort(),
    slugs,
  );

  for (const upload of api.uploads.sort((a, b) => a.slug.localeCompare(b.slug))) {
    const slug = upload.slug;
    const dir = `supabase/functions/${slug}/`;
    console.log(describe(upload));

    assert.equal(upload.metadata.name, slug);
    assert.equal(upload.metadata.entrypoint_path, `${dir}index.ts`);
    assert.equal(upload.metadata.verify_jwt, EXPECTED[slug], `${slug}: verify_jwt`);
    assert.equal(upload.metadata.verify_jwt, config.functions[slug].verify_jwt ?? true);
    assert.equal(upload.metadata.import_map_path, `${dir}deno.json`);
    assert.equal(config.functions[slug].import_map, `./functions/${slug}/deno.json`);

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
});

Deno.test("the root deno.json as import map would upload the local stack (the check above can fail)", async () => {
  // The layout before the functions-only maps: the CLI follows every `@local/…` it can match.
  const run = await deploy(["--import-map=deno.json", "send-sms"]);
  assert.equal(run.code, 0, run.output);
  assert.equal(run.api.uploads.length, 1);
  const files = [...run.api.uploads[0].files.keys()];
  assert.equal(run.api.uploads[0].metadata.import_map_path, "deno.json");
  assert.ok(
    files.some((f) => f.startsWith("local/")),
    `expected local/ files among ${files.length}: ${files.join(" ")}`,
  );
});
