/**
 * The functions' own import maps (`supabase/functions/<name>/deno.json`, the ones deploy uploads
 * and the local function host runs them with) against the root deno.json (tests, bench, local).
 */
import assert from "node:assert/strict";
import { parse as parseToml } from "smol-toml";
import { join, PROJECT_ROOT } from "@local/paths.ts";
import { discoverFunctions } from "@local/functions.ts";

interface DenoJson {
  imports?: Record<string, string>;
  lock?: boolean;
}

const readJson = async (path: string) => JSON.parse(await Deno.readTextFile(path)) as DenoJson;
const root = await readJson(join(PROJECT_ROOT, "deno.json"));
const FUNCTION_DIRS = [
  join(PROJECT_ROOT, "supabase"),
  join(PROJECT_ROOT, "tests", "fixtures", "supabase"),
];

/** `deno check` of `entry` resolving bare specifiers through `importMap` and nothing else. */
async function checkWithOnly(importMap: string, entry: string) {
  // `--no-config`: with `--config=`, Deno 2.9 also resolves through an ancestor deno.json once a
  // map points outside its folder (the platform has no such fallback; Deno 2.1.4 neither).
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["check", "--quiet", "--no-config", "--no-lock", `--import-map=${importMap}`, entry],
    cwd: PROJECT_ROOT,
    env: { DENO_NO_PACKAGE_JSON: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("every function has its own import map whose pins agree with the root deno.json", async () => {
  let count = 0;
  for (const dir of FUNCTION_DIRS) {
    for (const fn of await discoverFunctions(dir)) {
      const mapPath = fn.entry.replace(/[^/]*$/, "deno.json");
      const map = await readJson(mapPath);
      assert.equal(map.lock, false, `${mapPath}: the platform keeps no lockfile either`);
      for (const [name, target] of Object.entries(map.imports ?? {})) {
        if (name === "@shared/") {
          const resolved = new URL(target, `file://${mapPath}`).pathname;
          assert.equal(resolved, `${PROJECT_ROOT}/shared/`, `${mapPath}: @shared/`);
        } else {
          assert.equal(target, root.imports?.[name], `${mapPath}: ${name} differs from deno.json`);
          // An exact version, and at most a subpath of the package (`npm:zod@4.6.7/mini`).
          assert.match(
            target,
            /^npm:(@[^/]+\/)?[^@/]+@\d+\.\d+\.\d+(\/[\w.-]+)*$/,
            `${name}: exact npm pin`,
          );
        }
      }
      count++;
    }
  }
  assert.ok(count >= 3, `${count} functions`);
});

Deno.test("config.toml names each function's entrypoint and import map", async () => {
  const config = parseToml(
    await Deno.readTextFile(join(PROJECT_ROOT, "supabase", "config.toml")),
  ) as { functions: Record<string, { entrypoint?: string; import_map?: string }> };
  const fns = await discoverFunctions(join(PROJECT_ROOT, "supabase"));
  assert.deepEqual(Object.keys(config.functions).sort(), fns.map((f) => f.name).sort());
  for (const fn of fns) {
    // Relative to supabase/, as the CLI reads them (apps/cli-go/pkg/config/config.go).
    assert.equal(config.functions[fn.name].entrypoint, `./functions/${fn.name}/index.ts`);
    assert.equal(config.functions[fn.name].import_map, `./functions/${fn.name}/deno.json`);
  }
});

Deno.test("each function type-checks with its own import map alone, and not with a smaller one", async () => {
  const fns = await discoverFunctions(join(PROJECT_ROOT, "supabase"));
  const mapOf = (name: string) => join(PROJECT_ROOT, "supabase", "functions", name, "deno.json");
  for (const fn of fns) {
    const r = await checkWithOnly(mapOf(fn.name), fn.entry);
    assert.equal(r.code, 0, `${fn.name}:\n${r.stderr}`);
  }
  // Control: send-sms verifies user JWTs with jose, which twilio-webhook's map does not list.
  const sendSms = fns.find((f) => f.name === "send-sms");
  assert.ok(sendSms);
  const r = await checkWithOnly(mapOf("twilio-webhook"), sendSms.entry);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /"jose"/);
});
