/**
 * Each benchmark's quick form runs against the test stack, so none of them rots: it must finish,
 * pass its correctness checks (segment agreement 100%, no duplicates, every request answered)
 * and end with its `<name>: ratio <x> (target <y>)` line. Speed is not asserted here.
 */
import assert from "node:assert/strict";
import { join, PROJECT_ROOT } from "@local/paths.ts";
import { edgeDenoVersion } from "@local/edge-deno.ts";
import type { BenchResult } from "../bench/lib/report.ts";
import { cpuMeter } from "../bench/lib/procs.ts";

const stackJson = Deno.env.get("STACK_JSON") ?? join(PROJECT_ROOT, ".local", "stack.json");

async function quick(name: string): Promise<BenchResult> {
  const jsonPath = await Deno.makeTempFile({ prefix: `bench-${name}-`, suffix: ".json" });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `--config=${join(PROJECT_ROOT, "deno.json")}`,
        join(PROJECT_ROOT, "bench", "main.ts"),
        name,
        "--quick",
        `--stack=${stackJson}`,
        `--json=${jsonPath}`,
      ],
      cwd: PROJECT_ROOT,
      env: { DENO_NO_PACKAGE_JSON: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, `bench ${name} --quick failed:\n${stdout}\n${stderr}`);
    const last = stdout.trimEnd().split("\n").at(-1) ?? "";
    assert.match(last, new RegExp(`^${name}: ratio \\d+(\\.\\d+)? \\(target \\d+(\\.\\d+)?\\)$`));
    const result = JSON.parse(await Deno.readTextFile(jsonPath)) as BenchResult;
    assert.equal(result.name, name);
    assert.ok(result.quick);
    assert.ok(Number.isFinite(result.ratio), `a finite ratio: ${result.ratio}`);
    for (const check of result.checks) assert.ok(check.ok, `${check.name}: ${check.detail}`);
    return result;
  } finally {
    await Deno.remove(jsonPath).catch(() => {});
  }
}

Deno.test("bench segments --quick: 100% agreement with sms-segments-calculator", async () => {
  const r = await quick("segments");
  assert.equal(r.figures.agreementPercent, 100);
  assert.equal(r.figures.disagreements, 0);
});

Deno.test("bench claim --quick: both queues hand out every job once", async () => {
  const r = await quick("claim");
  const results = r.figures.results as { duplicates: number; jobs: number }[];
  // One round each: ours on process-retries's path, pg-boss finishing each job.
  assert.equal(results.length, 2);
  for (const x of results) assert.equal(x.duplicates, 0);
});

Deno.test("bench send-sms --quick: every request sent, once", async () => {
  const r = await quick("send-sms");
  assert.equal(r.figures.duplicates, 0);
  // The CPU split found the processes: Postgres's backends and the function did the sends' work.
  const cpu = r.figures.cpuMsPerRequest as { send: Record<string, number> };
  assert.ok(cpu.send.postgres > 0, `Postgres CPU per send: ${cpu.send.postgres}`);
  assert.ok(cpu.send.function > 0, `send-sms CPU per send: ${cpu.send.function}`);
  assert.ok(cpu.send.machine >= cpu.send.postgres, "the machine's busy time holds Postgres's");
});

Deno.test("bench cold-start --quick: every function answers from a fresh process", async () => {
  const r = await quick("cold-start");
  assert.equal((r.figures.rows as unknown[]).length, 5);
  assert.equal(r.figures.deno, edgeDenoVersion(), "on the edge runtime's Deno");
});

Deno.test({
  name: "bench drain --quick: process-retries drains every row once, within the pace",
  ignore: !existsSync(join(PROJECT_ROOT, "supabase", "functions", "process-retries", "index.ts")),
  async fn() {
    const r = await quick("drain");
    assert.equal(r.figures.duplicates, 0);
  },
});

Deno.test("bench edge-cpu --quick: one process-retries run's CPU, every row it claimed sent once", async () => {
  const r = await quick("edge-cpu");
  const answer = r.figures.answer as { sent: number; claimed: number };
  assert.ok(answer.sent > 0 && answer.sent === r.figures.created, JSON.stringify(r.figures));
  assert.ok((r.figures.runCpuMs as number) > 0, `CPU of the run: ${r.figures.runCpuMs}`);
});

Deno.test("bench campaign --quick: every eligible customer queued once, every other skipped", async () => {
  const r = await quick("campaign");
  const f = r.figures as {
    eligible: number;
    expectedEligible: number;
    queued: number;
    deferredLogs: number;
    customers: number;
    skips: Record<string, number>;
    planted: Record<string, number>;
  };
  assert.ok(f.eligible > 0);
  assert.equal(f.eligible, f.expectedEligible);
  assert.equal(f.queued, f.eligible);
  assert.equal(f.deferredLogs, f.eligible);
  assert.deepEqual(f.skips, f.planted);
  assert.equal(Object.values(f.skips).reduce((a, n) => a + n, 0), f.customers - f.eligible);
});

Deno.test("bench fairness --quick: the campaign and the single sends each sent once", async () => {
  const r = await quick("fairness");
  const f = r.figures as {
    rows: number;
    singles: number;
    campaignSent: number;
    singlesSent: number;
    duplicates: number;
    failed: number;
  };
  assert.equal(f.duplicates, 0);
  assert.equal(f.failed, 0);
  assert.equal(f.campaignSent, f.rows);
  assert.ok(f.singles >= 9, `single sends: ${f.singles}`);
  assert.equal(f.singlesSent, f.singles);
});

function existsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("cpuMeter: a process that exits during the measurement counts through its reaper", async () => {
  // About 250 ms of CPU in a shell loop; this process spawns the shell, so it is the reaper.
  const burn = () =>
    new Deno.Command("sh", {
      args: ["-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"],
    }).spawn();
  const measure = async (reaper: number | undefined) => {
    const child = burn();
    const meter = cpuMeter(() => ({ burn: { pids: [child.pid], reaper } }));
    await child.status;
    return meter.stop().burn;
  };
  const counted = await measure(Deno.pid);
  assert.ok(counted > 0.1, `the exited child's CPU counts: ${counted} s`);
  // Without its reaper the exited child's time is lost, as before groups had one.
  const lost = await measure(undefined);
  assert.ok(lost < counted / 2, `without a reaper: ${lost} s, with: ${counted} s`);
});
