/**
 * The frontend package `@sms-foundation/client` (packages/sms-client, issue 18): built from
 * shared/contract with the repository's pinned TypeScript, packed with npm, installed from the
 * tarball into a throwaway Node TypeScript project (`"type": "module"`, plain tsconfig, no
 * `allowImportingTsExtensions`), type-checked with `tsc --noEmit`, compiled and run with node.
 *
 * The consumer's sources are in tests/package/consumer/ (Node TypeScript, not Deno: excluded
 * from deno fmt/lint/check). npm installs with `--prefer-offline`, so a warm cache needs no
 * network; no stack is used.
 */
import assert from "node:assert/strict";
import { join, PROJECT_ROOT } from "@local/paths.ts";

const PACKAGE_DIR = join(PROJECT_ROOT, "packages", "sms-client");
const CONSUMER_DIR = join(PROJECT_ROOT, "tests", "package", "consumer");
const TSC = join(PROJECT_ROOT, "node_modules", ".bin", "tsc");
const CUSTOMER = "6f1c1a4e-2f40-4a53-9a5e-1b8d2c3f4a5b";

interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

// npm passes its configuration to scripts as npm_config_* variables; the nested npm commands
// must not inherit the outer `npm test`'s (prefix, workspace…).
const cleanEnv = Object.fromEntries(
  Object.entries(Deno.env.toObject()).filter(([k]) => !/^npm_/i.test(k) && k !== "INIT_CWD"),
);

async function run(cmd: string, args: string[], cwd: string): Promise<Output> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd,
    env: cleanEnv,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function mustRun(cmd: string, args: string[], cwd: string): Promise<Output> {
  const r = await run(cmd, args, cwd);
  assert.equal(r.code, 0, `${cmd} ${args.join(" ")} (in ${cwd}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

async function timed<T>(times: Record<string, number>, label: string, f: () => Promise<T>) {
  const t0 = performance.now();
  try {
    return await f();
  } finally {
    times[label] = Math.round(performance.now() - t0);
  }
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const path = join(dir, e.name);
    if (e.isDirectory) out.push(...await filesUnder(path));
    else out.push(path);
  }
  return out.sort();
}

const readJson = async <T>(path: string) => JSON.parse(await Deno.readTextFile(path)) as T;

/** `zod` → `zod`, `zod/mini` → `zod`, `@scope/name/sub` → `@scope/name`. */
const packageName = (specifier: string) =>
  specifier.split("/").slice(0, specifier.startsWith("@") ? 2 : 1).join("/");

interface PackageJson {
  name: string;
  dependencies?: Record<string, string>;
  exports?: Record<string, { types?: string; import?: string }>;
}

/**
 * What the built JavaScript imports: relative imports must have become `.js` files that exist;
 * bare ones must be dependencies of the package, pinned exactly as deno.json pins them for Deno.
 */
async function checkDist(pkg: PackageJson) {
  const denoJson = await readJson<{ imports: Record<string, string> }>(
    join(PROJECT_ROOT, "deno.json"),
  );
  // The version deno.json pins for the package itself or for a subpath of it (`zod/mini`).
  const denoPin = (name: string) => {
    const spec = Object.entries(denoJson.imports as Record<string, string>)
      .find(([key]) => key === name || key.startsWith(`${name}/`))?.[1];
    return spec?.startsWith(`npm:${name}@`)
      ? spec.slice(`npm:${name}@`.length).split("/")[0]
      : undefined;
  };
  for (const [name, version] of Object.entries(pkg.dependencies ?? {})) {
    assert.equal(version, denoPin(name), `${name}: the package must pin what deno.json pins`);
  }
  const dist = join(PACKAGE_DIR, "dist");
  const js = (await filesUnder(dist)).filter((f) => f.endsWith(".js"));
  assert.ok(js.includes(join(dist, "contract", "mod.js")), "dist/contract/mod.js");
  const bare = new Set<string>();
  for (const file of js) {
    const source = await Deno.readTextFile(file);
    const where = file.slice(PACKAGE_DIR.length + 1);
    assert.doesNotMatch(source, /\bDeno\./, `${where} reaches a Deno API`);
    for (const m of source.matchAll(/\b(?:from|import)\s*\(?\s*["']([^"']+)["']/g)) {
      const spec = m[1];
      if (spec.startsWith(".")) {
        assert.match(spec, /\.js$/, `${where}: ${spec} was not rewritten to .js`);
        const target = new URL(spec, `file://${file}`).pathname;
        assert.ok(await Deno.stat(target).catch(() => null), `${where}: ${spec} does not exist`);
      } else {
        bare.add(packageName(spec));
      }
    }
  }
  for (const name of bare) {
    assert.ok(
      pkg.dependencies?.[name],
      `dist imports ${name}: add it to ${PACKAGE_DIR}/package.json "dependencies", pinned as ` +
        `deno.json pins it (${denoJson.imports[name] ?? "not in deno.json"}), then npm install`,
    );
  }
}

/** `file(line,col): error TS…` lines of tsc's output for one file: line → codes. */
function errorLines(output: string, file: string): Map<number, string[]> {
  const lines = new Map<number, string[]>();
  for (const m of output.matchAll(/^(\S+)\((\d+),\d+\): error (TS\d+)/gm)) {
    if (!m[1].endsWith(file)) continue;
    lines.set(Number(m[2]), [...lines.get(Number(m[2])) ?? [], m[3]]);
  }
  return lines;
}

Deno.test("the frontend package builds from shared/contract and works in a plain Node TypeScript project", async () => {
  const times: Record<string, number> = {};
  const pkg = await readJson<PackageJson>(join(PACKAGE_DIR, "package.json"));
  assert.equal(pkg.exports?.["."]?.types, "./dist/contract/mod.d.ts");
  assert.equal(pkg.exports?.["."]?.import, "./dist/contract/mod.js");
  // One source of truth: the package holds no sources of its own.
  const own = (await filesUnder(PACKAGE_DIR)).filter((f) =>
    !f.includes("/dist/") && !f.includes("/node_modules/")
  );
  assert.deepEqual(own.filter((f) => /\.[cm]?[jt]sx?$/.test(f)), [], "sources in the package");

  const build = await timed(times, "build", () => run("npm", ["run", "build"], PACKAGE_DIR));
  if (build.code !== 0) {
    // A package the contract now imports that is not installed for the build (e.g. one added to
    // deno.json only): it belongs in the package's dependencies, which npm ci installs.
    const missing = [...build.stdout.matchAll(/Cannot find module '([^'.][^']*)'/g)].map((m) =>
      packageName(m[1])
    );
    assert.fail(
      `npm run build failed:\n${build.stdout}\n${build.stderr}` +
        (missing.length
          ? `\nadd ${[...new Set(missing)].join(", ")} to packages/sms-client/package.json ` +
            `"dependencies", pinned as deno.json pins it, then npm install`
          : ""),
    );
  }
  await checkDist(pkg);

  const tmp = await Deno.makeTempDir({ prefix: "sms-client-consumer-" });
  try {
    const packed = await timed(
      times,
      "pack",
      () =>
        mustRun(
          "npm",
          ["pack", "--ignore-scripts", "--json", "--pack-destination", tmp],
          PACKAGE_DIR,
        ),
    );
    const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    const shipped = info.files.map((f) => f.path);
    assert.ok(shipped.includes("dist/contract/mod.d.ts"), shipped.join(", "));
    assert.deepEqual(shipped.filter((p) => p !== "package.json" && !p.startsWith("dist/")), []);

    // The throwaway project: ES modules, the tarball, supabase-js as deno.json pins it.
    const app = join(tmp, "app");
    await Deno.mkdir(app);
    await Deno.writeTextFile(
      join(app, "package.json"),
      JSON.stringify({ name: "consumer", private: true, type: "module" }),
    );
    for (const f of ["contract-use.ts", "main.ts", "negative.ts"]) {
      await Deno.copyFile(join(CONSUMER_DIR, f), join(app, f));
    }
    const supabaseJs = (await readJson<{ imports: Record<string, string> }>(
      join(PROJECT_ROOT, "deno.json"),
    )).imports["@supabase/supabase-js"].replace(/^npm:/, "");
    await timed(times, "npm install", () =>
      mustRun("npm", [
        "install",
        "--prefer-offline",
        "--no-audit",
        "--no-fund",
        "--ignore-scripts",
        "--loglevel=error",
        join(tmp, info.filename),
        supabaseJs,
      ], app));

    const base = { target: "ES2022", lib: ["ES2022", "DOM"], strict: true, types: [] };
    const tsconfig = async (name: string, options: Record<string, unknown>, files: string[]) =>
      await Deno.writeTextFile(
        join(app, name),
        JSON.stringify({ compilerOptions: { ...base, ...options }, files }, null, 2),
      );
    // A plain Node project: nodenext, strict, every .d.ts checked (no skipLibCheck).
    await tsconfig("tsconfig.json", { module: "nodenext" }, ["contract-use.ts"]);
    // The negative check, same settings.
    await tsconfig("tsconfig.negative.json", { module: "nodenext" }, ["negative.ts"]);
    // A Next.js / Vite style app with supabase-js; skipLibCheck as their templates set it
    // (supabase-js's own .d.ts do not check against this TypeScript's DOM lib).
    await tsconfig("tsconfig.app.json", {
      module: "esnext",
      moduleResolution: "bundler",
      skipLibCheck: true,
      outDir: "build",
    }, ["main.ts"]);

    await timed(
      times,
      "tsc --noEmit",
      () => mustRun(TSC, ["--noEmit", "-p", "tsconfig.json"], app),
    );

    const negative = await timed(
      times,
      "tsc negative",
      () => run(TSC, ["--noEmit", "-p", "tsconfig.negative.json"], app),
    );
    const source = (await Deno.readTextFile(join(app, "negative.ts"))).split("\n");
    const expected = source.flatMap((l, i) => /\/\/ FAIL/.test(l) ? [i + 1] : []);
    const reported = errorLines(negative.stdout, "negative.ts");
    assert.notEqual(negative.code, 0, "the negative file type-checked");
    assert.deepEqual([...reported.keys()].sort((a, b) => a - b), expected, negative.stdout);
    assert.deepEqual(reported.get(expected[0]), ["TS2307"], "the deep import must be refused");

    await timed(times, "tsc app", () => mustRun(TSC, ["-p", "tsconfig.app.json"], app));
    // supabase-js 2.119 wants a global WebSocket (Node 22+); Node 20 has it behind a flag.
    const node = await mustRun("node", ["--version"], app);
    const major = Number(/^v(\d+)/.exec(node.stdout)?.[1]);
    const flags = major < 22 ? ["--experimental-websocket"] : [];
    const ran = await timed(times, "node", () => mustRun("node", [...flags, "build/main.js"], app));
    const out = JSON.parse(ran.stdout.trim().split("\n").at(-1)!);

    assert.deepEqual(out.counter, {
      hello: {
        characters: 5,
        segments: 1,
        encoding: "GSM-7",
        nonGsmCharacters: [],
        withinLimits: true,
      },
      gsm161: {
        characters: 161,
        segments: 2,
        encoding: "GSM-7",
        nonGsmCharacters: [],
        withinLimits: true,
      },
      ucs2: {
        characters: 6,
        segments: 1,
        encoding: "UCS-2",
        nonGsmCharacters: ["ë"],
        withinLimits: true,
      },
      viaContractUse: 1,
    });
    assert.deepEqual(out.schema, { trimmed: "Hi", empty: null, notString: null });

    // Refused before any request: 400 characters is 3 GSM-7 segments, over the limit of 2.
    assert.equal(out.tooLong.ok, false);
    assert.equal(out.tooLong.error.code, "message_too_long");
    assert.equal(out.tooLong.error.status, 422);
    assert.equal(out.tooLong.error.details.segments, 3);
    assert.equal(out.tooLong.error.details.encoding, "GSM-7");
    assert.equal(out.callsAfterTooLong, 0);

    assert.deepEqual(out.sent, {
      ok: true,
      data: {
        status: "sent",
        sendLogId: "11111111-1111-4111-8111-111111111111",
        providerMessageId: "SM0123456789abcdef0123456789abcdef",
        segments: 1,
        encoding: "GSM-7",
      },
    });
    assert.deepEqual(out.sentCall, {
      url: "http://127.0.0.1:9/functions/v1/send-sms",
      method: "POST",
      authorization: "Bearer anon-key",
      body: { customerId: CUSTOMER, body: "Thanks for visiting!" },
    });
    assert.equal(out.deferred, "deferred (quiet_hours) until 2026-01-02T13:00:00.000Z");
    assert.deepEqual(out.optedOut, {
      ok: false,
      error: { code: "opted_out", status: 409, message: "The customer opted out" },
    });
    assert.deepEqual(out.unreachable, {
      ok: false,
      error: { code: "internal", status: 0, message: "send-sms could not be reached" },
    });
    assert.equal(out.calls, 4);
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    console.log(
      `client package: ${Object.entries(times).map(([k, v]) => `${k} ${v} ms`).join(", ")}`,
    );
  }
});
